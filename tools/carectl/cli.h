#pragma once

// carectl's small framework: argument parsing, the call context, output as
// tables or JSON, and error reporting. A command is one entry in a group's
// table (commands.h) plus one function that builds the request, calls the
// stub through Context::Finish and prints the answer.

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "care/common/v1/common.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"

namespace carectl {

// Exit codes scripts can rely on.
constexpr int kOk = 0;
constexpr int kRpcError = 1;  // the call failed: status code and reason printed on stderr
constexpr int kUsage = 2;     // bad command line: nothing was sent

// A bad command line; main prints it with the command's usage and exits 2.
class UsageError final : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A command's own arguments: positionals in order and `--name=value` flags.
// Every accessor records what the command understands, and Done() refuses
// anything left over, so a typo never passes silently.
class Args final {
 public:
  explicit Args(std::vector<std::string> raw);

  std::string Positional(const std::string& name);  // required
  std::string OptionalPositional(const std::string& name, const std::string& fallback = "");
  int64_t IntPositional(const std::string& name);
  std::string Flag(const std::string& name, const std::string& fallback = "");
  int64_t IntFlag(const std::string& name, int64_t fallback);
  bool BoolFlag(const std::string& name);  // `--name` or `--name=true|false`
  // Throws on unknown flags and extra positionals.
  void Done();

 private:
  std::vector<std::string> positionals_;
  size_t next_ = 0;
  std::map<std::string, std::string> flags_;
  std::set<std::string> used_;
};

struct Options {
  std::string target;  // empty: CARE_<GROUP>_TARGET, CARE_TARGET, then the group's default
  std::string token;
  bool json = false;
  absl::Duration timeout = absl::Seconds(10);
};

class Context final {
 public:
  Context(Options options, std::shared_ptr<grpc::Channel> channel)
      : options_(std::move(options)), channel_(std::move(channel)) {}

  const Options& options() const { return options_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  // A client context with the bearer token and the deadline.
  std::unique_ptr<grpc::ClientContext> NewCall() const;

  // Ends a command: on error prints the status (code, message, reason,
  // field violations) and returns kRpcError; otherwise prints `response` as
  // JSON under --json, else calls `human`, and returns kOk.
  int Finish(const grpc::Status& status, const google::protobuf::Message& response,
             const std::function<void()>& human) const;

 private:
  Options options_;
  std::shared_ptr<grpc::Channel> channel_;
};

// `--request_id` if given, else a fresh one (retry with the same id to get
// the first answer back, AIP-155).
std::string RequestId(Args& args);

// Output helpers.
class Table final {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void Row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  // Aligned columns; `empty` is printed instead when there are no rows.
  void Print(const std::string& empty = "(none)") const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};
// "KEY  value" lines, aligned.
void PrintFields(const std::vector<std::pair<std::string, std::string>>& fields);
void PrintNextPage(const std::string& next_page_token);

std::string Time(const google::protobuf::Timestamp& t);  // RFC 3339 UTC, "-" when unset
std::string Money(const care::common::v1::Money& m);     // "125.00 USD"
// Parses "125", "125.5" or "125.50" in `currency`'s major units.
care::common::v1::Money ParseMoney(const std::string& text, const std::string& currency);
google::protobuf::Timestamp ParseTime(const std::string& flag, const std::string& text);  // RFC 3339
// An enum value without its type prefix: DELIVERY_STATUS_SENT -> "SENT".
std::string EnumName(const google::protobuf::EnumDescriptor* type, int value);
// "in_app" or "IN_APP" or "MESSAGE_CHANNEL_IN_APP" -> its number; UsageError otherwise.
int ParseEnum(const google::protobuf::EnumDescriptor* type, const std::string& flag, const std::string& text);

// One command of a group.
struct Command {
  std::string group;  // "loyalty"; "" for top-level commands (ping)
  std::string name;   // "get-member"
  std::string usage;  // arguments after the name
  std::string help;
  std::function<int(Context&, Args&)> run;
};

}  // namespace carectl
