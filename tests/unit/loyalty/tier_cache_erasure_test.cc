// The tier cache against an erasure (docs/privacy.md, "Redis"): a GetTier
// that read the member's snapshot before the erasure committed puts it into
// the cache after the erasure's Forget. Loyalty reads the tombstone after
// every cache write and takes such a snapshot out again, so an erased
// member's snapshot never stays in the cache.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "common/privacy.h"
#include "common/sqlite.h"
#include "services/loyalty/loyalty_service.h"
#include "services/loyalty/sql_loyalty_store.h"
#include "tests/harness/harness.h"

namespace care::loyalty {
namespace {

// A cache that runs `before_put` (once) inside the next Put, before it
// stores: the erasure commits between the snapshot's read and its write.
class RacingCache final : public TierCache {
 public:
  absl::Status Put(const TierSnapshot& snapshot) override {
    if (before_put) std::exchange(before_put, nullptr)();
    entries[snapshot.member_id] = snapshot.version;
    return absl::OkStatus();
  }
  absl::Status Forget(const std::string& member_id) override {
    entries.erase(member_id);
    return absl::OkStatus();
  }

  std::function<void()> before_put;
  std::map<std::string, int64_t> entries;
};

v1::Program Program() {
  v1::Program p;
  p.set_display_name("Rewards");
  p.set_currency_code("USD");
  p.set_time_zone("UTC");
  v1::Tier* base = p.add_tiers();
  base->set_tier_id("member");
  base->set_display_name("Member");
  base->mutable_qualifying_spend()->set_currency_code("USD");
  base->mutable_benefits()->set_points_multiplier_bps(10000);
  base->mutable_benefits()->set_support_priority(v1::SUPPORT_PRIORITY_STANDARD);
  p.mutable_earn_rule()->set_points_per_unit(1);
  p.mutable_earn_rule()->mutable_unit_amount()->set_amount_minor(100);
  p.mutable_earn_rule()->mutable_unit_amount()->set_currency_code("USD");
  p.mutable_earn_rule()->set_rounding(v1::ROUNDING_MODE_FLOOR);
  return p;
}

Once OnceFor(const std::string& key, const google::protobuf::Message& request) {
  return Once{"admin:test", "Test", key, FingerprintOf(request)};
}

class TierCacheErasureTest : public ::testing::Test {
 protected:
  // Tombstones are keyed (--privacy_key_file); any test key will do.
  const SubjectDigests digests_{std::vector<NamedKey>{{"t-1", "tier-cache-erasure-test-key-0123456789abcdef"}}};
  void SetUp() override {
    std::vector<Migration> migrations = CommonMigrations();
    for (Migration& m : LoyaltyMigrations()) migrations.push_back(std::move(m));
    auto db = SqliteDatabase::Open(dir_.path() + "/loyalty.db", migrations);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    store_ = NewSqlLoyaltyStore(*db_, digests_);
    service_ = std::make_unique<LoyaltyService>(*store_, clock_, &cache_);
    ProgramUpdate update;
    update.program = Program();
    update.replace_all = true;
    auto program = service_->UpdateProgram(OnceFor("program-1", update.program), update, actor_);
    ASSERT_TRUE(program.ok()) << program.status();
    Profile profile;
    profile.name = "Ann Example";
    v1::Member request;
    request.set_member_id("m-ann");
    auto member = service_->Enrol(OnceFor("enrol-ann", request), "m-ann", profile);
    ASSERT_TRUE(member.ok()) << member.status();
  }

  absl::Status Erase(const std::string& member_id) {
    care::common::v1::DataSubject subject;
    subject.set_member_id(member_id);
    return service_->ErasePerson(OnceFor("erase-" + member_id, subject), subject, "DSR-1", actor_).status();
  }

  testing::TempDir dir_;
  ManualClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  RacingCache cache_;
  std::unique_ptr<SqliteDatabase> db_;
  std::unique_ptr<LoyaltyStore> store_;
  std::unique_ptr<LoyaltyService> service_;
  Actor actor_{"admin:test", "req-1"};
};

TEST_F(TierCacheErasureTest, ASnapshotReadBeforeTheErasureIsNotLeftInTheCache) {
  cache_.entries.clear();  // a cache miss: GetTier reads the database and puts
  absl::Status erased;
  cache_.before_put = [&] { erased = Erase("m-ann"); };
  auto tier = service_->GetTier("m-ann");
  ASSERT_TRUE(tier.ok()) << tier.status();  // read before the erasure committed
  ASSERT_TRUE(erased.ok()) << erased;
  EXPECT_EQ(cache_.entries.count("m-ann"), 0U) << "the erased member's snapshot was written back after its Forget";
}

TEST_F(TierCacheErasureTest, AnotherMembersSnapshotIsCachedAsBefore) {
  Profile profile;
  profile.name = "Bob Example";
  v1::Member request;
  request.set_member_id("m-bob");
  ASSERT_TRUE(service_->Enrol(OnceFor("enrol-bob", request), "m-bob", profile).ok());
  cache_.entries.clear();
  cache_.before_put = [&] { EXPECT_TRUE(Erase("m-ann").ok()); };
  ASSERT_TRUE(service_->GetTier("m-bob").ok());
  EXPECT_EQ(cache_.entries.count("m-bob"), 1U);
  EXPECT_EQ(cache_.entries.count("m-ann"), 0U);
}

}  // namespace
}  // namespace care::loyalty
