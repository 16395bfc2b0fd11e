#include "common/key_file.h"

#include <openssl/crypto.h>

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/auth.h"

namespace care {
namespace {

absl::Status BadKeyLine(int line_no, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": ", why));
}

}  // namespace

bool ValidKeyId(absl::string_view id) {
  if (id.empty() || id.size() > kMaxHmacKeyIdBytes) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  }
  return true;
}

absl::StatusOr<std::vector<NamedKey>> ParseKeyFile(absl::string_view text) {
  std::vector<NamedKey> keys;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    const size_t space = line.find_first_of(" \t");
    if (space == absl::string_view::npos) {
      return BadKeyLine(line_no, "want `<key_id> <key>` (a key id, a space, then the key)");
    }
    absl::string_view id = line.substr(0, space);
    absl::string_view secret = absl::StripLeadingAsciiWhitespace(line.substr(space));
    if (!ValidKeyId(id)) return BadKeyLine(line_no, "the key id must be 1 to 32 of A-Z a-z 0-9 _ -");
    if (secret.size() < kMinHmacKeyBytes || secret.size() > kMaxHmacKeyBytes) {
      return BadKeyLine(line_no, absl::StrCat("key \"", id, "\" is ", secret.size(), " bytes; it must be ",
                                              kMinHmacKeyBytes, " to ", kMaxHmacKeyBytes));
    }
    for (const NamedKey& k : keys) {
      if (k.id == id) return BadKeyLine(line_no, absl::StrCat("key id \"", id, "\" is listed twice"));
    }
    if (keys.size() == kMaxHmacKeys) return BadKeyLine(line_no, absl::StrCat("more than ", kMaxHmacKeys, " keys"));
    keys.push_back(NamedKey{std::string(id), std::string(secret)});
  }
  if (keys.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("no key: want `<key_id> <key of ", kMinHmacKeyBytes,
                                                   "+ bytes>` per line"));
  }
  return keys;
}

absl::StatusOr<std::vector<NamedKey>> ReadKeyFile(const std::string& path) {
  auto text = ReadSecretFile(path);
  if (!text.ok()) return text.status();
  auto keys = ParseKeyFile(*text);
  if (!keys.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", keys.status().message()));
  return keys;
}

HmacKeyRing::HmacKeyRing(const std::vector<NamedKey>& keys) {
  for (const NamedKey& k : keys) keys_.push_back(Keyed{k.id, std::make_unique<HmacSha256Key>(k.secret)});
  if (keys_.empty()) std::abort();  // a programming error: mains refuse to start without a key
}

bool HmacKeyRing::Verify(absl::string_view id, absl::string_view data, absl::string_view mac) const {
  // The key id is not secret: finding it may take any time; only the MAC
  // comparison must be constant-time.
  for (const Keyed& k : keys_) {
    if (k.id != id) continue;
    std::string want = k.key->Mac(data);
    return mac.size() == want.size() && CRYPTO_memcmp(mac.data(), want.data(), want.size()) == 0;
  }
  return false;
}

}  // namespace care
