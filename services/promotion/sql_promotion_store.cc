#include "services/promotion/sql_promotion_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/idempotency.h"
#include "common/privacy.h"

namespace care::promotion {
namespace {

namespace v1 = ::care::promotion::v1;

// Rows of (seq, body): a newest-first page of stored messages.
template <typename T>
absl::StatusOr<SeqRows<T>> SeqBodies(absl::StatusOr<Statement> stmt, absl::string_view what) {
  return CollectParsed<std::pair<int64_t, T>>(std::move(stmt),
                                              [what](const Statement& st) -> absl::StatusOr<std::pair<int64_t, T>> {
                                                auto body = ParseStored<T>(st, 1, what);
                                                if (!body.ok()) return body.status();
                                                return std::make_pair(st.Int(0), std::move(*body));
                                              });
}

absl::StatusOr<v1::Campaign> ReadCampaign(const Statement& st) { return ParseStored<v1::Campaign>(st, 0, "campaign"); }

class SqlStoreTxn final : public SqlTxnBase<StoreTxn> {
 public:
  SqlStoreTxn(Txn& txn, const SubjectDigests& digests) : SqlTxnBase(txn), digests_(digests) {}

  absl::Status LockUsage(std::vector<std::string> campaign_ids) override {
    if (txn_.engine() != SqlEngine::kPostgres) return absl::OkStatus();  // one writer: nothing runs alongside
    // Before any query: the snapshot of a SERIALIZABLE transaction predates
    // a lock it waits for, so the waiters of a hot row would all fail when
    // its holder commits. At READ COMMITTED each statement reads after the
    // locks it waited for.
    if (absl::Status s = txn_.ExecScript("SET TRANSACTION ISOLATION LEVEL READ COMMITTED"); !s.ok()) return s;
    locking_ = true;
    std::sort(campaign_ids.begin(), campaign_ids.end());  // one order: no deadlock between two redemptions
    campaign_ids.erase(std::unique(campaign_ids.begin(), campaign_ids.end()), campaign_ids.end());
    for (const std::string& id : campaign_ids) {
      // The upsert locks the row, creating it for a campaign's first use.
      absl::Status s = Run(
          txn_.Query("INSERT INTO campaign_usage (campaign_id) VALUES (?1) "
                     "ON CONFLICT (campaign_id) DO UPDATE SET redemptions = campaign_usage.redemptions",
                     id));
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<v1::Campaign>> Campaign(const std::string& id) override {
    return FirstRow<v1::Campaign>(txn_.Query("SELECT body FROM campaigns WHERE campaign_id = ?1", id), ReadCampaign);
  }

  absl::StatusOr<std::optional<v1::Campaign>> CampaignVersion(const std::string& id, int64_t version) override {
    return FirstRow<v1::Campaign>(
        txn_.Query("SELECT body FROM campaign_versions WHERE campaign_id = ?1 AND version = ?2", id, version),
        ReadCampaign);
  }

  absl::Status SaveCampaign(const CampaignChange& change) override {
    const v1::Campaign& c = change.campaign;
    const std::string body = c.SerializeAsString();
    auto stamp = FirstRow<int64_t>(
        txn_.Query("UPDATE campaign_change_seq SET seq = campaign_change_seq.seq + 1 WHERE id = 1 RETURNING seq"),
        [](const Statement& st) -> absl::StatusOr<int64_t> { return st.Int(0); });
    if (!stamp.ok()) return stamp.status();
    if (!stamp->has_value()) return absl::InternalError("campaign_change_seq has no row");
    absl::Status s = Run(
        txn_.Query("INSERT INTO campaigns (campaign_id, version, state, body, change_seq) VALUES (?1, ?2, ?3, ?4, ?5) "
                   "ON CONFLICT (campaign_id) DO UPDATE SET version = ?2, state = ?3, body = ?4, change_seq = ?5",
                   c.campaign_id(), c.version(), static_cast<int64_t>(c.state()), Blob{body}, **stamp));
    if (!s.ok()) return s;
    return Run(
        txn_.Query("INSERT INTO campaign_versions (campaign_id, version, change, body, changed_fields) VALUES (?1, ?2, "
                   "?3, ?4, ?5)",
                   c.campaign_id(), c.version(), static_cast<int64_t>(change.change), Blob{body},
                   absl::StrJoin(change.changed_fields, ",")));
  }

  absl::StatusOr<int64_t> ChangeSeq() override {
    auto seq = FirstRow<int64_t>(txn_.Query("SELECT seq FROM campaign_change_seq WHERE id = 1"),
                                 [](const Statement& st) -> absl::StatusOr<int64_t> { return st.Int(0); });
    if (!seq.ok()) return seq.status();
    return seq->value_or(0);
  }

  absl::StatusOr<std::vector<v1::Campaign>> ChangedAfter(int64_t after_seq) override {
    return CollectParsed<v1::Campaign>(
        txn_.Query("SELECT body FROM campaigns WHERE change_seq > ?1 ORDER BY change_seq", after_seq), ReadCampaign);
  }

  absl::StatusOr<std::vector<v1::Campaign>> LiveCampaigns() override {
    return CollectParsed<v1::Campaign>(txn_.Query("SELECT body FROM campaigns WHERE state IN (?1, ?2)",
                                                  static_cast<int64_t>(v1::CAMPAIGN_STATE_ANNOUNCED),
                                                  static_cast<int64_t>(v1::CAMPAIGN_STATE_ACTIVE)),
                                       ReadCampaign);
  }

  absl::StatusOr<SeqRows<v1::Campaign>> CampaignsBefore(int64_t before_seq, int limit) override {
    return SeqBodies<v1::Campaign>(
        txn_.Query("SELECT seq, body FROM campaigns WHERE (?1 = 0 OR seq < ?1) ORDER BY seq DESC LIMIT ?2", before_seq,
                   static_cast<int64_t>(limit)),
        "campaign");
  }

  // A cursor by version is safe on both engines: a campaign's versions are
  // numbered in the transaction that updates its `campaigns` row, so they
  // commit one after another, in order (a concurrent edit loses and re-runs).
  absl::StatusOr<std::vector<v1::CampaignVersion>> Versions(const std::string& id, int64_t after_version,
                                                            int limit) override {
    return CollectParsed<v1::CampaignVersion>(
        txn_.Query("SELECT change, body, changed_fields FROM campaign_versions WHERE campaign_id = ?1 AND version > ?2 "
                   "ORDER BY version LIMIT ?3",
                   id, after_version, static_cast<int64_t>(limit)),
        [](const Statement& st) -> absl::StatusOr<v1::CampaignVersion> {
          auto campaign = ParseStored<v1::Campaign>(st, 1, "campaign version");
          if (!campaign.ok()) return campaign.status();
          v1::CampaignVersion v;
          v.set_change(static_cast<v1::CampaignChange>(st.Int(0)));
          *v.mutable_campaign() = std::move(*campaign);
          v.set_version(v.campaign().version());
          for (absl::string_view path : absl::StrSplit(st.Text(2), ',', absl::SkipEmpty())) {
            v.mutable_changed_fields()->add_paths(std::string(path));
          }
          return v;
        });
  }

  absl::StatusOr<std::optional<StoredRedemption>> Redemption(const std::string& order_id) override {
    return FirstRow<StoredRedemption>(txn_.Query(locking_ ? "SELECT body, token_digest FROM redemptions WHERE "
                                                            "order_id = ?1 FOR UPDATE"
                                                          : "SELECT body, token_digest FROM redemptions WHERE "
                                                            "order_id = ?1",
                                                 order_id),
                                      [](const Statement& st) -> absl::StatusOr<StoredRedemption> {
                                        auto r = ParseStored<v1::Redemption>(st, 0, "redemption");
                                        if (!r.ok()) return r.status();
                                        return StoredRedemption{std::move(*r), st.Text(1)};
                                      });
  }

  absl::StatusOr<std::optional<std::string>> OrderOfToken(const std::string& token_digest) override {
    return FirstRow<std::string>(txn_.Query("SELECT order_id FROM redemptions WHERE token_digest = ?1 LIMIT 1",
                                            token_digest),
                                 [](const Statement& st) -> absl::StatusOr<std::string> { return st.Text(0); });
  }

  absl::StatusOr<bool> InsertRedemption(const v1::Redemption& r, const std::string& token_digest) override {
    auto n = txn_.Exec(
        "INSERT INTO redemptions (order_id, token_digest, state, body, member_id) VALUES (?1, ?2, ?3, ?4, ?5) "
        "ON CONFLICT DO NOTHING",
        r.order_id(), token_digest, static_cast<int64_t>(r.state()), Blob{r.SerializeAsString()},
        r.customer().member_id());
    if (!n.ok()) return n.status();
    return *n > 0;
  }

  absl::Status SaveRedemption(const v1::Redemption& r, const std::string& token_digest) override {
    return Run(
        txn_.Query("INSERT INTO redemptions (order_id, token_digest, state, body, member_id) VALUES (?1, ?2, ?3, ?4, "
                   "?5) ON CONFLICT (order_id) DO UPDATE SET state = ?3, body = ?4, member_id = ?5",
                   r.order_id(), token_digest, static_cast<int64_t>(r.state()), Blob{r.SerializeAsString()},
                   r.customer().member_id()));
  }

  absl::StatusOr<SeqRows<v1::Redemption>> RedemptionsBefore(int64_t before_seq, int limit) override {
    return SeqBodies<v1::Redemption>(
        txn_.Query("SELECT seq, body FROM redemptions WHERE (?1 = 0 OR seq < ?1) ORDER BY seq DESC LIMIT ?2",
                   before_seq, static_cast<int64_t>(limit)),
        "redemption");
  }

  absl::StatusOr<CampaignUsage> Usage(const std::string& campaign_id) override {
    CampaignUsage u;
    auto stmt = txn_.Query(
        "SELECT redemptions, discount, cancelled, returned, points FROM campaign_usage WHERE campaign_id = ?1",
        campaign_id);
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (*row) {
      u.redemptions = stmt->Int(0);
      u.discount = stmt->Int(1);
      u.cancelled = stmt->Int(2);
      u.returned = stmt->Int(3);
      u.points = stmt->Int(4);
    }
    auto n = txn_.Query("SELECT COUNT(*) FROM customer_usage WHERE campaign_id = ?1 AND redemptions > 0", campaign_id);
    if (!n.ok()) return n.status();
    auto counted = n->Step();
    if (!counted.ok()) return counted.status();
    if (*counted) u.customers = n->Int(0);
    return u;
  }

  absl::StatusOr<int64_t> CustomerCount(const std::string& campaign_id, const std::string& customer) override {
    auto stmt = txn_.Query("SELECT redemptions FROM customer_usage WHERE campaign_id = ?1 AND customer_key = ?2",
                           campaign_id, customer);
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    return *row ? stmt->Int(0) : 0;
  }

  absl::StatusOr<CampaignUsage> UsageReport(const std::string& campaign_id) override {
    auto u = Usage(campaign_id);
    if (!u.ok()) return u.status();
    if (absl::Status s = ReadBreakdowns(campaign_id, *u); !s.ok()) return s;
    if (absl::Status s = ReadVoucherUses(campaign_id, *u); !s.ok()) return s;
    return u;
  }

  // Counters change by increments inside the redemption transaction (exact
  // under SQLite's single writer and PostgreSQL's usage locks). The SET
  // expressions name the table: PostgreSQL finds a bare column ambiguous.
  absl::Status AddUsage(const UsageOf& of, int64_t redemptions, int64_t discount, int64_t cancelled,
                        int64_t returned) override {
    absl::Status s = Run(
        txn_.Query("INSERT INTO campaign_usage_by (campaign_id, tier_id, campaign_version, redemptions, discount) "
                   "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (campaign_id, tier_id, campaign_version) "
                   "DO UPDATE SET redemptions = campaign_usage_by.redemptions + ?4, "
                   "discount = campaign_usage_by.discount + ?5",
                   of.campaign_id, of.tier_id, of.version, redemptions, discount));
    if (!s.ok()) return s;
    s = Run(
        txn_.Query("INSERT INTO campaign_usage (campaign_id, redemptions, discount, cancelled, returned) "
                   "VALUES (?1, ?2, ?3, ?4, ?5) "
                   "ON CONFLICT (campaign_id) DO UPDATE SET redemptions = campaign_usage.redemptions + ?2, "
                   "discount = campaign_usage.discount + ?3, cancelled = campaign_usage.cancelled + ?4, "
                   "returned = campaign_usage.returned + ?5",
                   of.campaign_id, redemptions, discount, cancelled, returned));
    if (!s.ok() || of.customer.empty() || redemptions == 0) return s;
    s = Run(txn_.Query(
        "INSERT INTO customer_usage (campaign_id, customer_key, redemptions) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (campaign_id, customer_key) DO UPDATE SET redemptions = customer_usage.redemptions + ?3",
        of.campaign_id, of.customer, redemptions));
    if (!s.ok()) return s;
    return Run(
        txn_.Query("DELETE FROM customer_usage WHERE campaign_id = ?1 AND customer_key = ?2 AND redemptions <= 0",
                   of.campaign_id, of.customer));
  }

  absl::Status AddPoints(const std::string& campaign_id, int64_t points) override {
    return Run(
        txn_.Query("INSERT INTO campaign_usage (campaign_id, points) VALUES (?1, ?2) "
                   "ON CONFLICT (campaign_id) DO UPDATE SET points = campaign_usage.points + ?2",
                   campaign_id, points));
  }

  absl::StatusOr<std::optional<v1::Voucher>> Voucher(const std::string& code) override {
    return FirstRow<v1::Voucher>(txn_.Query(locking_ ? "SELECT body FROM vouchers WHERE code = ?1 FOR UPDATE"
                                                     : "SELECT body FROM vouchers WHERE code = ?1",
                                            code),
                                 [](const Statement& st) { return ParseStored<v1::Voucher>(st, 0, "voucher"); });
  }

  absl::StatusOr<bool> InsertVoucher(const v1::Voucher& v) override {
    auto n = txn_.Exec(
        "INSERT INTO vouchers (code, kind, campaign_id, member_id, batch_id, body) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (code) DO NOTHING",
        v.code(), static_cast<int64_t>(v.kind()), v.campaign_id(), v.member_id(), v.batch_id(),
        Blob{v.SerializeAsString()});
    if (!n.ok()) return n.status();
    return *n > 0;
  }

  absl::Status UpdateVoucher(const v1::Voucher& v) override {
    return Run(txn_.Query("UPDATE vouchers SET body = ?2, member_id = ?3 WHERE code = ?1", v.code(),
                          Blob{v.SerializeAsString()}, v.member_id()));
  }

  absl::StatusOr<SeqRows<v1::Voucher>> VouchersBefore(const VoucherFilter& f, int64_t before_seq, int limit) override {
    return SeqBodies<v1::Voucher>(
        txn_.Query("SELECT seq, body FROM vouchers WHERE (?1 = '' OR campaign_id = ?1) AND (?2 = '' OR batch_id = ?2) "
                   "AND (?3 = '' OR member_id = ?3) AND (?4 = 0 OR kind = ?4) AND (?5 = 0 OR seq < ?5) "
                   "ORDER BY seq DESC LIMIT ?6",
                   f.campaign_id, f.batch_id, f.member_id, static_cast<int64_t>(f.kind), before_seq,
                   static_cast<int64_t>(limit)),
        "voucher");
  }

  absl::StatusOr<SeqRows<v1::Redemption>> MemberRedemptionsBefore(const std::string& member_id, int64_t before_seq,
                                                                  int limit) override {
    return SeqBodies<v1::Redemption>(
        // Two index range scans merged (an OR would make SQLite walk the
        // whole table in seq order).
        txn_.Query("SELECT seq, body FROM redemptions WHERE member_id = ?1 AND (?2 = 0 OR seq < ?2) "
                   "UNION ALL SELECT seq, body FROM redemptions WHERE member_id IS NULL AND (?2 = 0 OR seq < ?2) "
                   "ORDER BY 1 DESC LIMIT ?3",
                   member_id, before_seq, static_cast<int64_t>(limit)),
        "redemption");
  }

  absl::Status RewriteRedemption(const v1::Redemption& r) override {
    return Run(txn_.Query("UPDATE redemptions SET body = ?2, member_id = ?3 WHERE order_id = ?1", r.order_id(),
                          Blob{r.SerializeAsString()}, r.customer().member_id()));
  }

  absl::StatusOr<int64_t> RekeyCustomer(const std::string& from, const std::string& to) override {
    return txn_.Exec("UPDATE customer_usage SET customer_key = ?2 WHERE customer_key = ?1", from, to);
  }

  absl::StatusOr<int64_t> ForgetAnswers(const std::string& subject) override {
    return txn_.Exec("DELETE FROM idempotency_records WHERE subject = ?1", subject);
  }

  absl::StatusOr<bool> Erased(const std::vector<std::string>& keys) override {
    return care::IsErased(txn_, digests_, keys);
  }

  absl::Status EraseCommon(const std::vector<std::string>& keys, absl::Time now,
                           care::common::v1::ErasureReceipt& receipt) override {
    return care::EraseCommonRecords(txn_, digests_, keys, now, receipt);
  }

 private:
  const SubjectDigests& digests_;  // tombstones (common/privacy.h)
  // The report's breakdowns by tier and by version, largest discount first.
  absl::Status ReadBreakdowns(const std::string& campaign_id, CampaignUsage& u) {
    for (bool by_tier : {true, false}) {
      const std::string key = by_tier ? "tier_id" : "campaign_version";
      auto parts = CollectParsed<CampaignUsage::Part>(
          txn_.Query(absl::StrCat("SELECT ", key,
                                  ", SUM(redemptions), SUM(discount) FROM campaign_usage_by "
                                  "WHERE campaign_id = ?1 GROUP BY ",
                                  key, " ORDER BY 3 DESC, 1"),
                     campaign_id),
          [by_tier](const Statement& st) -> absl::StatusOr<CampaignUsage::Part> {
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

  // Uses live in the voucher bodies (changed only in the redemption
  // transaction), so they are summed from there: exact, and a report is not
  // on the checkout path.
  absl::Status ReadVoucherUses(const std::string& campaign_id, CampaignUsage& u) {
    auto vouchers = CollectParsed<v1::Voucher>(
        txn_.Query("SELECT body FROM vouchers WHERE campaign_id = ?1 AND kind = ?2", campaign_id,
                   static_cast<int64_t>(v1::VOUCHER_KIND_CAMPAIGN)),
        [](const Statement& st) { return ParseStored<v1::Voucher>(st, 0, "voucher"); });
    if (!vouchers.ok()) return vouchers.status();
    for (const v1::Voucher& v : *vouchers) {
      ++u.vouchers_generated;
      u.voucher_uses += v.uses();
    }
    return absl::OkStatus();
  }

  // Set by LockUsage on PostgreSQL: rows read to be written are locked.
  bool locking_ = false;
};

}  // namespace

std::unique_ptr<PromotionStore> NewSqlPromotionStore(Database& db, const SubjectDigests& digests) {
  return std::make_unique<SqlStoreOf<StoreTxn, SqlStoreTxn, const SubjectDigests&>>(db, digests);
}

}  // namespace care::promotion
