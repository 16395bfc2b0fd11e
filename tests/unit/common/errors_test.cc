// common/errors.h, common/grpc_status.h and the JSON quoting of common/log.h.
#include "common/errors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "tests/harness/harness.h"

namespace care {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kBadRequestUrl[] = "type.googleapis.com/google.rpc.BadRequest";

google::rpc::BadRequest BadRequestOf(const absl::Status& s) {
  google::rpc::BadRequest bad;
  auto payload = s.GetPayload(kBadRequestUrl);
  EXPECT_TRUE(payload.has_value()) << "no BadRequest payload on " << s;
  if (payload) {
    EXPECT_TRUE(bad.ParseFromString(std::string(*payload)));
  }
  return bad;
}

TEST(ErrorsTest, ErrorCarriesReasonAndMetadata) {
  absl::Status s = Error(absl::StatusCode::kFailedPrecondition, "TICKET_CLOSED", "ticket t1 is closed",
                         {{"ticket", "t1"}, {"state", "CLOSED"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "ticket t1 is closed");
  EXPECT_EQ(ErrorReason(s), "TICKET_CLOSED");
  EXPECT_EQ(ErrorMetadataValue(s, "ticket"), "t1");
  EXPECT_EQ(ErrorMetadataValue(s, "state"), "CLOSED");
  EXPECT_EQ(ErrorMetadataValue(s, "absent"), "");
}

TEST(ErrorsTest, PlainStatusHasNoReason) {
  EXPECT_EQ(ErrorReason(absl::InternalError("boom")), "");
  EXPECT_EQ(ErrorReason(absl::OkStatus()), "");
}

TEST(ErrorsTest, HelpersSetTheirCodes) {
  EXPECT_EQ(NotFound("MEMBER_NOT_FOUND", "m").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(AlreadyExists("DUP", "m").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(FailedPrecondition("FP", "m").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Unavailable("DOWN", "m").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorReason(NotFound("MEMBER_NOT_FOUND", "m")), "MEMBER_NOT_FOUND");
  EXPECT_EQ(ErrorReason(Unavailable("DOWN", "m")), "DOWN");
}

TEST(ErrorsTest, InvalidFieldNamesTheField) {
  absl::Status s = InvalidField("lines[2].quantity", "must be positive");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorReason(s), "INVALID_FIELD");
  EXPECT_EQ(ErrorMetadataValue(s, "field"), "lines[2].quantity");
  EXPECT_THAT(std::string(s.message()), HasSubstr("lines[2].quantity"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("must be positive"));
  google::rpc::BadRequest bad = BadRequestOf(s);
  ASSERT_EQ(bad.field_violations_size(), 1);
  EXPECT_EQ(bad.field_violations(0).field(), "lines[2].quantity");
  EXPECT_EQ(bad.field_violations(0).description(), "must be positive");
}

TEST(ErrorsTest, FieldErrorsNamesEveryField) {
  FieldErrors errors;
  EXPECT_TRUE(errors.empty());
  EXPECT_TRUE(errors.ToStatus().ok());
  errors.Add("member_id", "is required");
  errors.Add("amount.currency_code", "must be an ISO 4217 code");
  EXPECT_FALSE(errors.empty());
  absl::Status s = errors.ToStatus();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorReason(s), "INVALID_FIELD");
  google::rpc::BadRequest bad = BadRequestOf(s);
  std::vector<std::string> fields;
  for (const auto& v : bad.field_violations()) fields.push_back(v.field());
  EXPECT_THAT(fields, ElementsAre("member_id", "amount.currency_code"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("member_id"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("amount.currency_code"));
}

TEST(ErrorsTest, RequireChecks) {
  FieldErrors e;
  EXPECT_TRUE(e.RequireNonEmpty("a", "x"));
  EXPECT_FALSE(e.RequireNonEmpty("b", ""));
  EXPECT_TRUE(e.RequireId("c", "member-1.x_y:z"));
  EXPECT_FALSE(e.RequireId("d", "has space"));
  EXPECT_FALSE(e.RequireId("e", std::string(129, 'a')));
  EXPECT_TRUE(e.RequireId("c2", std::string(128, 'a')));
  EXPECT_FALSE(e.RequireId("f", ""));
  EXPECT_TRUE(e.RequireRange("g", 5, 1, 5));
  EXPECT_FALSE(e.RequireRange("h", 0, 1, 5));
  EXPECT_FALSE(e.RequireRange("h2", 6, 1, 5));
  EXPECT_TRUE(e.RequireTimeZone("i", "UTC"));
  EXPECT_FALSE(e.RequireTimeZone("j", "Not/AZone"));
  EXPECT_FALSE(e.RequireTimeZone("j2", ""));
  EXPECT_TRUE(e.RequireCurrency("k", "USD"));
  EXPECT_FALSE(e.RequireCurrency("l", "usd"));
  EXPECT_FALSE(e.RequireCurrency("l2", "US"));
  EXPECT_TRUE(e.RequireMaxLength("m", "abc", 3));
  EXPECT_FALSE(e.RequireMaxLength("n", "abcd", 3));
  google::rpc::BadRequest bad = BadRequestOf(e.ToStatus());
  std::vector<std::string> fields;
  for (const auto& v : bad.field_violations()) fields.push_back(v.field());
  EXPECT_THAT(fields, ElementsAre("b", "d", "e", "f", "h", "h2", "j", "j2", "l", "l2", "n"));
}

// Issue 15, defect 9: whatever the request, an error stays a few KiB.
TEST(ErrorsTest, TruncateUtf8CutsBetweenCharactersAndRepairsBadBytes) {
  EXPECT_EQ(TruncateUtf8("short", 10), "short");
  EXPECT_EQ(TruncateUtf8("abcdefghijk", 10), "abcdefg...");
  std::string japanese;
  for (int i = 0; i < 100; ++i) japanese += "日本語";  // 3 bytes each
  std::string cut = TruncateUtf8(japanese, 10);
  EXPECT_EQ(cut, "日本...");
  EXPECT_TRUE(CodePoints(cut).has_value());
  EXPECT_EQ(TruncateUtf8("a\xff\xc0"
                         "b",
                         10),
            "a??b");
  EXPECT_TRUE(CodePoints(TruncateUtf8(std::string(1000, '\xe6'), 100)).has_value());
  EXPECT_LE(TruncateUtf8(std::string(1000, 'x'), 3).size(), 3u);
}

TEST(ErrorsTest, EchoValueShowsOnlyAShortPrefix) {
  EXPECT_EQ(EchoValue("abc"), "\"abc\"");
  std::string huge(1 << 20, 'v');
  std::string echoed = EchoValue(huge);
  EXPECT_LT(echoed.size(), 80u);
  EXPECT_THAT(echoed, HasSubstr("(1048576 bytes)"));
}

TEST(ErrorsTest, FieldErrorsListTheFirstViolationsAndCountTheRest) {
  FieldErrors errors;
  for (int i = 0; i < 1000; ++i) errors.Add(absl::StrCat("lines[", i, "].quantity"), "must be >= 1");
  absl::Status s = errors.ToStatus();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_LE(s.message().size(), kMaxErrorMessageBytes);
  EXPECT_THAT(std::string(s.message()), HasSubstr("1000 invalid fields"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("lines[0].quantity"));
  EXPECT_EQ(ErrorMetadataValue(s, "violation_count"), "1000");
  google::rpc::BadRequest bad = BadRequestOf(s);
  ASSERT_EQ(bad.field_violations_size(), static_cast<int>(kMaxErrorViolations));
  EXPECT_EQ(bad.field_violations(0).field(), "lines[0].quantity");
  EXPECT_EQ(bad.field_violations(19).field(), "lines[19].quantity");
}

TEST(ErrorsTest, FieldErrorsCutHugeDescriptions) {
  FieldErrors errors;
  std::string huge(1 << 20, 'x');
  errors.Add("name", absl::StrCat("bad value ", huge));
  errors.Add(huge, "a huge field name");
  absl::Status s = errors.ToStatus();
  EXPECT_LE(s.message().size(), kMaxErrorMessageBytes);
  google::rpc::BadRequest bad = BadRequestOf(s);
  ASSERT_EQ(bad.field_violations_size(), 2);
  EXPECT_LE(bad.field_violations(0).description().size(), kMaxViolationDescriptionBytes);
  EXPECT_LE(bad.field_violations(1).field().size(), kMaxViolationFieldBytes);
}

// --- grpc_status ------------------------------------------------------------

google::rpc::Status DetailsOf(const grpc::Status& s) {
  google::rpc::Status details;
  EXPECT_TRUE(details.ParseFromString(s.error_details())) << "error_details is not a google.rpc.Status";
  return details;
}

google::rpc::ErrorInfo InfoOf(const grpc::Status& s) {
  google::rpc::ErrorInfo info;
  bool found = false;
  google::rpc::Status details = DetailsOf(s);
  for (const auto& any : details.details()) found = found || any.UnpackTo(&info);
  EXPECT_TRUE(found) << "no ErrorInfo in the details";
  return info;
}

TEST(GrpcStatusTest, OkStaysOk) { EXPECT_TRUE(ToGrpcStatus(absl::OkStatus(), "x.care").ok()); }

TEST(GrpcStatusTest, ReasonLessStatusBecomesInternalWithoutItsText) {
  for (const absl::Status& internal :
       {absl::InternalError("sqlite step: no such table: members (SELECT * FROM members)"),
        absl::NotFoundError("sqlite open /var/data/loyalty.db"),
        absl::InvalidArgumentError("std::out_of_range: vector::_M_range_check")}) {
    grpc::Status s = ToGrpcStatus(internal, "loyalty.care");
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL) << internal;
    EXPECT_THAT(s.error_message(), Not(HasSubstr("sqlite")));
    EXPECT_THAT(s.error_message(), Not(HasSubstr("members")));
    EXPECT_THAT(s.error_message(), Not(HasSubstr("out_of_range")));
    EXPECT_THAT(s.error_details(), Not(HasSubstr("sqlite")));
    EXPECT_THAT(s.error_details(), Not(HasSubstr("members")));
    EXPECT_THAT(s.error_details(), Not(HasSubstr("_M_range_check")));
    google::rpc::ErrorInfo info = InfoOf(s);
    EXPECT_EQ(info.reason(), "INTERNAL");
    EXPECT_EQ(info.domain(), "loyalty.care");
    EXPECT_EQ(testing::Reason(s), "INTERNAL");
    EXPECT_EQ(DetailsOf(s).code(), static_cast<int>(grpc::StatusCode::INTERNAL));
  }
}

TEST(GrpcStatusTest, UnknownCodeIsNeverSent) {
  grpc::Status s = ToGrpcStatus(Error(absl::StatusCode::kUnknown, "WHATEVER", "m"), "x.care");
  EXPECT_NE(s.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL);
}

TEST(GrpcStatusTest, ReasonedStatusKeepsCodeMessageAndErrorInfo) {
  absl::Status in = Error(absl::StatusCode::kFailedPrecondition, "INSUFFICIENT_POINTS", "balance 10 is below 50",
                          {{"balance", "10"}});
  grpc::Status s = ToGrpcStatus(in, "loyalty.care");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(s.error_message(), "balance 10 is below 50");
  google::rpc::Status details = DetailsOf(s);
  EXPECT_EQ(details.code(), static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION));
  EXPECT_EQ(details.message(), "balance 10 is below 50");
  google::rpc::ErrorInfo info = InfoOf(s);
  EXPECT_EQ(info.reason(), "INSUFFICIENT_POINTS");
  EXPECT_EQ(info.domain(), "loyalty.care");
  EXPECT_EQ(info.metadata().at("balance"), "10");
  EXPECT_EQ(testing::ReasonMetadata(s, "balance"), "10");
}

TEST(GrpcStatusTest, InvalidFieldKeepsBadRequest) {
  grpc::Status s = ToGrpcStatus(InvalidField("member_id", "is required"), "loyalty.care");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(testing::Reason(s), "INVALID_FIELD");
  EXPECT_THAT(testing::BadFields(s), ElementsAre("member_id"));
}

TEST(GrpcStatusTest, CancelledAndDeadlineKeepTheirCodes) {
  grpc::Status c = ToGrpcStatus(absl::CancelledError("client went away at line 42"), "x.care");
  EXPECT_EQ(c.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(testing::Reason(c), "CANCELLED");
  EXPECT_THAT(c.error_message(), Not(HasSubstr("line 42")));
  grpc::Status d = ToGrpcStatus(absl::DeadlineExceededError("sqlite busy"), "x.care");
  EXPECT_EQ(d.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(testing::Reason(d), "DEADLINE_EXCEEDED");
  EXPECT_THAT(d.error_message(), Not(HasSubstr("sqlite")));
}

TEST(GrpcStatusTest, FromGrpcStatusRoundTrip) {
  absl::Status in = Error(absl::StatusCode::kNotFound, "MEMBER_NOT_FOUND", "no member m-1", {{"member_id", "m-1"}});
  absl::Status out = FromGrpcStatus(ToGrpcStatus(in, "loyalty.care"));
  EXPECT_EQ(out.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(out.message(), "no member m-1");
  EXPECT_EQ(ErrorReason(out), "MEMBER_NOT_FOUND");
  EXPECT_EQ(ErrorMetadataValue(out, "member_id"), "m-1");
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

TEST(GrpcStatusTest, FromGrpcStatusWithoutDetailsNamesTheCode) {
  absl::Status down = FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection refused"));
  EXPECT_EQ(down.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorReason(down), "PEER_UNAVAILABLE");
  absl::Status other = FromGrpcStatus(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "nope"));
  EXPECT_EQ(other.code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(ErrorReason(other), "PEER_ERROR");
  // A peer's reason passes through a second hop unchanged.
  grpc::Status hop = ToGrpcStatus(FromGrpcStatus(ToGrpcStatus(Unavailable("REDIS_UNAVAILABLE", "m"), "a")), "b");
  EXPECT_EQ(testing::Reason(hop), "REDIS_UNAVAILABLE");
  EXPECT_EQ(hop.error_code(), grpc::StatusCode::UNAVAILABLE);
}

// --- log --------------------------------------------------------------------

TEST(GrpcStatusTest, EveryErrorFitsADefaultClientsHeaders) {
  // A status built anywhere (not only through FieldErrors) is capped too.
  std::string huge(1 << 20, 'x');
  absl::Status s = Error(absl::StatusCode::kFailedPrecondition, "SOMETHING", huge, {{"value", huge}});
  google::rpc::BadRequest bad;
  for (int i = 0; i < 500; ++i) {
    auto* v = bad.add_field_violations();
    v->set_field(absl::StrCat("lines[", i, "].sku"));
    v->set_description(huge.substr(0, 1000));
  }
  s.SetPayload(kBadRequestUrl, absl::Cord(bad.SerializeAsString()));
  grpc::Status out = ToGrpcStatus(s, "x.care");
  EXPECT_EQ(out.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_LE(out.error_message().size(), kMaxErrorMessageBytes);
  EXPECT_LE(out.error_details().size(), kMaxErrorDetailsBytes);
  EXPECT_EQ(InfoOf(out).reason(), "SOMETHING");
  EXPECT_LE(InfoOf(out).metadata().at("value").size(), kMaxErrorMetadataValueBytes);
  google::rpc::BadRequest sent;
  google::rpc::Status details = DetailsOf(out);
  for (const auto& any : details.details()) any.UnpackTo(&sent);
  EXPECT_GT(sent.field_violations_size(), 0);
  EXPECT_EQ(sent.field_violations(0).field(), "lines[0].sku");
}

TEST(LogTest, ALoggedValueIsBoundedAndNeverCutInsideACharacter) {
  // A 3 MB request id from an unauthenticated caller is logged as a prefix
  // and its size, not as a 3 MB line.
  const std::string huge(3 * 1024 * 1024, 'x');
  const std::string logged = LogValue(huge).json();
  EXPECT_LT(logged.size(), 1100u);
  EXPECT_NE(logged.find("(3145728 bytes)"), std::string::npos) << logged;
  std::string vietnamese;
  for (int i = 0; i < 500; ++i) vietnamese += "\xe1\xbb\x87";  // ệ, 3 bytes each
  const std::string cut = LogValue(vietnamese).json();
  EXPECT_TRUE(CodePoints(cut).has_value()) << "cut inside a character";
  EXPECT_EQ(LogValue("short").json(), "\"short\"");
}

TEST(LogTest, JsonQuoteEscapes) {
  EXPECT_EQ(JsonQuote("plain"), "\"plain\"");
  EXPECT_EQ(JsonQuote("a\"b\\c\nd\te\r"), "\"a\\\"b\\\\c\\nd\\te\\r\"");
  EXPECT_EQ(JsonQuote(absl::string_view("\x01", 1)), "\"\\u0001\"");
}

TEST(LogTest, ParseLogLevel) {
  LogLevel level;
  ASSERT_TRUE(ParseLogLevel("warn", &level));
  EXPECT_EQ(level, LogLevel::kWarn);
  EXPECT_FALSE(ParseLogLevel("verbose", &level));
}

}  // namespace
}  // namespace care
