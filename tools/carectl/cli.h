#pragma once

// carectl's small framework: the call context, output as a table, JSON or
// YAML, and error reporting. A command is one entry in a group's table
// (commands.h) plus one function that builds the request, calls the stub
// through Context::Finish and prints the answer. CLI11 parses the command
// line (parser.cc): each command's options and positionals come from its
// usage string, so the help shown and what is accepted cannot drift apart.

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

// A command's own arguments as CLI11 parsed them: the positionals given, in
// order, and the flags given (`--name value` or `--name=value`; a bare bool
// flag is "true"). Flag names are looked up with `_` or `-` alike. Done()
// refuses anything the command did not read, so a usage string naming a
// flag the command ignores fails its test rather than passing silently.
class Args final {
 public:
  Args(std::vector<std::string> positionals, const std::map<std::string, std::string>& flags);

  std::string Positional(const std::string& name);  // required
  std::string OptionalPositional(const std::string& name, const std::string& fallback = "");
  int64_t IntPositional(const std::string& name);
  std::string Flag(const std::string& name, const std::string& fallback = "");
  int64_t IntFlag(const std::string& name, int64_t fallback);
  bool BoolFlag(const std::string& name);  // `--name` or `--name=true|false`
  // Every value of a repeatable positional from here on (`<event_id>...`).
  std::vector<std::string> RestPositionals();
  // Throws on unknown flags and extra positionals.
  void Done();

 private:
  std::vector<std::string> positionals_;
  size_t next_ = 0;
  std::map<std::string, std::string> flags_;
  std::set<std::string> used_;
};

enum class Output { kTable, kJson, kYaml };

struct Options {
  std::string target;  // empty: CARE_<GROUP>_TARGET, CARE_TARGET, then the group's default
  std::string token;
  Output output = Output::kTable;
  absl::Duration timeout = absl::Seconds(10);
};

class Context final {
 public:
  Context(Options options, std::shared_ptr<grpc::Channel> channel)
      : options_(std::move(options)), channel_(std::move(channel)) {}

  const Options& options() const { return options_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  // A channel to another service (its CARE_<SERVICE>_TARGET, else its local
  // default), for commands that gather from several (privacy export).
  using Dialer = std::function<std::shared_ptr<grpc::Channel>(const std::string& service)>;
  void set_dialer(Dialer dialer) { dialer_ = std::move(dialer); }
  std::shared_ptr<grpc::Channel> ChannelTo(const std::string& service) const { return dialer_(service); }
  // A client context with the bearer token and the deadline.
  std::unique_ptr<grpc::ClientContext> NewCall() const;

  // Ends a command: on error prints the status (code, message, reason,
  // field violations) and returns kRpcError; otherwise prints `response` as
  // JSON or YAML under -o json|yaml, else calls `human`, and returns kOk.
  int Finish(const grpc::Status& status, const google::protobuf::Message& response,
             const std::function<void()>& human) const;

 private:
  Options options_;
  std::shared_ptr<grpc::Channel> channel_;
  Dialer dialer_;
};

// `--request_id` if given, else a fresh one (retry with the same id to get
// the first answer back, AIP-155).
std::string RequestId(Args& args);

// `response` as JSON (every field, zero values too, proto field names) or YAML.
void PrintMessage(const google::protobuf::Message& response, Output output);
// The JSON form of `message` above, as YAML (block style, strings quoted only where YAML needs it).
std::string JsonToYaml(const std::string& json);
// Reads a resource from a JSON file ("-": stdin) into `message`; UsageError when it cannot.
void ReadMessageFile(const std::string& path, google::protobuf::Message* message);
// The top-level fields `message` sets, but not those in `skip` (ids, versions, output-only
// times): the update mask of "apply this file".
std::vector<std::string> SetFieldPaths(const google::protobuf::Message& message, const std::set<std::string>& skip);

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
std::string Money(const care::common::v1::Money& m);     // "125.00 USD", "1.250 KWD", "1500 JPY"
// The currency's minor-unit digits from ICU's ISO 4217 data: 2 for USD, 3 for KWD, 0 for JPY.
int CurrencyDigits(const std::string& currency);
// Parses "125", "125.5" or "125.50" in `currency`'s major units (up to its minor-unit digits).
care::common::v1::Money ParseMoney(const std::string& text, const std::string& currency);
google::protobuf::Timestamp ParseTime(const std::string& flag, const std::string& text);  // RFC 3339
// An enum value without its type prefix: DELIVERY_STATUS_SENT -> "SENT".
std::string EnumName(const google::protobuf::EnumDescriptor* type, int value);
// "in_app" or "IN_APP" or "MESSAGE_CHANNEL_IN_APP" -> its number; UsageError otherwise.
int ParseEnum(const google::protobuf::EnumDescriptor* type, const std::string& flag, const std::string& text);

// One command of a group.
struct Command {
  std::string group;  // "loyalty" or "loyalty outbox"; "" for top-level commands (ping)
  std::string name;   // "get-member"
  // Arguments after the name; also what the parser accepts: `<x>` and `[<x>]`
  // positionals, `X...` or `<x>...` repeated ones, `--name=VALUE` options and
  // `--name` bool flags (all optional to the parser: commands say what is missing).
  std::string usage;
  std::string help;
  std::function<int(Context&, Args&)> run;
};

}  // namespace carectl
