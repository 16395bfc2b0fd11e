// Issue 16, defect 7: Redis is not trusted for prices. Through the real
// care_loyalty and care_promotion and a real redis-server with requirepass:
// an entry written straight into Redis without the tier cache key does not
// change a quote; loyalty's audit overwrites an entry that is ahead of its
// database; services without the Redis password degrade but answer
// correctly; a missing or empty secret stops start-up.
#include <hiredis/hiredis.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "clients/loyalty/tier_cache.h"
#include "common/key_file.h"
#include "gtest/gtest.h"
#include "tests/harness/scrape.h"
#include "tests/integration/promotion_fixture.h"

namespace care::testing {
namespace {

class PromotionTierCacheTest : public PromotionTest {
 protected:
  void SetUp() override {
    PromotionTest::SetUp();
    if (HasFatalFailure()) return;
    StartPromotion("", {"--metrics_port=0", "--metrics_port_file=" + dir_.path() + "/promo_metrics_port"});
    if (HasFatalFailure()) return;
    Live("tiers", TierCampaign());
  }

  static pv1::QuoteRequest ShoeCart(const std::string& member_id) {
    return Cart(member_id, {CartLine("l1", "SHOE-1", "shoes", 1, 10000)});
  }

  // Runs one command on the test's redis-server as an attacker who reached
  // it (AUTH with its password), without the tier cache key.
  void RedisRaw(const std::vector<std::string>& args) {
    timeval tv{2, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", redis_.port(), tv);
    ASSERT_TRUE(c != nullptr && c->err == 0);
    auto* auth = static_cast<redisReply*>(redisCommand(c, "AUTH %s", redis_.password().c_str()));
    ASSERT_NE(auth, nullptr);
    freeReplyObject(auth);
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data()));
    ASSERT_NE(r, nullptr);
    EXPECT_NE(r->type, REDIS_REPLY_ERROR) << std::string(r->str, r->len);
    freeReplyObject(r);
    redisFree(c);
  }

  // Writes `snapshot` at the member's key as given, with `signature`.
  void WriteEntry(const lv1::TierSnapshot& snapshot, const std::string& signature) {
    RedisRaw({"HSET", TierCacheKey(snapshot.member_id()), "v", std::to_string(snapshot.version()), "d",
              snapshot.SerializeAsString(), "s", signature});
  }

  // The harness's tier cache key, as loyalty and promotion hold it.
  HmacKeyRing Keys() { return HmacKeyRing({NamedKey{redis_.tier_key_id(), redis_.tier_key()}}); }

  // The member's entry as stored, with whether its signature verifies.
  std::optional<RedisPool::Versioned> RawEntry(const std::string& member_id, bool* valid) {
    CachedTier(member_id);  // makes redis_client_
    auto got = redis_client_->GetVersioned(TierCacheKey(member_id));
    if (!got.ok() || !got->has_value()) return std::nullopt;
    *valid = VerifiedTierEntry(Keys(), member_id, **got).has_value();
    return **got;
  }

  double PromoLookups(const std::string& result) {
    int port = std::stoi(ReadFile(dir_.path() + "/promo_metrics_port"));
    auto body = HttpGet(port, "/metrics");
    EXPECT_TRUE(body.ok()) << body.status();
    return Sample(ParseExposition(body.ok() ? *body : ""),
                  absl::StrCat("care_tier_cache_lookups_total{result=\"", result, "\"}"));
  }

