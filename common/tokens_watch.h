#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/time/time.h"
#include "common/auth.h"

namespace care {

// Re-reads the tokens file every `interval` and, when its content changed,
// hands the new registry to `install`, so a token added to or removed from
// the mounted Secret takes effect without a restart. A file that no longer
// parses (or cannot be read) keeps the registry in force: an error is
// logged and counted (care_tokens_reloads_total{outcome="error"}), and
// nobody is locked out or let in by a half-written file.
class TokensFileWatcher final {
 public:
  using Install = std::function<void(std::shared_ptr<const TokenRegistry>)>;
  // `loaded_text` is the content the registry in force was read from.
  TokensFileWatcher(std::string path, std::string loaded_text, absl::Duration interval, Install install);
  ~TokensFileWatcher();
  TokensFileWatcher(const TokensFileWatcher&) = delete;
  TokensFileWatcher& operator=(const TokensFileWatcher&) = delete;

  // One check (the thread calls it); true when a new registry was installed.
  bool CheckOnce();

 private:
  std::string path_;
  std::string last_text_;  // the content last looked at, good or bad
  absl::Duration interval_;
  Install install_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

// The bearer token a service presents to its peers, re-read from its file
// (at most once per `interval`, by the caller asking for it) so a rotated
// Secret is presented without a restart. An unreadable or empty file keeps
// the last good token.
class ReloadingSecret final {
 public:
  ReloadingSecret(std::string path, std::string initial, absl::Duration interval);
  std::string Get();

 private:
  const std::string path_;
  const absl::Duration interval_;
  std::mutex mu_;
  std::string value_;
  absl::Time next_check_;
};

// The whole file, or NotFound.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path);

}  // namespace care
