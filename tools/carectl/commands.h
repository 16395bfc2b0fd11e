#pragma once

// Every carectl command, by group. Adding a service's commands: a
// <service>_commands.cc with one small function per command and its table,
// declared here and listed in AllCommands() (carectl.cc).

#include <vector>

#include "tools/carectl/cli.h"

namespace carectl {

std::vector<Command> ComplaintCommands();
std::vector<Command> LoyaltyCommands();
std::vector<Command> NotificationCommands();
// `outbox dead|replay` for every service with an outbox.
std::vector<Command> OutboxCommands();
std::vector<Command> PromotionCommands();

}  // namespace carectl
