#pragma once

// HMAC key files shared by every signer that must rotate keys without
// downtime (quote tokens, tier cache snapshots): one key per line,
// `<key_id> <key>`; the FIRST key signs, every listed key verifies. Rotation:
// add the new key as a second line everywhere, then move it first, then drop
// the old one once nothing signed with it is still alive.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/hmac.h"

namespace care {

// The shortest key accepted: HMAC-SHA256's own output size, so a key is no
// easier to guess than a MAC.
inline constexpr size_t kMinHmacKeyBytes = 32;
// Bounds of a key file: up to 16 keys (the one signing, the ones still
// verifying), each up to 1 KiB; ids [A-Za-z0-9_-]{1,32}.
inline constexpr size_t kMaxHmacKeys = 16;
inline constexpr size_t kMaxHmacKeyBytes = 1024;
inline constexpr size_t kMaxHmacKeyIdBytes = 32;

struct NamedKey {
  std::string id;      // [A-Za-z0-9_-]{1,32}: never contains '.' or ':'
  std::string secret;  // kMinHmacKeyBytes..kMaxHmacKeyBytes bytes
};

// Whether `id` is a valid key id ([A-Za-z0-9_-]{1,32}).
bool ValidKeyId(absl::string_view id);

// Parses a key file's text: one key per line, `<key_id> <key>` (the key is
// the rest of the line, surrounding whitespace trimmed); blank lines are
// skipped. INVALID_ARGUMENT naming the line when a line is malformed, an id
// repeats, a key is out of bounds, there are too many keys or none.
absl::StatusOr<std::vector<NamedKey>> ParseKeyFile(absl::string_view text);

// Reads and parses `path`; the error (unreadable, empty, malformed) names
// the path, for a ConfigReader::AddError prefixed with the flag.
absl::StatusOr<std::vector<NamedKey>> ReadKeyFile(const std::string& path);

// The keys of a file, prepared once: the first signs, all verify.
class HmacKeyRing final {
 public:
  // `keys` must not be empty and valid as ParseKeyFile returns them.
  explicit HmacKeyRing(const std::vector<NamedKey>& keys);

  const std::string& signing_id() const { return keys_.front().id; }
  // The raw MAC of `data` under the signing key.
  std::string Sign(absl::string_view data) const { return keys_.front().key->Mac(data); }
  // Whether `mac` is the MAC of `data` under the listed key `id`
  // (constant-time in the MAC; false for an unknown id).
  bool Verify(absl::string_view id, absl::string_view data, absl::string_view mac) const;

 private:
  struct Keyed {
    std::string id;
    std::unique_ptr<HmacSha256Key> key;
  };
  std::vector<Keyed> keys_;  // keys_[0] signs
};

}  // namespace care
