// carectl: the operators' command line over the generated stubs.
//   carectl [--target=host:port] [--token=...|--token_file=...] [--json] <command> [args]
// Exit codes scripts can rely on: 0 ok, 1 the call failed (status printed
// with its code and reason), 2 bad usage.
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "care/common/v1/runtime.grpc.pb.h"
#include "common/auth.h"
#include "common/errors.h"
#include "common/grpc_status.h"
#include "common/outbox.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

namespace {

struct Options {
  std::string target = "127.0.0.1:50051";
  std::string token;
  bool json = false;
};

struct Command {
  std::string usage;
  std::string help;
  std::function<int(const Options&, const std::vector<std::string>&)> run;
};

int Fail(const grpc::Status& status) {
  absl::Status s = care::FromGrpcStatus(status);
  std::fprintf(stderr, "error: %s %s (reason %s)\n",
               absl::StatusCodeToString(s.code()).c_str(), std::string(s.message()).c_str(),
               care::ErrorReason(s).c_str());
  return 1;
}

void Print(const Options& options, const google::protobuf::Message& message, const std::string& text) {
  if (options.json) {
    std::string out;
    google::protobuf::util::JsonPrintOptions json;
    json.always_print_primitive_fields = true;
    (void)google::protobuf::util::MessageToJsonString(message, &out, json);
    std::printf("%s\n", out.c_str());
  } else {
    std::printf("%s\n", text.c_str());
  }
}

std::map<std::string, Command> Commands() {
  std::map<std::string, Command> commands;
  commands["ping"] = {"ping [payload]", "calls care.common.v1.Diagnostics/Ping: checks the token and the server",
                      [](const Options& o, const std::vector<std::string>& args) {
                        auto stub = care::common::v1::Diagnostics::NewStub(care::Dial(o.target));
                        care::common::v1::PingRequest request;
                        request.set_payload(args.empty() ? "ping" : args[0]);
                        care::common::v1::PingResponse response;
                        auto ctx = care::PeerContext({nullptr, o.token}, absl::Seconds(5));
                        grpc::Status s = stub->Ping(ctx.get(), request, &response);
                        if (!s.ok()) return Fail(s);
                        Print(o, response,
                              absl::StrCat("PAYLOAD  ", response.payload(), "\nSERVER   ",
                                           google::protobuf::util::TimeUtil::ToString(response.server_time())));
                        return 0;
                      }};
  return commands;
}

void Usage(const std::map<std::string, Command>& commands) {
  std::fprintf(stderr,
               "usage: carectl [--target=host:port] [--token=T | --token_file=F] [--json] <command> [args]\n"
               "  (CARE_TARGET, CARE_TOKEN, CARE_TOKEN_FILE are read too)\ncommands:\n");
  for (const auto& [name, c] : commands) std::fprintf(stderr, "  %-28s %s\n", c.usage.c_str(), c.help.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  auto commands = Commands();
  Options options;
  if (const char* t = std::getenv("CARE_TARGET")) options.target = t;
  if (const char* t = std::getenv("CARE_TOKEN")) options.token = t;
  std::string token_file = std::getenv("CARE_TOKEN_FILE") ? std::getenv("CARE_TOKEN_FILE") : "";
  int i = 1;
  for (; i < argc && std::string(argv[i]).rfind("--", 0) == 0; ++i) {
    std::string arg = argv[i];
    if (arg == "--json") {
      options.json = true;
    } else if (arg.rfind("--target=", 0) == 0) {
      options.target = arg.substr(9);
    } else if (arg.rfind("--token=", 0) == 0) {
      options.token = arg.substr(8);
    } else if (arg.rfind("--token_file=", 0) == 0) {
      token_file = arg.substr(13);
    } else if (arg == "--help") {
      Usage(commands);
      return 0;
    } else {
      std::fprintf(stderr, "carectl: unknown option %s\n", arg.c_str());
      Usage(commands);
      return 2;
    }
  }
  if (!token_file.empty()) {
    auto token = care::ReadSecretFile(token_file);
    if (!token.ok()) {
      std::fprintf(stderr, "carectl: %s\n", std::string(token.status().message()).c_str());
      return 2;
    }
    options.token = *token;
  }
  if (i >= argc) {
    Usage(commands);
    return 2;
  }
  auto it = commands.find(argv[i]);
  if (it == commands.end()) {
    std::fprintf(stderr, "carectl: unknown command \"%s\"\n", argv[i]);
    Usage(commands);
    return 2;
  }
  std::vector<std::string> args(argv + i + 1, argv + argc);
  if (!args.empty() && args[0] == "--help") {
    std::printf("usage: carectl %s\n  %s\n", it->second.usage.c_str(), it->second.help.c_str());
    return 0;
  }
  return it->second.run(options, args);
}
