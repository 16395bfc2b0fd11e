#pragma once

// Maps the plain domain values to and from the contract's messages
// (care.loyalty.v1, and care.notification.v1 for outgoing events). Used by
// the gRPC adapter, by the store (program versions and ledger entries are
// kept in their contract form, which protobuf evolves compatibly) and for
// outbox payloads.

#include <string>

#include "absl/time/time.h"
#include "care/loyalty/v1/loyalty.pb.h"
#include "common/errors.h"
#include "common/outbox.h"
#include "services/loyalty/model.h"
#include "services/loyalty/tiers.h"

namespace care::loyalty {

care::common::v1::Money MoneyProto(int64_t minor, const std::string& currency);

// Program. Amounts inside the program must be in its currency (or leave the
// code empty); others are reported to `errors`. Validation of the values is
// ValidateProgram's.
v1::Program ProgramToProto(const Program& program);
Program ProgramFromProto(const v1::Program& proto, FieldErrors& errors);

v1::TierBenefits BenefitsToProto(const TierBenefits& benefits);
v1::TierSnapshot SnapshotToProto(const TierSnapshot& snapshot);

Profile ProfileFromProto(const v1::Member& proto);
void ProfileToProto(const Profile& profile, v1::Member* proto);
v1::Member MemberToProto(const Member& member, const TierSnapshot& snapshot, const std::string& currency);

// Ledger entries (also their stored form).
v1::LedgerEntry EntryToProto(const LedgerEntry& entry, const std::string& currency);
LedgerEntry EntryFromProto(const v1::LedgerEntry& proto);

v1::TierProjection ProjectionToProto(const Projection& projection, const std::string& currency);

// An event as the notification service's IngestEvent request, in an outbox
// envelope; its id is unique across services ("loyalty:..."), and stable, so
// a re-enqueue after a retry is the same event.
OutboxEvent EventToOutbox(const Event& event, absl::Time occurred);

}  // namespace care::loyalty