  template <typename Fn>
  bool Eventually(Fn fn, absl::Duration timeout = absl::Seconds(10)) {
    absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (fn()) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return fn();
  }
};

// (a) Before the fix promotion priced with whatever the cache said: a
// forged gold entry gave a silver member 20% instead of 10%.
TEST_F(PromotionTierCacheTest, AForgedEntryDoesNotChangeTheTierDiscount) {
  MakeTier("s1", "silver");
  pv1::QuoteResponse before = Quote(ShoeCart("s1"));
  ASSERT_EQ(before.customer().tier_id(), "silver");
  ASSERT_EQ(before.totals().items_discount().amount_minor(), 1000);
  const double invalid_before = PromoLookups("invalid");

  lv1::TierSnapshot forged = GetTier("s1");
  forged.set_tier_id("gold");
  forged.set_version(forged.version() + 1000);
  // Unsigned; signed with the wrong key under the right key id; the right
  // key's signature of another member's entry.
  const HmacKeyRing wrong({NamedKey{redis_.tier_key_id(), std::string(40, 'w')}});
  lv1::TierSnapshot other = forged;
  other.set_member_id("g9");
  const std::string payload = forged.SerializeAsString();
  for (const std::string& signature :
       {std::string(), std::string("test.AAAA"), SignTierEntry(wrong, "s1", forged.version(), payload),
        SignTierEntry(Keys(), "g9", forged.version(), payload)}) {
    WriteEntry(forged, signature);
    pv1::QuoteResponse q = Quote(ShoeCart("s1"));
    EXPECT_EQ(q.customer().tier_id(), "silver") << "signature \"" << signature << "\"";
    EXPECT_EQ(q.totals().items_discount().amount_minor(), 1000) << "signature \"" << signature << "\"";
  }
  // Each was read, refused and counted; the quote came from loyalty.
  EXPECT_GE(PromoLookups("invalid") - invalid_before, 4);

  // A forged non-hash value at the key is a miss too, never an error.
  RedisRaw({"DEL", TierCacheKey("s1")});
  RedisRaw({"SET", TierCacheKey("s1"), "gold"});
  pv1::QuoteResponse q = Quote(ShoeCart("s1"));
  EXPECT_EQ(q.totals().items_discount().amount_minor(), 1000);
}

// (b) Before the fix the compare-and-set kept an entry ahead of the
// database forever (a restore, or a forged entry): loyalty's audit now
// overwrites it with the database's snapshot, and deletes the entry of a
// member the database does not have.
TEST_F(PromotionTierCacheTest, TheAuditRepairsAnEntryAheadOfTheDatabase) {
  MakeTier("s1", "silver");
  MakeTier("s2", "silver");
  const lv1::TierSnapshot truth = GetTier("s1");

  // As after restoring loyalty's database from a backup: Redis holds a
  // validly signed newer snapshot (gold) the database does not know.
  lv1::TierSnapshot ahead = truth;
  ahead.set_tier_id("gold");
  ahead.set_version(truth.version() + 5);
  WriteEntry(ahead, SignTierEntry(Keys(), "s1", ahead.version(), ahead.SerializeAsString()));
  // A forged, unsigned entry that loyalty's own writes could never replace.
  lv1::TierSnapshot forged = GetTier("s2");
  forged.set_tier_id("gold");
  forged.set_version(forged.version() + 1000);
  WriteEntry(forged, "");
  // A member the database does not have.
  lv1::TierSnapshot ghost = ahead;
  ghost.set_member_id("ghost");
  WriteEntry(ghost, SignTierEntry(Keys(), "ghost", ghost.version(), ghost.SerializeAsString()));
  ASSERT_EQ(Quote(ShoeCart("s1")).customer().tier_id(), "gold") << "a signed entry is trusted until audited";

  Advance(absl::Seconds(1));  // runs loyalty's jobs, the audit among them
  ASSERT_TRUE(Eventually([&] {
    auto cached = CachedTier("s1");
    return cached.has_value() && cached->version() == truth.version();
  })) << "the entry ahead of the database stayed";
  bool valid = false;
  auto s1 = RawEntry("s1", &valid);
  ASSERT_TRUE(s1.has_value());
  EXPECT_TRUE(valid);
  EXPECT_EQ(CachedTier("s1")->tier_id(), "silver");
  ASSERT_TRUE(Eventually([&] {
    bool ok = false;
    auto s2 = RawEntry("s2", &ok);
    return s2.has_value() && ok && s2->version == GetTier("s2").version();
  })) << "the forged entry stayed";
  ASSERT_TRUE(Eventually([&] { return !CachedTier("ghost").has_value(); })) << "the ghost entry stayed";

  pv1::QuoteResponse q = Quote(ShoeCart("s1"));
  EXPECT_EQ(q.customer().tier_id(), "silver");
  EXPECT_EQ(q.totals().items_discount().amount_minor(), 1000);

  // Normal writes keep the compare-and-set: an upgrade lands at once.
  Purchase("s1", "upgrade-s1", 400000);
  EXPECT_EQ(CachedTier("s1")->tier_id(), "gold");
}

// (c) Everything in this fixture runs against a redis-server with
// requirepass and the password file: loyalty writes signed entries and
// promotion reads them. A service without the password (or with a wrong
// one) treats the cache as down and still answers correctly.
TEST_F(PromotionTierCacheTest, WithoutThePasswordServicesDegradeButAnswerCorrectly) {
  MakeTier("s1", "silver");
  bool valid = false;
  ASSERT_TRUE(RawEntry("s1", &valid).has_value()) << "loyalty did not cache through AUTH";
  EXPECT_TRUE(valid);
  const double hits = PromoLookups("hit");
  EXPECT_EQ(Quote(ShoeCart("s1")).totals().items_discount().amount_minor(), 1000);
  EXPECT_EQ(PromoLookups("hit"), hits + 1) << "promotion did not read the cache through AUTH";

  // A promotion with a wrong password: priced through loyalty.
  const std::string wrong = dir_.path() + "/wrong_password";
  std::ofstream(wrong) << "not-the-password\n";
  ServiceProcess promo2(CARE_PROMOTION_BIN, kPromotionHealth,
                        {"--fake_clock", "--redis_port=" + std::to_string(redis_.port()),
                         "--redis_password_file=" + wrong, "--loyalty_target=" + service_->address(),
                         "--service_token_file=" + dir_.path() + "/promotion_token", "--log_level=warn"},
                        tokens_);
  ASSERT_TRUE(promo2.Start().ok()) << promo2.log();
  auto stub2 = pv1::PromotionService::NewStub(promo2.channel());
  {
    auto clock2 = care::common::v1::ClockControl::NewStub(promo2.channel());
    care::common::v1::SetTimeRequest req;
    *req.mutable_time() = ToTimestamp(Base());
    care::common::v1::GetTimeResponse r;
    ASSERT_TRUE(clock2->SetTime(Ctx(admin()).get(), req, &r).ok());
  }
  pv1::CreateCampaignRequest create;
  create.set_request_id("create-tiers2");
  create.set_campaign_id("tiers");
  pv1::Campaign c = BaseCampaign(Base() - absl::Hours(1));
  c.mutable_rights()->set_tier_discount_applies(false);
  auto* value = c.add_rules()->add_effects()->mutable_cart_discount()->mutable_value();
  (*value->mutable_tier_values())["silver"] = Percent(1000);
  *create.mutable_campaign() = c;
  pv1::Campaign out;
  ASSERT_TRUE(stub2->CreateCampaign(Ctx(admin()).get(), create, &out).ok());
  pv1::AnnounceCampaignRequest announce;
  announce.set_request_id("announce-tiers2");
  announce.set_campaign_id("tiers");
  announce.set_allow_short_notice(true);
  ASSERT_TRUE(stub2->AnnounceCampaign(Ctx(admin()).get(), announce, &out).ok());
  pv1::QuoteResponse q;
  grpc::Status s = stub2->Quote(Ctx(svc()).get(), ShoeCart("s1"), &q);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(q.customer().tier_id(), "silver");
  EXPECT_EQ(q.totals().items_discount().amount_minor(), 1000);
  EXPECT_NE(promo2.log().find("redis refused AUTH"), std::string::npos) << promo2.log();

  // A loyalty without the password: serves from its database, caches nothing.
  ServiceProcess loyalty2(CARE_LOYALTY_BIN, kLoyaltyHealth,
                          {"--fake_clock", "--redis_port=" + std::to_string(redis_.port()),
                           "--redis_password_file=", "--log_level=warn"},
                          tokens_);
  ASSERT_TRUE(loyalty2.Start().ok()) << loyalty2.log();
  auto lstub = lv1::LoyaltyService::NewStub(loyalty2.channel());
  lv1::UpdateProgramRequest program;
  program.set_request_id("program-solo");
  *program.mutable_program() = DefaultProgram();
  lv1::Program p;
  s = lstub->UpdateProgram(Ctx(admin()).get(), program, &p);
  ASSERT_TRUE(s.ok()) << Describe(s);
  lv1::EnrolMemberRequest enrol;
  enrol.set_request_id("enrol-solo");
  enrol.mutable_member()->set_member_id("solo");
  enrol.mutable_member()->set_name("Solo");
  enrol.mutable_member()->set_email("solo@example.com");
  lv1::Member m;
  s = lstub->EnrolMember(Ctx(svc()).get(), enrol, &m);
  ASSERT_TRUE(s.ok()) << Describe(s);
  lv1::GetTierRequest get;
  get.set_member_id("solo");
  lv1::TierSnapshot tier;
  s = lstub->GetTier(Ctx(svc()).get(), get, &tier);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(tier.member_id(), "solo");
  EXPECT_FALSE(CachedTier("solo").has_value()) << "written to Redis without the password";
}

// (d) A configured secret that is missing, empty or short stops start-up
// (exit 2, the message naming the flag); so does a tier cache without a key.
TEST(TierCacheSecretsTest, RefuseToStartWithoutUsableSecrets) {
  TempDir dir;
  Tokens tokens = WriteTokens(dir.path());
  const std::string empty = dir.path() + "/empty", short_key = dir.path() + "/short", good_key = dir.path() + "/key";
  std::ofstream(empty) << "\n";
  std::ofstream(short_key) << "k1 " << std::string(31, 'x') << "\n";
  std::ofstream(good_key) << "k1 " << std::string(40, 'k') << "\n";
  struct Case {
    std::string binary;
    std::vector<std::string> args;
    std::string flag;
  };
  const std::string missing = dir.path() + "/missing";
  for (const Case& c : std::vector<Case>{
           {CARE_LOYALTY_BIN, {"--tier_cache_key_file=" + empty}, "tier_cache_key_file"},
           {CARE_LOYALTY_BIN, {"--tier_cache_key_file=" + short_key}, "tier_cache_key_file"},
           {CARE_LOYALTY_BIN, {}, "tier_cache_key_file is required"},
           {CARE_LOYALTY_BIN,
            {"--tier_cache_key_file=" + good_key, "--redis_password_file=" + empty},
            "redis_password_file"},
           {CARE_LOYALTY_BIN,
            {"--tier_cache_key_file=" + good_key, "--redis_password_file=" + missing},
            "redis_password_file"},
           {CARE_PROMOTION_BIN,
            {"--loyalty_target=127.0.0.1:1", "--service_token_file=" + tokens.file},
            "tier_cache_key_file is required"},
           {CARE_PROMOTION_BIN,
            {"--loyalty_target=127.0.0.1:1", "--service_token_file=" + tokens.file, "--tier_cache_key_file=" + good_key,
             "--redis_password_file=" + empty},
            "redis_password_file"},
       }) {
    Exited run = RunToExit(ServiceArgv(c.binary, tokens.file, dir.path(), c.args));
    EXPECT_EQ(run.code, 2) << c.binary << " " << c.flag;
    const std::string& out = run.log;
    EXPECT_NE(out.find("configuration error: " + c.flag), std::string::npos) << out;
    EXPECT_EQ(out.find("xxxxxxxx"), std::string::npos) << "key material echoed: " << out;
  }
}

}  // namespace
}  // namespace care::testing
