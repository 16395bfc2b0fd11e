// care_notification: durable schedules, templates, consent and exactly-once delivery.
#include "common/server.h"
#include "services/notification/notification_grpc.h"

int main(int argc, char** argv) {
  using care::notification::v1::NotificationService;
  care::ConfigReader config(argc, argv, "care_notification: durable schedules, templates, consent and exactly-once delivery");
  care::ServerConfig server_config = care::ServerConfig::Read(config, "notification", 50054);
  config.Finish();

  care::ServerRunner runner(server_config, NotificationService::service_full_name());
  runner.OpenDatabase({});
  care::notification::NotificationGrpc adapter;
  runner.AddService(&adapter, NotificationService::service_full_name());
  return runner.Run();
}
