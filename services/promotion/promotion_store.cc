#include "services/promotion/promotion_store.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"
#include "common/idempotency.h"

namespace care::promotion {
namespace {

namespace v1 = ::care::promotion::v1;

absl::StatusOr<std::optional<v1::Campaign>> Load(Txn& txn, const std::string& id, int64_t version) {
  auto stmt = version == 0
                  ? txn.Query("SELECT body FROM campaigns WHERE campaign_id = ?1", id)
                  : txn.Query("SELECT body FROM campaign_versions WHERE campaign_id = ?1 AND version = ?2", id, version);
  if (!stmt.ok()) return stmt.status();
  auto row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<v1::Campaign>();
  v1::Campaign c;
  if (!c.ParseFromString(stmt->Bytes(0))) return absl::DataLossError("campaign body unreadable");
  return std::optional<v1::Campaign>(std::move(c));
}

class SqliteRedemptionTxn final : public SqliteTxnBase<RedemptionTxn> {
 public:
  using SqliteTxnBase::SqliteTxnBase;

  absl::StatusOr<std::optional<v1::Voucher>> GetVoucher(const std::string& code) override {
    auto stmt = txn_.Query("SELECT body FROM vouchers WHERE code = ?1", code);
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::optional<v1::Voucher>();
    v1::Voucher v;
    if (!v.ParseFromString(stmt->Bytes(0))) return absl::DataLossError("voucher body unreadable");
    return std::optional<v1::Voucher>(std::move(v));
  }
  absl::StatusOr<bool> InsertVoucher(const v1::Voucher& v) override {
    auto n = txn_.Exec(
        "INSERT OR IGNORE INTO vouchers (code, kind, campaign_id, member_id, batch_id, body) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        v.code(), static_cast<int64_t>(v.kind()), v.campaign_id(), v.member_id(), v.batch_id(),
        Blob{v.SerializeAsString()});
    if (!n.ok()) return n.status();
    return *n > 0;
  }
  absl::StatusOr<std::vector<std::pair<int64_t, v1::Voucher>>> ListVouchers(const v1::ListVouchersRequest& f,
                                                                          int64_t before_seq, int limit) override {
    return Rows<v1::Voucher>(txn_.Query(
        "SELECT rowid, body FROM vouchers WHERE (?1 = '' OR campaign_id = ?1) AND (?2 = '' OR batch_id = ?2) "
        "AND (?3 = '' OR member_id = ?3) AND (?4 = 0 OR kind = ?4) AND (?5 = 0 OR rowid < ?5) "
        "ORDER BY rowid DESC LIMIT ?6",
        f.campaign_id(), f.batch_id(), f.member_id(), static_cast<int64_t>(f.kind()), before_seq,
        static_cast<int64_t>(limit)));
  }
  absl::StatusOr<std::vector<std::pair<int64_t, v1::Campaign>>> CampaignsBefore(int64_t before_seq,
                                                                             int limit) override {
    return Rows<v1::Campaign>(txn_.Query(
        "SELECT rowid, body FROM campaigns WHERE (?1 = 0 OR rowid < ?1) ORDER BY rowid DESC LIMIT ?2", before_seq,
        static_cast<int64_t>(limit)));
  }
  absl::StatusOr<std::vector<std::pair<int64_t, v1::Redemption>>> RedemptionsBefore(int64_t before_seq,
                                                                                 int limit) override {
    return Rows<v1::Redemption>(txn_.Query(
        "SELECT rowid, body FROM redemptions WHERE (?1 = 0 OR rowid < ?1) ORDER BY rowid DESC LIMIT ?2", before_seq,
        static_cast<int64_t>(limit)));
  }
  absl::StatusOr<std::vector<v1::CampaignVersion>> Versions(const std::string& id, int64_t after_version,
                                                            int limit) override {
    return Collect<v1::CampaignVersion>(
        txn_.Query("SELECT change, body, changed_fields FROM campaign_versions WHERE campaign_id = ?1 AND version > ?2 "
                   "ORDER BY version LIMIT ?3",
                   id, after_version, static_cast<int64_t>(limit)),
        [](const Statement& st) {
          v1::CampaignVersion v;
          v.set_change(static_cast<v1::CampaignChange>(st.Int(0)));
          v.mutable_campaign()->ParseFromString(st.Bytes(1));
          v.set_version(v.campaign().version());
          for (absl::string_view path : absl::StrSplit(st.Text(2), ',', absl::SkipEmpty())) {
            v.mutable_changed_fields()->add_paths(std::string(path));
          }
          return v;
        });
  }
  template <typename T>
  static absl::StatusOr<std::vector<std::pair<int64_t, T>>> Rows(absl::StatusOr<Statement> stmt) {
    return Collect<std::pair<int64_t, T>>(std::move(stmt), [](const Statement& st) {
      T item;
      item.ParseFromString(st.Bytes(1));
      return std::make_pair(st.Int(0), std::move(item));
    });
  }
  absl::Status UpdateVoucher(const v1::Voucher& v) override {
    return Run(txn_.Query("UPDATE vouchers SET body = ?2 WHERE code = ?1", v.code(), Blob{v.SerializeAsString()}));
  }

