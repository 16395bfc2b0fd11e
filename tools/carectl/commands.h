#pragma once

// Every carectl command, by group. Adding a service's commands: a
// <service>_commands.cc with one small function per command and its table,
// declared here and listed in AllCommands() (carectl.cc).

#include <vector>

#include "tools/carectl/cli.h"

namespace carectl {

std::vector<Command> ComplaintCommands();
// `complaint sla-policy|calendar|phrases ...`: what an operator sets up.
std::vector<Command> ComplaintSetupCommands();
// `complaint settings|staff|team ...`: the desk's settings, who staff alerts reach.
std::vector<Command> ComplaintStaffCommands();
// `complaint contact ...`: people without membership, prospects.
std::vector<Command> ContactCommands();
std::vector<Command> LoyaltyCommands();
std::vector<Command> NotificationCommands();
// `<service> outbox dead|replay` for every service with an outbox.
std::vector<Command> OutboxCommands();
// `privacy export|erase|status`: a person's data across the suite.
std::vector<Command> PrivacyCommands();
std::vector<Command> PromotionCommands();
// `loyalty reward ...`: the rewards catalogue.
std::vector<Command> RewardCommands();
// `notification template ...`.
std::vector<Command> TemplateCommands();
// `promotion campaign list`, `promotion voucher ...`.
std::vector<Command> VoucherCommands();

}  // namespace carectl
