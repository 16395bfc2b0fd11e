// common/auth.h: the token file, authentication and authorization.
#include "common/auth.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "tests/harness/harness.h"

namespace care {
namespace {

using care::common::v1::Access;
using care::common::v1::ROLE_ADMIN;
using care::common::v1::ROLE_AGENT;
using care::common::v1::ROLE_SERVICE;
using care::common::v1::ROLE_SUPERVISOR;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr char kAdminToken[] = "admin-token-0123456789";
constexpr char kMixedToken[] = "mixed-token-0123456789";

TokenRegistry Registry() {
  auto r = TokenRegistry::FromText(
      absl::StrCat("# comment line\n"
                   "\n",
                   kAdminToken, " admin:root admin   # trailing comment\n", "   ", kMixedToken,
                   "   agent:alice   agent,supervisor  \n"));
  EXPECT_TRUE(r.ok()) << r.status();
  return *std::move(r);
}

Access Allow(std::initializer_list<care::common::v1::Role> roles) {
  Access a;
  for (auto r : roles) a.add_roles(r);
  return a;
}

TEST(TokenRegistryTest, ParsesPrincipalsAndRoles) {
  TokenRegistry r = Registry();
  auto admin = r.Authenticate(absl::StrCat("Bearer ", kAdminToken));
  ASSERT_TRUE(admin.ok()) << admin.status();
  EXPECT_EQ((*admin)->name, "admin:root");
  EXPECT_THAT((*admin)->roles, UnorderedElementsAre(ROLE_ADMIN));
  auto mixed = r.Authenticate(absl::StrCat("Bearer ", kMixedToken));
  ASSERT_TRUE(mixed.ok()) << mixed.status();
  EXPECT_EQ((*mixed)->name, "agent:alice");
  EXPECT_THAT((*mixed)->roles, UnorderedElementsAre(ROLE_AGENT, ROLE_SUPERVISOR));
}

// issue 16, defect 3: the suite's own services hold `peer`, a role of its own.
TEST(TokenRegistryTest, ParsesThePeerRole) {
  auto r = TokenRegistry::FromText("0123456789abcdef-peer svc:promotion peer\n");
  ASSERT_TRUE(r.ok()) << r.status();
  auto p = r->Authenticate("Bearer 0123456789abcdef-peer");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)->name, "svc:promotion");
  EXPECT_THAT((*p)->roles, UnorderedElementsAre(care::common::v1::ROLE_PEER));
  EXPECT_FALSE(Authorize(**p, Allow({ROLE_SERVICE}), "M").ok());
}

TEST(TokenRegistryTest, RejectsMalformedFiles) {
  struct Case {
    std::string text;
    std::string why;
  };
  for (const Case& c : std::vector<Case>{
           {"short-token p admin\n", "token of 16"},
           {"0123456789abcdef-long p\n", "token of 16"},              // no roles
           {"0123456789abcdef-long p admin extra\n", "token of 16"},  // too many parts
           {"0123456789abcdef-long p root\n", "unknown role"},
           {"0123456789abcdef-long p admin,\n", "unknown role"},
           {"0123456789abcdef-long p Admin\n", "unknown role"},
           {"", "no tokens"},
           {"# only a comment\n\n", "no tokens"},
       }) {
    auto r = TokenRegistry::FromText(c.text);
    EXPECT_FALSE(r.ok()) << "accepted: " << c.text;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
      EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.why)) << c.text;
    }
  }
}

TEST(TokenRegistryTest, ErrorNamesTheLine) {
  auto r = TokenRegistry::FromText("0123456789abcdef-long p admin\n\nbad\n");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("line 3"));
}

TEST(TokenRegistryTest, FromFile) {
  testing::TempDir dir;
  EXPECT_EQ(TokenRegistry::FromFile(dir.path() + "/absent").status().code(), absl::StatusCode::kNotFound);
  std::string path = dir.path() + "/tokens";
  std::ofstream(path) << kAdminToken << " admin:root admin\n";
  auto r = TokenRegistry::FromFile(path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->Authenticate(absl::StrCat("Bearer ", kAdminToken)).ok());
  std::ofstream(path) << "short p admin\n";
  auto bad = TokenRegistry::FromFile(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr(path));
}

TEST(TokenRegistryTest, MissingHeaderIsUnauthenticated) {
  auto p = Registry().Authenticate("");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(ErrorReason(p.status()), "MISSING_TOKEN");
}