  absl::StatusOr<std::optional<std::pair<v1::Redemption, std::string>>> Find(const std::string& order_id) override {
    auto stmt = txn_.Query("SELECT body, token_digest FROM redemptions WHERE order_id = ?1", order_id);
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::optional<std::pair<v1::Redemption, std::string>>();
    v1::Redemption r;
    if (!r.ParseFromString(stmt->Bytes(0))) return absl::DataLossError("redemption body unreadable");
    return std::optional<std::pair<v1::Redemption, std::string>>(std::make_pair(std::move(r), stmt->Text(1)));
  }
  absl::StatusOr<std::optional<std::string>> OrderOfToken(const std::string& token_digest) override {
    auto stmt = txn_.Query("SELECT order_id FROM redemptions WHERE token_digest = ?1 LIMIT 1", token_digest);
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::optional<std::string>();
    return std::optional<std::string>(stmt->Text(0));
  }
  absl::StatusOr<std::optional<v1::Campaign>> Campaign(const std::string& id) override { return Load(txn_, id, 0); }
  absl::StatusOr<CampaignUsage> Usage(const std::string& campaign_id) override { return ReadUsage(txn_, campaign_id); }
  absl::StatusOr<int64_t> CustomerCount(const std::string& campaign_id, const std::string& customer) override {
    auto stmt = txn_.Query("SELECT redemptions FROM customer_usage WHERE campaign_id = ?1 AND customer_key = ?2",
                           campaign_id, customer);
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    return *row ? stmt->Int(0) : 0;
  }
  absl::Status AddUsage(const UsageOf& of, int64_t redemptions, int64_t discount, int64_t cancelled,
                        int64_t returned) override {
    const std::string& campaign_id = of.campaign_id;
    const std::string& customer = of.customer;
    absl::Status s = Run(txn_.Query(
        "INSERT INTO campaign_usage_by (campaign_id, tier_id, campaign_version, redemptions, discount) "
        "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (campaign_id, tier_id, campaign_version) "
        "DO UPDATE SET redemptions = redemptions + ?4, discount = discount + ?5",
        campaign_id, of.tier_id, of.version, redemptions, discount));
    if (!s.ok()) return s;
    s = Run(txn_.Query(
        "INSERT INTO campaign_usage (campaign_id, redemptions, discount, cancelled, returned) "
        "VALUES (?1, ?2, ?3, ?4, ?5) "
        "ON CONFLICT (campaign_id) DO UPDATE SET redemptions = redemptions + ?2, discount = discount + ?3, "
        "cancelled = cancelled + ?4, returned = returned + ?5",
        campaign_id, redemptions, discount, cancelled, returned));
    if (!s.ok() || customer.empty() || redemptions == 0) return s;
    s = Run(txn_.Query(
        "INSERT INTO customer_usage (campaign_id, customer_key, redemptions) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (campaign_id, customer_key) DO UPDATE SET redemptions = redemptions + ?3",
        campaign_id, customer, redemptions));
    if (!s.ok()) return s;
    return Run(txn_.Query("DELETE FROM customer_usage WHERE campaign_id = ?1 AND customer_key = ?2 AND redemptions <= 0",
                          campaign_id, customer));
  }
  absl::Status Save(const v1::Redemption& r, const std::string& token_digest) override {
    std::string body = r.SerializeAsString();
    return Run(txn_.Query(
        "INSERT INTO redemptions (order_id, token_digest, state, body) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (order_id) DO UPDATE SET state = ?3, body = ?4",
        r.order_id(), token_digest, static_cast<int64_t>(r.state()), Blob{body}));
  }

