// care_test_server: the shared runtime alone (Diagnostics, and ClockControl
// under --fake_clock) behind the real ServerRunner, so the harness and the
// server runner can be tested without any service's domain code.
#include "common/server.h"

int main(int argc, char** argv) {
  care::ConfigReader config(argc, argv, "care_test_server: the CareSuite runtime with no service");
  care::ServerConfig server_config = care::ServerConfig::Read(config, "testsrv", 0);
  config.Finish();

  care::ServerRunner runner(server_config, "care.common.v1.Diagnostics");
  runner.OpenDatabase({});
  return runner.Run();
}