TEST(TokenRegistryTest, InvalidHeadersAreUnauthenticated) {
  TokenRegistry r = Registry();
  std::string admin = kAdminToken;
  for (const std::string& header : {std::string("Bearer wrong-token-0123456789"), "Basic " + admin, "Bearer" + admin,
                                    "bearer:" + admin, admin, "Bearer " + admin.substr(0, admin.size() - 1),
                                    "Bearer " + admin + "x", std::string("Bearer "), "Bearer  " + admin}) {
    auto p = r.Authenticate(header);
    EXPECT_FALSE(p.ok()) << "accepted header: " << header;
    if (!p.ok()) {
      EXPECT_EQ(p.status().code(), absl::StatusCode::kUnauthenticated) << header;
      EXPECT_EQ(ErrorReason(p.status()), "INVALID_TOKEN") << header;
      // The message must not echo the presented token back.
      EXPECT_THAT(std::string(p.status().message()), ::testing::Not(HasSubstr(admin.substr(0, 12))));
    }
  }
}

// Issue 16, defect 9: RFC 6750's scheme name is case-insensitive.
TEST(TokenRegistryTest, TheBearerSchemeIsCaseInsensitive) {
  TokenRegistry r = Registry();
  for (const std::string& scheme : {"Bearer", "bearer", "BEARER", "bEaReR"}) {
    auto p = r.Authenticate(absl::StrCat(scheme, " ", kAdminToken));
    ASSERT_TRUE(p.ok()) << scheme << ": " << p.status();
    EXPECT_EQ((*p)->name, "admin:root");
  }
  // The token itself is not: it is a secret compared byte for byte.
  std::string upper = kAdminToken;
  for (char& c : upper) c = absl::ascii_toupper(static_cast<unsigned char>(c));
  EXPECT_FALSE(r.Authenticate("Bearer " + upper).ok());
}

// Issue 16, defect 9: a token listed twice is refused, naming both lines and
// never the token.
TEST(TokenRegistryTest, RefusesATokenListedTwice) {
  auto r = TokenRegistry::FromText(absl::StrCat(kAdminToken, " admin:root admin\n", "# comment\n", kMixedToken,
                                                " agent:alice agent\n", kAdminToken, " agent:bob agent\n"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("line 4: the same token as line 1"));
  EXPECT_THAT(std::string(r.status().message()), ::testing::Not(HasSubstr(kAdminToken)));

  testing::TempDir dir;
  std::string path = dir.path() + "/tokens";
  std::ofstream(path) << kAdminToken << " admin:root admin\n" << kAdminToken << " admin:root admin\n";
  auto from_file = TokenRegistry::FromFile(path);
  ASSERT_FALSE(from_file.ok());
  EXPECT_THAT(std::string(from_file.status().message()), HasSubstr(path + ": token file line 2"));
}

// Issue 16, defect 9: a tokens file others can read is worth a warning; one
// only its owner reads, or a Kubernetes Secret read through its group, is not.
TEST(TokenRegistryTest, WarnsWhenTheFileIsOpenToOthers) {
  testing::TempDir dir;
  std::string path = dir.path() + "/tokens";
  std::ofstream(path) << kAdminToken << " admin:root admin\n";
  auto load = [&](std::filesystem::perms perms) {
    std::filesystem::permissions(path, perms);
    ::testing::internal::CaptureStderr();
    auto r = TokenRegistry::FromFile(path);
    std::string logged = ::testing::internal::GetCapturedStderr();
    EXPECT_TRUE(r.ok()) << r.status();
    return logged;
  };
  using P = std::filesystem::perms;
  EXPECT_EQ(load(P::owner_read | P::owner_write), "");
  EXPECT_EQ(load(P::owner_read), "");
  for (P open : {P::owner_read | P::owner_write | P::group_read | P::others_read, P::owner_read | P::others_read,
                 P::owner_read | P::group_read, P::owner_read | P::group_write}) {
    std::string logged = load(open);
    EXPECT_THAT(logged, HasSubstr("the tokens file is open to more than this service")) << static_cast<int>(open);
    EXPECT_THAT(logged, HasSubstr(path));
    EXPECT_THAT(logged, ::testing::Not(HasSubstr(kAdminToken)));
  }
}

TEST(AuthorizeTest, AllowsAnyListedRole) {
  TokenRegistry r = Registry();
  const Principal* mixed = *r.Authenticate(absl::StrCat("Bearer ", kMixedToken));
  EXPECT_TRUE(Authorize(*mixed, Allow({ROLE_SUPERVISOR}), "/m").ok());
  EXPECT_TRUE(Authorize(*mixed, Allow({ROLE_ADMIN, ROLE_AGENT}), "/m").ok());
}

TEST(AuthorizeTest, DeniesWithoutARole) {
  TokenRegistry r = Registry();
  const Principal* mixed = *r.Authenticate(absl::StrCat("Bearer ", kMixedToken));
  absl::Status s = Authorize(*mixed, Allow({ROLE_ADMIN, ROLE_SERVICE}), "/care.x.v1.X/Configure");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrorReason(s), "MISSING_ROLE");
  EXPECT_EQ(ErrorMetadataValue(s, "method"), "/care.x.v1.X/Configure");
  EXPECT_EQ(ErrorMetadataValue(s, "principal"), "agent:alice");
  EXPECT_THAT(std::string(s.message()), HasSubstr("ROLE_ADMIN"));
  // An empty access list allows nobody.
  EXPECT_EQ(Authorize(*mixed, Access(), "/m").code(), absl::StatusCode::kPermissionDenied);
}

