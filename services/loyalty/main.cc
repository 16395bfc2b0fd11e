// care_loyalty: members, points, tiers and rewards.
#include "common/server.h"
#include "services/loyalty/loyalty_grpc.h"

int main(int argc, char** argv) {
  using care::loyalty::v1::LoyaltyService;
  care::ConfigReader config(argc, argv, "care_loyalty: members, points, tiers and rewards");
  care::ServerConfig server_config = care::ServerConfig::Read(config, "loyalty", 50051);
  config.Finish();

  care::ServerRunner runner(server_config, LoyaltyService::service_full_name());
  runner.OpenDatabase({});
  care::loyalty::LoyaltyGrpc adapter;
  runner.AddService(&adapter, LoyaltyService::service_full_name());
  return runner.Run();
}