  static absl::StatusOr<CampaignUsage> ReadUsage(Txn& txn, const std::string& campaign_id) {
    CampaignUsage u;
    auto stmt = txn.Query("SELECT redemptions, discount, cancelled, returned FROM campaign_usage WHERE campaign_id = ?1",
                          campaign_id);
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (*row) {
      u.redemptions = stmt->Int(0);
      u.discount = stmt->Int(1);
      u.cancelled = stmt->Int(2);
      u.returned = stmt->Int(3);
    }
    auto n = txn.Query("SELECT COUNT(*) FROM customer_usage WHERE campaign_id = ?1 AND redemptions > 0", campaign_id);
    if (!n.ok()) return n.status();
    auto r2 = n->Step();
    if (!r2.ok()) return r2.status();
    if (*r2) u.customers = n->Int(0);
    return u;
  }

  // The campaign's vouchers and their uses. Uses live in the voucher bodies
  // (changed only in the redemption transaction), so they are summed from
  // there: exact, and a report is not on the checkout path.
  static absl::Status ReadVoucherUses(Txn& txn, const std::string& campaign_id, CampaignUsage& u) {
    auto stmt = txn.Query("SELECT body FROM vouchers WHERE campaign_id = ?1 AND kind = ?2", campaign_id,
                          static_cast<int64_t>(v1::VOUCHER_KIND_CAMPAIGN));
    if (!stmt.ok()) return stmt.status();
    v1::Voucher v;
    for (;;) {
      auto row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      if (!v.ParseFromString(stmt->Bytes(0))) return absl::DataLossError("voucher body unreadable");
      ++u.vouchers_generated;
      u.voucher_uses += v.uses();
    }
    return absl::OkStatus();
  }

  // The report's breakdowns, largest discount first.
  static absl::Status ReadBreakdowns(Txn& txn, const std::string& campaign_id, CampaignUsage& u) {
    for (bool by_tier : {true, false}) {
      const std::string key = by_tier ? "tier_id" : "campaign_version";
      auto parts = Collect<CampaignUsage::Part>(
          txn.Query(absl::StrCat("SELECT ", key, ", SUM(redemptions), SUM(discount) FROM campaign_usage_by "
                                 "WHERE campaign_id = ?1 GROUP BY ", key, " ORDER BY 3 DESC, 1"),
                    campaign_id),
          [by_tier](const Statement& st) {
            CampaignUsage::Part p;
            if (by_tier) {
              p.tier_id = st.Text(0);
            } else {
              p.version = st.Int(0);
            }
            p.redemptions = st.Int(1);
            p.discount = st.Int(2);
            return p;
          });
      if (!parts.ok()) return parts.status();
      (by_tier ? u.by_tier : u.by_version) = std::move(*parts);
    }
    return absl::OkStatus();
  }

};

class SqliteStore final : public PromotionStore {
 public:
  explicit SqliteStore(Database& db) : db_(db) {}

