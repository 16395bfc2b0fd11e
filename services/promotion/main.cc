// care_promotion: campaigns, vouchers, budgets and cart quotes.
#include "common/server.h"
#include "services/promotion/promotion_grpc.h"

int main(int argc, char** argv) {
  using care::promotion::v1::PromotionService;
  care::ConfigReader config(argc, argv, "care_promotion: campaigns, vouchers, budgets and cart quotes");
  care::ServerConfig server_config = care::ServerConfig::Read(config, "promotion", 50052);
  config.Finish();

  care::ServerRunner runner(server_config, PromotionService::service_full_name());
  runner.OpenDatabase({});
  care::promotion::PromotionGrpc adapter;
  runner.AddService(&adapter, PromotionService::service_full_name());
  return runner.Run();
}
