// care_complaint: tickets from every channel, SLAs and escalation, scripts, goodwill, satisfaction.
#include "common/server.h"
#include "services/complaint/complaint_grpc.h"

int main(int argc, char** argv) {
  using care::complaint::v1::ComplaintService;
  care::ConfigReader config(argc, argv, "care_complaint: tickets from every channel, SLAs and escalation, scripts, goodwill, satisfaction");
  care::ServerConfig server_config = care::ServerConfig::Read(config, "complaint", 50053);
  config.Finish();

  care::ServerRunner runner(server_config, ComplaintService::service_full_name());
  runner.OpenDatabase({});
  care::complaint::ComplaintGrpc adapter;
  runner.AddService(&adapter, ComplaintService::service_full_name());
  return runner.Run();
}