// issue 16, defect 3: a peer may call a peer method only when it is the
// service that legitimately calls it; other roles pass to their own checks.
TEST(AuthorizePeerTest, AllowsOnlyTheListedPeers) {
  Principal complaint{"svc:complaint", {care::common::v1::ROLE_PEER}};
  Principal notification{"svc:notification", {care::common::v1::ROLE_PEER}};
  EXPECT_TRUE(AuthorizePeer(complaint, {"svc:complaint"}, "AdjustPoints").ok());
  EXPECT_TRUE(AuthorizePeer(notification, {"svc:complaint", "svc:notification"}, "M").ok());
  Principal promotion{"svc:promotion", {care::common::v1::ROLE_PEER}};
  absl::Status s = AuthorizePeer(promotion, {"svc:complaint"}, "AdjustPoints");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrorReason(s), "PEER_NOT_ALLOWED");
  EXPECT_EQ(ErrorMetadataValue(s, "method"), "AdjustPoints");
  EXPECT_EQ(ErrorMetadataValue(s, "principal"), "svc:promotion");
  EXPECT_EQ(ErrorMetadataValue(s, "allowed"), "svc:complaint");
  EXPECT_THAT(std::string(s.message()), HasSubstr("svc:complaint"));
  // No allowed peer: every peer is refused.
  EXPECT_EQ(ErrorReason(AuthorizePeer(complaint, {}, "M")), "PEER_NOT_ALLOWED");
}

TEST(AuthorizePeerTest, PassesPrincipalsWithoutThePeerRole) {
  Principal supervisor{"supervisor:sam", {ROLE_SUPERVISOR}};
  Principal backend{"svc:complaint", {ROLE_SERVICE}};  // the name alone grants nothing
  EXPECT_TRUE(AuthorizePeer(supervisor, {"svc:complaint"}, "AdjustPoints").ok());
  EXPECT_TRUE(AuthorizePeer(backend, {}, "AdjustPoints").ok());
  // A peer token that also lists a human role is still judged as a peer.
  Principal both{"svc:promotion", {care::common::v1::ROLE_PEER, ROLE_ADMIN}};
  EXPECT_EQ(ErrorReason(AuthorizePeer(both, {"svc:complaint"}, "AdjustPoints")), "PEER_NOT_ALLOWED");
}

TEST(ReadSecretFileTest, TrimsTheContent) {
  testing::TempDir dir;
  std::string path = dir.path() + "/secret";
  std::ofstream(path) << "  s3cr3t-token\n\n";
  auto s = ReadSecretFile(path);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "s3cr3t-token");
  EXPECT_FALSE(ReadSecretFile(dir.path() + "/absent").ok());
}

TEST(HarnessTokensTest, WriteTokensProducesAValidRegistry) {
  testing::TempDir dir;
  testing::Tokens t = testing::WriteTokens(dir.path());
  auto r = TokenRegistry::FromFile(t.file);
  ASSERT_TRUE(r.ok()) << r.status();
  auto roles = [&](const std::string& token) {
    auto p = r->Authenticate("Bearer " + token);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? (*p)->roles : std::set<care::common::v1::Role>{};
  };
  EXPECT_THAT(roles(t.admin), UnorderedElementsAre(ROLE_ADMIN));
  EXPECT_THAT(roles(t.service), UnorderedElementsAre(ROLE_SERVICE));
  EXPECT_THAT(roles(t.agent), UnorderedElementsAre(ROLE_AGENT));
  EXPECT_THAT(roles(t.supervisor), UnorderedElementsAre(ROLE_SUPERVISOR));
  EXPECT_THAT(roles(t.no_role_holder), UnorderedElementsAre(ROLE_AGENT));
  std::set<std::string> distinct = {t.admin, t.service, t.agent, t.supervisor, t.no_role_holder};
  EXPECT_EQ(distinct.size(), 5u);
  // `svc:` names the suite's own services; a test backend is not one of them.
  auto service = r->Authenticate("Bearer " + t.service);
  ASSERT_TRUE(service.ok()) << service.status();
  EXPECT_EQ((*service)->name, "backend:test");
  for (const std::string* peer : {&t.peer_loyalty, &t.peer_promotion, &t.peer_complaint, &t.peer_notification}) {
    EXPECT_THAT(roles(*peer), UnorderedElementsAre(care::common::v1::ROLE_PEER));
    EXPECT_TRUE(distinct.insert(*peer).second);
  }
}

}  // namespace
}  // namespace care