  absl::StatusOr<v1::Campaign> MutateCampaign(const std::string& method, const std::string& request_id,
                                              const google::protobuf::Message& request,
                                              const std::string& campaign_id, const Mutation& fn,
                                              bool* replayed) override {
    v1::Campaign out;
    *replayed = false;
    // Read on the caller's thread: the transaction runs on the writer's.
    const std::string owner = CallerIdentity::Current();
    const IdempotencyKey key{owner, method, request_id};
    absl::Status s = db_.Write([&](Txn& txn) -> absl::Status {
      if (!request_id.empty()) {
        auto seen = Replay(txn, key, request, &out);
        if (!seen.ok()) return seen.status();
        if (*seen) {
          *replayed = true;
          return absl::OkStatus();
        }
      }
      auto current = Load(txn, campaign_id, 0);
      if (!current.ok()) return current.status();
      auto change = fn(current->has_value() ? &**current : nullptr);
      if (!change.ok()) return change.status();
      const v1::Campaign& c = change->campaign;
      std::string body = c.SerializeAsString();
      absl::Status st = Run(txn.Query(
          "INSERT INTO campaigns (campaign_id, version, state, body) VALUES (?1, ?2, ?3, ?4) "
          "ON CONFLICT (campaign_id) DO UPDATE SET version = ?2, state = ?3, body = ?4",
          c.campaign_id(), c.version(), static_cast<int64_t>(c.state()), Blob{body}));
      if (!st.ok()) return st;
      st = Run(txn.Query(
          "INSERT INTO campaign_versions (campaign_id, version, change, body, changed_fields) "
          "VALUES (?1, ?2, ?3, ?4, ?5)",
          c.campaign_id(), c.version(), static_cast<int64_t>(change->change), Blob{body},
          absl::StrJoin(change->changed_fields, ",")));
      if (!st.ok()) return st;
      for (const OutboxEvent& e : change->events) {
        st = EnqueueOutbox(txn, e);
        if (!st.ok()) return st;
      }
      out = c;
      return request_id.empty() ? absl::OkStatus() : Remember(txn, key, request, out);
    });
    if (!s.ok()) return s;
    return out;
  }

  absl::StatusOr<v1::Campaign> GetCampaign(const std::string& campaign_id, int64_t version) override {
    std::optional<v1::Campaign> found;
    absl::Status s = db_.Read([&](Txn& txn) -> absl::Status {
      auto c = Load(txn, campaign_id, version);
      if (!c.ok()) return c.status();
      found = std::move(*c);
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    if (!found) {
      if (version != 0) {
        return NotFound("CAMPAIGN_VERSION_NOT_FOUND", "no such version of the campaign");
      }
      return NotFound("CAMPAIGN_NOT_FOUND", "no such campaign");
    }
    return *found;
  }

  absl::StatusOr<std::vector<v1::Campaign>> LiveCampaigns() override {
    std::vector<v1::Campaign> out;
    absl::Status s = db_.Read([&](Txn& txn) -> absl::Status {
      auto rows = Collect<v1::Campaign>(
          txn.Query("SELECT body FROM campaigns WHERE state IN (?1, ?2)",
                    static_cast<int64_t>(v1::CAMPAIGN_STATE_ANNOUNCED), static_cast<int64_t>(v1::CAMPAIGN_STATE_ACTIVE)),
          [](const Statement& st) {
            v1::Campaign c;
            c.ParseFromString(st.Bytes(0));
            return c;
          });
      if (!rows.ok()) return rows.status();
      out = std::move(*rows);
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return out;
  }

 absl::Status InRedemptionTxn(const std::function<absl::Status(RedemptionTxn&)>& fn) override {
    return db_.Write([&](Txn& txn) {
      SqliteRedemptionTxn view(txn);
      return fn(view);
    });
  }

  absl::Status Write(const std::function<absl::Status(RedemptionTxn&)>& fn) override { return InRedemptionTxn(fn); }
  absl::Status Read(const std::function<absl::Status(RedemptionTxn&)>& fn) override { return InReadTxn(fn); }

  absl::Status InReadTxn(const std::function<absl::Status(RedemptionTxn&)>& fn) override {
    return db_.Read([&](Txn& txn) {
      SqliteRedemptionTxn view(txn);
      return fn(view);
    });
  }

  absl::StatusOr<CampaignUsage> GetUsage(const std::string& campaign_id) override {
    CampaignUsage u;
    absl::Status s = db_.Read([&](Txn& txn) -> absl::Status {
      auto r = SqliteRedemptionTxn::ReadUsage(txn, campaign_id);
      if (!r.ok()) return r.status();
      u = *r;
      if (absl::Status b = SqliteRedemptionTxn::ReadBreakdowns(txn, campaign_id, u); !b.ok()) return b;
      return SqliteRedemptionTxn::ReadVoucherUses(txn, campaign_id, u);
    });
    if (!s.ok()) return s;
    return u;
  }

 private:
  Database& db_;
};

}  // namespace

std::unique_ptr<PromotionStore> NewSqlitePromotionStore(Database& db) { return std::make_unique<SqliteStore>(db); }

}  // namespace care::promotion
