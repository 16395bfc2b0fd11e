#include "services/loyalty/loyalty_grpc.h"

#include "common/metrics.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "common/auth.h"
#include "common/bounds.h"
#include "common/errors.h"
#include "common/filter_limits.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pagination.h"
#include "common/proto_time.h"
#include "common/server_stream.h"
#include "google/protobuf/util/field_mask_util.h"
#include "services/loyalty/loyalty_proto.h"
#include "services/loyalty/prometheus.h"
#include "services/loyalty/request_checks.h"

namespace care::loyalty {
namespace {

using google::protobuf::util::FieldMaskUtil;

constexpr int kExportBatch = 500;

// ------------------------------------------------------------- validation

bool IsSlug(const std::string& s) {  // [a-z0-9_-]{1,32}
  if (s.empty() || s.size() > 32) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

void OptionalId(FieldErrors& errors, const std::string& field, const std::string& value) {
  if (!value.empty()) errors.RequireId(field, value);
}

// A Money that must be present, non-negative and in a valid currency.
void RequireAmount(FieldErrors& errors, const std::string& field, bool present, const care::common::v1::Money& m,
                   bool positive = false) {
  if (!present) {
    errors.Add(field, "required");
    return;
  }
  if (positive ? m.amount_minor() <= 0 : m.amount_minor() < 0) {
    errors.Add(field + ".amount_minor", positive ? "must be > 0" : "must be >= 0");
  } else {
    errors.RequireMoney(field + ".amount_minor", m.amount_minor());
  }
  errors.RequireCurrency(field + ".currency_code", m.currency_code());
}

// A business timestamp sent by a caller, when present and valid.
std::optional<absl::Time> BusinessTime(FieldErrors& errors, const std::string& field, bool present,
                                       const google::protobuf::Timestamp& t) {
  if (!present) return std::nullopt;
  if (!ValidTimestamp(t)) {
    errors.Add(field, "is not a valid timestamp");
    return std::nullopt;
  }
  return FromTimestamp(t);
}

// Business timestamps must be within 7 days before and 5 minutes after the
// server clock when first applied. Checked after the replay: a retry of a
// write that was recent then is answered with the first answer, however late
// it comes (a client is never told "invalid" for a write that happened).
absl::Status RequireRecent(const std::string& field, std::optional<absl::Time> at, absl::Time now) {
  if (!at) return absl::OkStatus();
  if (*at > now + absl::Minutes(5)) {
    return InvalidField(field, "must not be more than 5 minutes ahead of the server clock");
  }
  if (*at < now - absl::Hours(24 * 7)) return InvalidField(field, "must not be more than 7 days in the past");
  return absl::OkStatus();
}

bool ValidDay(int year, int month, int day) {
  if (month < 1 || month > 12 || day < 1) return false;
  int y = year == 0 ? 2000 : year;  // without a year, 29 February is allowed
  absl::CivilDay d(y, month, day);
  return d.month() == month && d.day() == day;
}

bool IsEmail(const std::string& s) {
  auto at = s.find('@');
  return s.size() <= 254 && at != std::string::npos && at > 0 && at + 1 < s.size() &&
         s.find_first_of(" \t\r\n") == std::string::npos;
}

bool IsE164(const std::string& s) {
  if (s.size() < 3 || s.size() > 16 || s[0] != '+' || s[1] == '0') return false;
  for (size_t i = 1; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

bool IsLocale(const std::string& s) {
  if (s.size() > 35) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
  }
  return !s.empty() && s.front() != '-' && s.back() != '-';
}

}  // namespace

// Checks the profile fields of `m` that `paths` names (all when null).
void ValidateProfile(FieldErrors& errors, const v1::Member& m, const std::set<std::string>* paths, absl::Time now) {
  auto want = [&](const char* f) { return paths == nullptr || paths->count(f) > 0; };
  if (want("name") && errors.RequireNonEmpty("member.name", m.name())) {
    errors.RequireMaxLength("member.name", m.name(), 200);
  }
  if (want("email") && !m.email().empty() && !IsEmail(m.email())) {
    errors.Add("member.email", "must be an e-mail address");
  }
  if (want("phone") && !m.phone().empty() && !IsE164(m.phone())) {
    errors.Add("member.phone", "must be an E.164 number such as +84901234567");
  }
  if (want("locale") && !m.locale().empty() && !IsLocale(m.locale())) {
    errors.Add("member.locale", "must be a BCP 47 tag such as \"vi-VN\"");
  }
  if (want("time_zone") && !m.time_zone().empty()) errors.RequireTimeZone("member.time_zone", m.time_zone());
  if (want("birthday") && m.has_birthday()) {
    const auto& b = m.birthday();
    int this_year = static_cast<int>(absl::ToCivilDay(now, absl::UTCTimeZone()).year());
    if (b.year() != 0 && (b.year() < 1900 || b.year() > this_year)) {
      errors.Add("member.birthday.year", "must be 0 or between 1900 and this year");
    }
    if (!ValidDay(b.year(), b.month(), b.day())) errors.Add("member.birthday", "is not a calendar date");
  }
  if (want("segment") && !m.segment().empty() && !IsSlug(m.segment())) {
    errors.Add("member.segment", "must match [a-z0-9_-]{1,32}");
  }
  if (want("gender") && !v1::Gender_IsValid(m.gender())) errors.Add("member.gender", "unknown value");
  if (want("age_band") && !v1::AgeBand_IsValid(m.age_band())) errors.Add("member.age_band", "unknown value");
  if (want("occupation")) errors.RequireMaxLength("member.occupation", m.occupation(), 100);
  if (want("marketing_consents")) {
    std::set<int> channels;
    for (int i = 0; i < m.marketing_consents_size(); ++i) {
      int channel = m.marketing_consents(i).channel();
      std::string f = absl::StrCat("member.marketing_consents[", i, "].channel");
      if (channel == 0 || !care::common::v1::MessageChannel_IsValid(channel)) {
        errors.Add(f, "required: a known channel");
      } else if (!channels.insert(channel).second) {
        errors.Add(f, "at most one entry per channel");
      }
    }
  }
}

namespace {

absl::StatusOr<std::set<std::string>> MemberMaskPaths(const google::protobuf::FieldMask& mask) {
  FieldErrors errors;
  std::set<std::string> paths;
  if (mask.paths().empty()) errors.Add("update_mask", "required: the fields to update");
  for (const std::string& p : mask.paths()) {
    if (UpdatableProfileFields().count(p) == 0) {
      errors.Add("update_mask", absl::StrCat(EchoValue(p), " cannot be updated"));
    } else {
      paths.insert(p);
    }
  }
  if (!errors.empty()) return errors.ToStatus();
  return paths;
}

// ----------------------------------------------------------------- mapping

// Both purchase and return answers carry the member's tier after the change
// and the progress to the next tier.
template <typename Result, typename Response>
void SetTierOutcome(const Result& r, Response* resp) {
  *resp->mutable_tier() = SnapshotToProto(r.tier);
  resp->set_tier_changed(r.change.changed);
  if (r.change.changed) resp->set_previous_tier_id(r.change.previous_tier_id);
  const Progress& p = r.progress;
  if (p.next_tier) *resp->mutable_next_tier_progress() = ProjectionToProto(*p.next_tier, r.currency);
  if (p.keep_tier) *resp->mutable_keep_tier_progress() = ProjectionToProto(*p.keep_tier, r.currency);
}

v1::Member MemberViewToProto(const MemberView& v, const std::string& currency) {
  return MemberToProto(v.member, v.snapshot, currency);
}

// Amounts of a stored version without their currency code ("the program's"),
// so that a mask changing only currency_code (allowed before any purchase)
// re-denominates them instead of failing on each.
void ClearProgramCurrencies(v1::Program* p) {
  for (auto& t : *p->mutable_tiers()) t.mutable_qualifying_spend()->clear_currency_code();
  if (p->has_earn_rule()) p->mutable_earn_rule()->mutable_unit_amount()->clear_currency_code();
  if (p->visit_reward().has_min_order_amount()) {
    p->mutable_visit_reward()->mutable_min_order_amount()->clear_currency_code();
  }
}

// Amounts in members and entries carry the program currency, which is the
// same for every version once a purchase exists.
absl::StatusOr<std::string> Currency(LoyaltyService& loyalty, StoreTxn& tx) {
  auto program = loyalty.CurrentProgram(tx);
  if (!program.ok()) return program.status();
  return program->currency_code;
}

}  // namespace

absl::Status RedisTierCache::Put(const TierSnapshot& snapshot) { return writer_.Put(SnapshotToProto(snapshot)); }

absl::StatusOr<uint64_t> RedisTierCache::Audit(uint64_t cursor, const SnapshotsOf& truth) {
  // Small steps: each reads one database snapshot per key in one read
  // transaction, between the other jobs.
  constexpr int kAuditBatch = 200;
  auto step = writer_.Audit(cursor, kAuditBatch, [&truth](const std::vector<std::string>& ids) {
    auto snapshots = truth(ids);
    using Out = std::vector<std::optional<v1::TierSnapshot>>;
    if (!snapshots.ok()) return absl::StatusOr<Out>(snapshots.status());
    Out out;
    out.reserve(snapshots->size());
    for (const auto& s : *snapshots) {
      out.push_back(s.has_value() ? std::optional<v1::TierSnapshot>(SnapshotToProto(*s)) : std::nullopt);
    }
    return absl::StatusOr<Out>(std::move(out));
  });
  if (!step.ok()) return step.status();
  if (step->repaired > 0) {
    LogWarn("tier cache audit repaired entries that disagreed with the database",
            {{"checked", step->checked}, {"repaired", step->repaired}});
  }
  return step->next_cursor;
}

TierSnapshotMemo::Shard& TierSnapshotMemo::ShardFor(absl::string_view member_id) const {
  return shards_[absl::HashOf(member_id) % kShards];
}

absl::Status TierSnapshotMemo::Put(const TierSnapshot& snapshot) {
  if (per_shard_ > 0) {
    auto proto = std::make_shared<const v1::TierSnapshot>(SnapshotToProto(snapshot));
    Shard& shard = ShardFor(snapshot.member_id);
    std::lock_guard lock(shard.mu);
    auto it = shard.entries.find(snapshot.member_id);
    if (it == shard.entries.end()) {
      if (shard.entries.size() >= per_shard_) shard.entries.erase(shard.entries.begin());
      shard.entries.emplace(snapshot.member_id, std::move(proto));
    } else if (it->second->version() < snapshot.version) {
      // Concurrent writers may Put out of order: the newer version wins, as in Redis.
      it->second = std::move(proto);
    }
  }
  return next_ == nullptr ? absl::OkStatus() : next_->Put(snapshot);
}

std::shared_ptr<const v1::TierSnapshot> TierSnapshotMemo::Find(absl::string_view member_id) const {
  if (per_shard_ == 0) return nullptr;
  Shard& shard = ShardFor(member_id);
  std::lock_guard lock(shard.mu);
  auto it = shard.entries.find(member_id);
  return it == shard.entries.end() ? nullptr : it->second;
}

LoyaltyGrpc::LoyaltyGrpc(RpcRuntime& rpc, LoyaltyService& loyalty, RedisPool* redis, const HmacKeyRing* keys,
                         const TierSnapshotMemo* memo)
    : rpc_(rpc),
      loyalty_(loyalty),
      lookup_(redis, keys, [this](absl::string_view member_id) -> absl::StatusOr<v1::TierSnapshot> {
        // A miss (or Redis down): the database, then refill the cache
        // (compare-and-set: a concurrent newer write is never undone).
        absl::StatusOr<TierSnapshot> snapshot = absl::InternalError("unset");
        absl::Status s = loyalty_.store().Read([&](StoreTxn& tx) -> absl::Status {
          snapshot = loyalty_.LoadSnapshot(tx, std::string(member_id));
          return snapshot.status();
        });
        if (!s.ok()) return s;
        loyalty_.Refill(*snapshot);
        return SnapshotToProto(*snapshot);
      }),
      memo_(memo) {}

template <typename Fn>
absl::Status LoyaltyGrpc::Mutate(absl::string_view scope, const std::string& key,
                                 const google::protobuf::Message& request, google::protobuf::Message* resp, Fn fn) {
  const std::string owner = CallerIdentity::Current();
  return MutateUnder(IdempotencyKey{owner, scope, key}, request, resp, std::move(fn));
}

template <typename Fn>
absl::Status LoyaltyGrpc::MutateByNaturalKey(absl::string_view scope, const std::string& key,
                                             const google::protobuf::Message& request,
                                             google::protobuf::Message* resp, Fn fn) {
  return MutateUnder(IdempotencyKey{kSharedKeys, scope, key}, request, resp, std::move(fn));
}

template <typename Fn>
absl::Status LoyaltyGrpc::MutateUnder(const IdempotencyKey& key, const google::protobuf::Message& request,
                                      google::protobuf::Message* resp, Fn fn) {
  Effects fx;
  absl::Status s = loyalty_.store().Write([&](StoreTxn& tx) -> absl::Status {
    fx = Effects{};
    auto replayed = tx.Replay(key, request, resp);
    if (!replayed.ok()) return replayed.status();
    if (*replayed) return absl::OkStatus();
    if (absl::Status done = fn(tx, fx); !done.ok()) return done;
    return tx.Remember(key, request, *resp);
  });
  if (s.ok()) loyalty_.Apply(fx);
  return s;
}

template <typename Fn>
absl::Status LoyaltyGrpc::Read(Fn fn) {
  return loyalty_.store().Read([&](StoreTxn& tx) -> absl::Status { return fn(tx); });
}

// ------------------------------------------------------------------ program

grpc::ServerUnaryReactor* LoyaltyGrpc::GetProgram(ServerContext* ctx, const v1::GetProgramRequest* req,
                                                  v1::Program* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    if (req->version() < 0) errors.Add("version", "must be >= 0");
    if (req->version() > 0 && req->has_as_of_time()) errors.Add("as_of_time", "not with version");
    if (req->has_as_of_time() && !ValidTimestamp(req->as_of_time())) errors.Add("as_of_time", "is not a valid timestamp");
    if (!errors.empty()) return errors.ToStatus();
    if (absl::Status s = loyalty_.RequireProgram(); !s.ok()) return s;
    std::optional<absl::Time> as_of;
    if (req->has_as_of_time()) as_of = FromTimestamp(req->as_of_time());
    return Read([&](StoreTxn& tx) -> absl::Status {
      auto p = loyalty_.GetProgram(tx, req->version(), as_of);
      if (!p.ok()) return p.status();
      *resp = ProgramToProto(*p);
      return absl::OkStatus();
    });
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::UpdateProgram(ServerContext* ctx, const v1::UpdateProgramRequest* req,
                                                     v1::Program* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    if (!req->has_program()) errors.Add("program", "required");
    errors.RequireMaxLength("change_note", req->change_note(), 500);
    static const std::set<std::string> kTop = {"display_name", "currency_code", "time_zone", "tiers",
                                               "earn_rule", "points_expiry", "visit_reward", "birthday_bonus"};
    static const std::set<std::string> kNested = {"earn_rule", "points_expiry", "visit_reward", "birthday_bonus"};
    bool replace_all = req->update_mask().paths().empty();
    for (const std::string& path : req->update_mask().paths()) {
      if (path == "*") {
        replace_all = true;
        continue;
      }
      std::string head = path.substr(0, path.find('.'));
      bool ok = path.find('.') == std::string::npos ? kTop.count(path) > 0
                                                    : kNested.count(head) > 0 &&
                                                          FieldMaskUtil::GetFieldDescriptors(
                                                              v1::Program::descriptor(), path, nullptr);
      if (!ok) errors.Add("update_mask", absl::StrCat(EchoValue(path), " is not an updatable program field"));
    }
    if (!errors.empty()) return errors.ToStatus();
    Actor actor{caller.principal->name, req->request_id()};
    absl::Status s = Mutate("UpdateProgram", req->request_id(), *req, resp,
                            [&](StoreTxn& tx, Effects&) -> absl::Status {
      v1::Program merged;
      auto latest = loyalty_.ListPrograms(tx, 0, 1);
      if (!latest.ok()) return latest.status();
      if (replace_all) {
        merged = req->program();
      } else {
        if (latest->empty()) {
          return InvalidField("update_mask", "must be empty or \"*\" for the first program version");
        }
        merged = ProgramToProto(latest->front());
        ClearProgramCurrencies(&merged);
        FieldMaskUtil::MergeOptions options;
        options.set_replace_message_fields(true);
        options.set_replace_repeated_fields(true);
        FieldMaskUtil::MergeMessageTo(req->program(), req->update_mask(), options, &merged);
      }
      FieldErrors program_errors;
      Program next = ProgramFromProto(merged, program_errors);
      if (!program_errors.empty()) return program_errors.ToStatus();
      auto stored = loyalty_.UpdateProgram(tx, std::move(next), req->program().version(), req->change_note(), actor);
      if (!stored.ok()) return stored.status();
      *resp = ProgramToProto(*stored);
      return absl::OkStatus();
    });
    if (s.ok()) loyalty_.ProgramCommitted();
    return s;
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::ListProgramVersions(ServerContext* ctx,
                                                           const v1::ListProgramVersionsRequest* req,
                                                           v1::ListProgramVersionsResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    int size = PageSize(req->page_size(), errors);
    if (!errors.empty()) return errors.ToStatus();
    auto cursor = DecodePageToken(*req, req->page_token());
    if (!cursor.ok()) return cursor.status();
    int64_t before = 0;
    if (!cursor->empty() && !absl::SimpleAtoi(*cursor, &before)) return InvalidPageToken();
    if (absl::Status s = loyalty_.RequireProgram(); !s.ok()) return s;
    return Read([&](StoreTxn& tx) -> absl::Status {
      auto programs = loyalty_.ListPrograms(tx, before, size + 1);
      if (!programs.ok()) return programs.status();
      bool more = static_cast<int>(programs->size()) > size;
      if (more) programs->resize(size);
      for (const Program& p : *programs) *resp->add_programs() = ProgramToProto(p);
      if (more) resp->set_next_page_token(EncodePageToken(*req, absl::StrCat(programs->back().version)));
      return absl::OkStatus();
    });
  });
}

// ------------------------------------------------------------------ members

grpc::ServerUnaryReactor* LoyaltyGrpc::EnrolMember(ServerContext* ctx, const v1::EnrolMemberRequest* req,
                                                   v1::Member* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    if (!req->has_member()) {
      errors.Add("member", "required");
    } else {
      OptionalId(errors, "member.member_id", req->member().member_id());
      ValidateProfile(errors, req->member(), nullptr, loyalty_.Now());
    }
    if (!errors.empty()) return errors.ToStatus();
    if (absl::Status s = loyalty_.RequireProgram(); !s.ok()) return s;
    return Mutate("EnrolMember", req->request_id(), *req, resp, [&](StoreTxn& tx, Effects& fx) -> absl::Status {
      auto view = loyalty_.Enrol(tx, fx, req->member().member_id(), ProfileFromProto(req->member()));
      if (!view.ok()) return view.status();
      auto currency = Currency(loyalty_, tx);
      if (!currency.ok()) return currency.status();
      *resp = MemberViewToProto(*view, *currency);
      return absl::OkStatus();
    });
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::GetMember(ServerContext* ctx, const v1::GetMemberRequest* req,
                                                 v1::Member* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("member_id", req->member_id());
    if (!errors.empty()) return errors.ToStatus();
    if (absl::Status s = loyalty_.RequireProgram(); !s.ok()) return s;
    return Read([&](StoreTxn& tx) -> absl::Status {
      auto view = loyalty_.GetMember(tx, req->member_id());
      if (!view.ok()) return view.status();
      auto currency = Currency(loyalty_, tx);
      if (!currency.ok()) return currency.status();
      *resp = MemberViewToProto(*view, *currency);
      return absl::OkStatus();
    });
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::UpdateMember(ServerContext* ctx, const v1::UpdateMemberRequest* req,
                                                    v1::Member* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireId("member.member_id", req->member().member_id());
    if (req->member().version() < 0) errors.Add("member.version", "must be >= 0");
    if (!errors.empty()) return errors.ToStatus();
    auto paths = MemberMaskPaths(req->update_mask());
    if (!paths.ok()) return paths.status();
    ValidateProfile(errors, req->member(), &*paths, loyalty_.Now());
    if (!errors.empty()) return errors.ToStatus();
    if (absl::Status s = loyalty_.RequireProgram(); !s.ok()) return s;
    return Mutate("UpdateMember", req->request_id(), *req, resp, [&](StoreTxn& tx, Effects&) -> absl::Status {
      auto view = loyalty_.UpdateMember(tx, req->member().member_id(), ProfileFromProto(req->member()), *paths,
                                        req->member().version());
      if (!view.ok()) return view.status();
      auto currency = Currency(loyalty_, tx);
      if (!currency.ok()) return currency.status();
      *resp = MemberViewToProto(*view, *currency);
      return absl::OkStatus();
    });
  });
}

namespace {

// The caller checks the sizes first (CheckFilterValues).
void ValidateMemberFilter(FieldErrors& errors, const google::protobuf::RepeatedPtrField<std::string>& tiers,
                          const google::protobuf::RepeatedPtrField<std::string>& segments, MemberFilter* filter) {
  for (int i = 0; i < tiers.size(); ++i) {
    if (!IsSlug(tiers[i])) errors.Add(absl::StrCat("tier_ids[", i, "]"), "must match [a-z0-9_-]{1,32}");
    filter->tier_ids.push_back(tiers[i]);
  }
  for (int i = 0; i < segments.size(); ++i) {
    if (!IsSlug(segments[i])) errors.Add(absl::StrCat("segments[", i, "]"), "must match [a-z0-9_-]{1,32}");
    filter->segments.push_back(segments[i]);
  }
}

}  // namespace

grpc::ServerUnaryReactor* LoyaltyGrpc::ListMembers(ServerContext* ctx, const v1::ListMembersRequest* req,
                                                   v1::ListMembersResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    if (absl::Status s = CheckFilterValues({{"tier_ids", req->tier_ids_size()}, {"segments", req->segments_size()}});
        !s.ok()) {
      return s;
    }
    FieldErrors errors;
    int size = PageSize(req->page_size(), errors);
    MemberFilter filter;
    ValidateMemberFilter(errors, req->tier_ids(), req->segments(), &filter);
    if (!req->email().empty() && !IsEmail(req->email())) errors.Add("email", "must be an e-mail address");
    if (!req->phone().empty() && !IsE164(req->phone())) errors.Add("phone", "must be an E.164 number");
    if (!errors.empty()) return errors.ToStatus();
    filter.email = req->email();
    filter.phone = req->phone();
    auto after = DecodePageToken(*req, req->page_token());
    if (!after.ok()) return after.status();
    if (absl::Status s = loyalty_.RequireProgram(); !s.ok()) return s;
    return Read([&](StoreTxn& tx) -> absl::Status {
      auto members = loyalty_.ListMembers(tx, filter, *after, size + 1);
      if (!members.ok()) return members.status();
      auto currency = Currency(loyalty_, tx);
      if (!currency.ok()) return currency.status();
      bool more = static_cast<int>(members->size()) > size;
      if (more) members->resize(size);
      for (const MemberView& v : *members) *resp->add_members() = MemberViewToProto(v, *currency);
      if (more) resp->set_next_page_token(EncodePageToken(*req, members->back().member.member_id));
      return absl::OkStatus();
    });
  });
}

grpc::ServerWriteReactor<v1::Member>* LoyaltyGrpc::ExportMembers(ServerContext* ctx,
                                                                 const v1::ExportMembersRequest* req) {
  using Writer = BatchedWriter<v1::Member>;
  // Exports carry every member's personal data, so each one is audited when
  // the stream ends, however it ends (the writer drops `fetch` with it): a
  // log line with who, the filters and how many members, and two counters.
  struct ExportAudit {
    std::string principal;
    std::string filters;
    int64_t rows = 0;
    ~ExportAudit() {
      if (principal.empty()) return;  // refused before the first batch
      // Warn level: an audit line must survive --log_level=warn.
      LogWarn("member export", {{"principal", principal}, {"filters", filters}, {"rows", rows}});
      MemberExportsMetric().Inc({principal});
      MembersExportedMetric().Inc({principal}, static_cast<double>(rows));
    }
  };
  auto audit = std::make_shared<ExportAudit>();
  // Keyset paging: each batch starts after the last member sent, so a
  // member is sent once and memory holds one batch, however many match.
  auto fetch = [this, req, audit, cursor = req->after_member_id(), filter = std::optional<MemberFilter>()](
                   const Caller& caller) mutable -> absl::StatusOr<Writer::Batch> {
    // Among peers only notification exports (campaign audiences); a refused
    // caller is not counted as an export.
    if (absl::Status s = AuthorizePeer(*caller.principal, {"svc:notification"}, "ExportMembers"); !s.ok()) return s;
    if (audit->principal.empty()) {
      audit->principal = caller.principal->name;
      audit->filters = req->ShortDebugString();
    }
    if (!filter) {
      if (absl::Status s = CheckFilterValues({{"tier_ids", req->tier_ids_size()}, {"segments", req->segments_size()}});
          !s.ok()) {
        return s;
      }
      FieldErrors errors;
      MemberFilter f;
      ValidateMemberFilter(errors, req->tier_ids(), req->segments(), &f);
      if (req->has_marketing_consent_channel()) {
        if (!care::common::v1::MessageChannel_IsValid(req->marketing_consent_channel())) {
          errors.Add("marketing_consent_channel", "unknown channel");
        }
        f.consent_channel = req->marketing_consent_channel();
      }
      if (!req->after_member_id().empty()) errors.RequireId("after_member_id", req->after_member_id());
      if (!errors.empty()) return errors.ToStatus();
      if (absl::Status s = loyalty_.RequireProgram(); !s.ok()) return s;
      filter = std::move(f);
    }
    Writer::Batch batch;
    absl::Status s = Read([&](StoreTxn& tx) -> absl::Status {
      auto members = loyalty_.ListMembers(tx, *filter, cursor, kExportBatch);
      if (!members.ok()) return members.status();
      auto currency = Currency(loyalty_, tx);
      if (!currency.ok()) return currency.status();
      batch.items.reserve(members->size());
      for (const MemberView& v : *members) batch.items.push_back(MemberViewToProto(v, *currency));
      audit->rows += static_cast<int64_t>(members->size());
      batch.last = static_cast<int>(members->size()) < kExportBatch;
      if (!members->empty()) cursor = members->back().member.member_id;
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return batch;
  };
  return new Writer(rpc_, ctx, *req, std::move(fetch));
}

// -------------------------------------------------------- points and tiers

std::optional<absl::Time> CheckPurchase(FieldErrors& errors, const v1::RecordPurchaseRequest* req) {
  OptionalId(errors, "request_id", req->request_id());
  errors.RequireId("member_id", req->member_id());
  errors.RequireId("order_id", req->order_id());
  RequireAmount(errors, "amount", req->has_amount(), req->amount());
  auto purchase_time = BusinessTime(errors, "purchase_time", req->has_purchase_time(), req->purchase_time());
  // Checked sums: a wrapped total once matched `amount` (issue 15).
  std::optional<int64_t> lines_total = 0;
  std::set<std::string> line_ids;
  for (int i = 0; i < req->lines_size(); ++i) {
    const v1::PurchaseLine& l = req->lines(i);
    std::string at = absl::StrCat("lines[", i, "]");
    if (!l.line_id().empty() && !line_ids.insert(l.line_id()).second) errors.Add(at + ".line_id", "duplicate");
    errors.RequireMaxLength(at + ".line_id", l.line_id(), 128);
    errors.RequireMaxLength(at + ".sku", l.sku(), 128);
    errors.RequireMaxLength(at + ".category", l.category(), 128);
    errors.RequireRange(at + ".quantity", l.quantity(), 1, kMaxLineQuantity);
    if (l.amount().amount_minor() < 0) {
      errors.Add(at + ".amount.amount_minor", "must be >= 0");
    } else {
      errors.RequireMoney(at + ".amount.amount_minor", l.amount().amount_minor());
    }
    if (l.amount().currency_code() != req->amount().currency_code()) {
      errors.Add(at + ".amount.currency_code", "must be the currency of amount");
    }
    if (lines_total) lines_total = CheckedAdd(*lines_total, l.amount().amount_minor());
  }
  if (req->lines_size() > 0 && lines_total != req->amount().amount_minor()) {
    errors.Add("lines", lines_total ? "line amounts must add up to amount"
                                    : absl::StrCat("line amounts add up to more than ", kMaxMoneyMinor));
  }
  if (req->lines_size() > 500) errors.Add("lines", "at most 500 lines");
  if (req->campaign_ids_size() > 50) errors.Add("campaign_ids", "at most 50");
  for (int i = 0; i < req->campaign_ids_size(); ++i) {
    errors.RequireId(absl::StrCat("campaign_ids[", i, "]"), req->campaign_ids(i));
  }
  errors.RequireMaxLength("store_id", req->store_id(), 128);
  return purchase_time;
}

grpc::ServerUnaryReactor* LoyaltyGrpc::RecordPurchase(ServerContext* ctx, const v1::RecordPurchaseRequest* req,
                                                      v1::RecordPurchaseResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    auto purchase_time = CheckPurchase(errors, req);
    if (!errors.empty()) return errors.ToStatus();
    if (absl::Status s = loyalty_.RequireProgram(); !s.ok()) return s;

    PurchaseCommand cmd;
    cmd.member_id = req->member_id();
    cmd.order_id = req->order_id();
    cmd.amount = req->amount().amount_minor();
    cmd.currency = req->amount().currency_code();
    cmd.purchase_time = purchase_time;
    for (const auto& l : req->lines()) {
      cmd.lines.push_back(PurchaseLine{l.line_id(), l.sku(), l.category(), l.quantity(), l.amount().amount_minor()});
    }
    cmd.no_points = req->no_points();
    cmd.campaign_ids.assign(req->campaign_ids().begin(), req->campaign_ids().end());
    cmd.store_id = req->store_id();
    // The natural key is the order: every field but request_id must match.
    v1::RecordPurchaseRequest fingerprint = *req;
    fingerprint.clear_request_id();
    Actor actor{caller.principal->name, req->request_id()};
    return MutateByNaturalKey("RecordPurchase", req->order_id(), fingerprint, resp,
                  [&](StoreTxn& tx, Effects& fx) -> absl::Status {
      if (absl::Status s = RequireRecent("purchase_time", purchase_time, loyalty_.Now()); !s.ok()) return s;
      auto r = loyalty_.RecordPurchase(tx, fx, cmd, actor);
      if (!r.ok()) return r.status();
      resp->set_order_id(r->order_id);
      resp->set_member_id(r->member_id);
      resp->set_program_version(r->program_version);
      resp->set_points_earned(r->points_earned);
      resp->set_points_balance(r->points_balance);
      SetTierOutcome(*r, resp);
      resp->set_visit_counted(r->visit_outcome == VisitOutcome::kCounted);
      resp->set_visit_outcome(static_cast<v1::VisitOutcome>(r->visit_outcome));
      resp->set_visit_count(r->visit_count);
      resp->set_visits_until_reward(r->visits_until_reward);
      if (r->visit_reward) {
        v1::VisitRewardGrant* g = resp->mutable_visit_reward();
        g->set_reward_name(r->visit_reward->reward_name);
        g->set_points(r->visit_reward_points);
        g->set_visit_count(r->visit_reward->visit_count);
        g->set_entry_id(r->visit_reward->entry_id);
      }
      for (const LedgerEntry& e : r->entries) *resp->add_entries() = EntryToProto(e, r->currency);
      return absl::OkStatus();
    });
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::RecordReturn(ServerContext* ctx, const v1::RecordReturnRequest* req,
                                                    v1::RecordReturnResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    OptionalId(errors, "request_id", req->request_id());
    errors.RequireId("return_id", req->return_id());
    errors.RequireId("order_id", req->order_id());
    OptionalId(errors, "member_id", req->member_id());
    if (req->kind() != v1::RETURN_KIND_FULL && req->kind() != v1::RETURN_KIND_PARTIAL) {
      errors.Add("kind", "required: FULL or PARTIAL");
    }
    if (req->kind() == v1::RETURN_KIND_PARTIAL || req->has_returned_amount()) {
      RequireAmount(errors, "returned_amount", req->has_returned_amount(), req->returned_amount(),
                    req->kind() == v1::RETURN_KIND_PARTIAL);
    }
    auto return_time = BusinessTime(errors, "return_time", req->has_return_time(), req->return_time());
    std::optional<int64_t> lines_total = 0;
    for (int i = 0; i < req->lines_size(); ++i) {
      const v1::ReturnLine& l = req->lines(i);
      std::string at = absl::StrCat("lines[", i, "]");
      errors.RequireRange(at + ".quantity", l.quantity(), 1, kMaxLineQuantity);
      if (l.amount().amount_minor() < 0) {
        errors.Add(at + ".amount.amount_minor", "must be >= 0");
      } else {
        errors.RequireMoney(at + ".amount.amount_minor", l.amount().amount_minor());
      }
      if (lines_total) lines_total = CheckedAdd(*lines_total, l.amount().amount_minor());
    }
    if (req->lines_size() > 0 && !lines_total) {
      errors.Add("lines", absl::StrCat("line amounts add up to more than ", kMaxMoneyMinor));
    } else if (req->lines_size() > 0 && req->has_returned_amount() &&
               lines_total != req->returned_amount().amount_minor()) {
      errors.Add("lines", "line amounts must add up to returned_amount");
    }
    errors.RequireMaxLength("reason", req->reason(), 500);
    if (!errors.empty()) return errors.ToStatus();
    if (absl::Status s = loyalty_.RequireProgram(); !s.ok()) return s;

    ReturnCommand cmd;
    cmd.return_id = req->return_id();
    cmd.order_id = req->order_id();
    cmd.member_id = req->member_id();
    cmd.kind = req->kind() == v1::RETURN_KIND_FULL ? ReturnKind::kFull : ReturnKind::kPartial;
    if (req->has_returned_amount()) {
      cmd.returned_amount = req->returned_amount().amount_minor();
      cmd.currency = req->returned_amount().currency_code();
    }
    cmd.return_time = return_time;
    cmd.reason = req->reason();
    v1::RecordReturnRequest fingerprint = *req;
    fingerprint.clear_request_id();
    Actor actor{caller.principal->name, req->request_id()};
    return MutateByNaturalKey("RecordReturn", req->return_id(), fingerprint, resp,
                  [&](StoreTxn& tx, Effects& fx) -> absl::Status {
      if (absl::Status s = RequireRecent("return_time", return_time, loyalty_.Now()); !s.ok()) return s;
      auto r = loyalty_.RecordReturn(tx, fx, cmd, actor);
      if (!r.ok()) return r.status();
      resp->set_return_id(r->return_id);
      resp->set_order_id(r->order_id);
      resp->set_member_id(r->member_id);
      *resp->mutable_returned_amount() = MoneyProto(r->returned_amount, r->currency);
      *resp->mutable_total_returned() = MoneyProto(r->total_returned, r->currency);
      resp->set_order_fully_returned(r->fully_returned);
      resp->set_points_reversed(r->points_reversed);
      resp->set_points_unrecovered(r->points_unrecovered);
      resp->set_points_balance(r->points_balance);
      SetTierOutcome(*r, resp);
      *resp->mutable_entry() = EntryToProto(r->entry, r->currency);
      return absl::OkStatus();
    });
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::RedeemPoints(ServerContext* ctx, const v1::RedeemPointsRequest* req,
                                                    v1::RedeemPointsResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireId("member_id", req->member_id());
    errors.RequireRange("points", req->points(), 1, kMaxPointsPerEntry);
    OptionalId(errors, "order_id", req->order_id());
    errors.RequireMaxLength("description", req->description(), 200);
    if (!errors.empty()) return errors.ToStatus();
    if (absl::Status s = loyalty_.RequireProgram(); !s.ok()) return s;
    RedeemCommand cmd{req->member_id(), req->points(), req->order_id(), req->description()};
    Actor actor{caller.principal->name, req->request_id()};
    return Mutate("RedeemPoints", req->request_id(), *req, resp, [&](StoreTxn& tx, Effects&) -> absl::Status {
      auto r = loyalty_.Redeem(tx, cmd, actor);
      if (!r.ok()) return r.status();
      *resp->mutable_entry() = EntryToProto(r->entry, "");
      resp->set_points_balance(r->points_balance);
      return absl::OkStatus();
    });
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::AdjustPoints(ServerContext* ctx, const v1::AdjustPointsRequest* req,
                                                    v1::AdjustPointsResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    // Among peers only complaint adjusts points (goodwill); humans keep theirs.
    if (absl::Status s = AuthorizePeer(*caller.principal, {"svc:complaint"}, "AdjustPoints"); !s.ok()) return s;
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireId("member_id", req->member_id());
    if (req->points_delta() == 0) {
      errors.Add("points_delta", "must not be 0");
    } else {
      errors.RequireRange("points_delta", req->points_delta(), -kMaxPointsPerEntry, kMaxPointsPerEntry);
    }
    bool code_ok = !req->reason_code().empty() && req->reason_code().size() <= 64;
    for (char c : req->reason_code()) code_ok = code_ok && ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_');
    if (!code_ok) errors.Add("reason_code", "must match [A-Z0-9_]{1,64}");
    OptionalId(errors, "complaint_id", req->complaint_id());
    errors.RequireMaxLength("note", req->note(), 500);
    if (!errors.empty()) return errors.ToStatus();
    if (absl::Status s = loyalty_.RequireProgram(); !s.ok()) return s;
    AdjustCommand cmd{req->member_id(), req->points_delta(), req->reason_code(), req->complaint_id(), req->note()};
    Actor actor{caller.principal->name, req->request_id()};
    return Mutate("AdjustPoints", req->request_id(), *req, resp, [&](StoreTxn& tx, Effects&) -> absl::Status {
      auto r = loyalty_.Adjust(tx, cmd, actor);
      if (!r.ok()) return r.status();
      *resp->mutable_entry() = EntryToProto(r->entry, "");
      resp->set_points_balance(r->points_balance);
      return absl::OkStatus();
    });
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::ListLedgerEntries(ServerContext* ctx, const v1::ListLedgerEntriesRequest* req,
                                                         v1::ListLedgerEntriesResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    if (absl::Status s = CheckFilterValues("kinds", req->kinds_size()); !s.ok()) return s;
    FieldErrors errors;
    int size = PageSize(req->page_size(), errors);
    errors.RequireId("member_id", req->member_id());
    EntryFilter filter;
    filter.member_id = req->member_id();
    for (int i = 0; i < req->kinds_size(); ++i) {
      int k = req->kinds(i);
      if (k <= 0 || !v1::LedgerEntryKind_IsValid(k)) {
        errors.Add(absl::StrCat("kinds[", i, "]"), "unknown kind");
      } else {
        filter.kinds.push_back(static_cast<EntryKind>(k));
      }
    }
    OptionalId(errors, "order_id", req->order_id());
    filter.order_id = req->order_id();
    if (req->has_start_time()) {
      if (!ValidTimestamp(req->start_time())) errors.Add("start_time", "is not a valid timestamp");
      filter.start_time = FromTimestamp(req->start_time());
    }
    if (req->has_end_time()) {
      if (!ValidTimestamp(req->end_time())) errors.Add("end_time", "is not a valid timestamp");
      filter.end_time = FromTimestamp(req->end_time());
    }
    if (filter.start_time && filter.end_time && *filter.end_time <= *filter.start_time) {
      errors.Add("end_time", "must be after start_time");
    }
    if (!errors.empty()) return errors.ToStatus();
    auto cursor = DecodePageToken(*req, req->page_token());
    if (!cursor.ok()) return cursor.status();
    int64_t before = 0;
    if (!cursor->empty() && !absl::SimpleAtoi(*cursor, &before)) return InvalidPageToken();
    if (absl::Status s = loyalty_.RequireProgram(); !s.ok()) return s;
    return Read([&](StoreTxn& tx) -> absl::Status {
      auto entries = loyalty_.ListEntries(tx, filter, before, size + 1);
      if (!entries.ok()) return entries.status();
      auto currency = Currency(loyalty_, tx);
      if (!currency.ok()) return currency.status();
      bool more = static_cast<int>(entries->size()) > size;
      if (more) entries->resize(size);
      for (const LedgerEntry& e : *entries) *resp->add_entries() = EntryToProto(e, *currency);
      if (more) resp->set_next_page_token(EncodePageToken(*req, absl::StrCat(entries->back().sequence)));
      return absl::OkStatus();
    });
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::GetBalance(ServerContext* ctx, const v1::GetBalanceRequest* req,
                                                  v1::PointsBalance* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("member_id", req->member_id());
    std::optional<absl::Duration> horizon;
    if (req->has_expiring_within()) {
      horizon = FromDurationProto(req->expiring_within());
      if (*horizon < absl::ZeroDuration() || *horizon > absl::Hours(24 * 366)) {
        errors.Add("expiring_within", "must be between 0 and 366 days");
      }
    }
    if (!errors.empty()) return errors.ToStatus();
    if (absl::Status s = loyalty_.RequireProgram(); !s.ok()) return s;
    return Read([&](StoreTxn& tx) -> absl::Status {
      auto b = loyalty_.GetBalance(tx, req->member_id(), horizon);
      if (!b.ok()) return b.status();
      resp->set_member_id(b->member_id);
      resp->set_balance(b->balance);
      resp->set_lifetime_earned(b->lifetime_earned);
      resp->set_lifetime_bonus(b->lifetime_bonus);
      resp->set_lifetime_adjusted(b->lifetime_adjusted);
      resp->set_lifetime_redeemed(b->lifetime_redeemed);
      resp->set_lifetime_reversed(b->lifetime_reversed);
      resp->set_lifetime_expired(b->lifetime_expired);
      resp->set_points_expiring_soon(b->expiring_soon);
      *resp->mutable_expiring_soon_until() = ToTimestamp(b->expiring_soon_until);
      for (const MemberExpiry& e : b->upcoming) {
        v1::ExpiringPoints* p = resp->add_upcoming_expiries();
        *p->mutable_expire_time() = ToTimestamp(e.expire_time);
        p->set_points(e.points);
      }
      *resp->mutable_as_of() = ToTimestamp(b->as_of);
      return absl::OkStatus();
    });
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::GetTier(ServerContext* ctx, const v1::GetTierRequest* req,
                                               v1::TierSnapshot* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("member_id", req->member_id());
    if (!errors.empty()) return errors.ToStatus();
    if (absl::Status s = loyalty_.RequireProgram(); !s.ok()) return s;
    if (memo_ != nullptr) {
      if (auto known = memo_->Find(req->member_id())) {
        static auto& memo_hit = TierCacheLookupsMetric().With({"memo"});
        memo_hit.Inc();
        *resp = *known;
        return absl::OkStatus();
      }
    }
    auto snapshot = lookup_.Get(req->member_id());
    if (!snapshot.ok()) return snapshot.status();
    *resp = std::move(*snapshot);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::ProjectTier(ServerContext* ctx, const v1::ProjectTierRequest* req,
                                                   v1::ProjectTierResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("member_id", req->member_id());
    if (!req->target_tier_id().empty() && !IsSlug(req->target_tier_id())) {
      errors.Add("target_tier_id", "must match [a-z0-9_-]{1,32}");
    }
    std::optional<absl::Time> by_time;
    if (req->has_by_time()) {
      if (!ValidTimestamp(req->by_time())) {
        errors.Add("by_time", "is not a valid timestamp");
      } else {
        by_time = FromTimestamp(req->by_time());
        if (*by_time < loyalty_.Now()) errors.Add("by_time", "must not be in the past");
      }
    }
    if (!errors.empty()) return errors.ToStatus();
    if (absl::Status s = loyalty_.RequireProgram(); !s.ok()) return s;
    return Read([&](StoreTxn& tx) -> absl::Status {
      auto r = loyalty_.ProjectTier(tx, req->member_id(), req->target_tier_id(), by_time);
      if (!r.ok()) return r.status();
      *resp->mutable_tier() = SnapshotToProto(r->member.snapshot);
      *resp->mutable_standing() = MemberViewToProto(r->member, r->currency).tier();
      for (const Projection& p : r->projections) *resp->add_projections() = ProjectionToProto(p, r->currency);
      *resp->mutable_as_of() = ToTimestamp(r->as_of);
      return absl::OkStatus();
    });
  });
}

}  // namespace care::loyalty
