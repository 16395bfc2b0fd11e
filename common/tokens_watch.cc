#include "common/tokens_watch.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/metrics.h"

namespace care {
namespace {

metrics::Counter& TokensReloads() {
  static auto& f = metrics::Registry::Global().Counter(
      "care_tokens_reloads_total",
      "Changes of the tokens file seen: outcome=ok (new tokens in force) or error (kept the previous tokens).",
      {"outcome"});
  return f;
}

}  // namespace

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ReloadingSecret::ReloadingSecret(std::string path, std::string initial, absl::Duration interval)
    : path_(std::move(path)), interval_(interval), value_(std::move(initial)), next_check_(absl::Now() + interval) {}

std::string ReloadingSecret::Get() {
  std::lock_guard lock(mu_);
  absl::Time now = absl::Now();
  if (now >= next_check_) {
    next_check_ = now + interval_;
    auto text = ReadSecretFile(path_);
    if (text.ok() && !text->empty()) {
      if (*text != value_) LogInfo("peer token reloaded", {{"file", path_}});
      value_ = *std::move(text);
    } else {
      LogError("peer token file unreadable or empty: presenting the previous token", {{"file", path_}});
    }
  }
  return value_;
}

TokensFileWatcher::TokensFileWatcher(std::string path, std::string loaded_text, absl::Duration interval,
                                     Install install)
    : path_(std::move(path)), last_text_(std::move(loaded_text)), interval_(interval), install_(std::move(install)) {
  TokensReloads().With({"ok"});
  TokensReloads().With({"error"});
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, absl::ToChronoMilliseconds(interval_), [this] { return stopping_; })) {
      lock.unlock();
      CheckOnce();
      lock.lock();
    }
  });
}

TokensFileWatcher::~TokensFileWatcher() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool TokensFileWatcher::CheckOnce() {
  // Content, not mtime: a Kubernetes Secret update swaps a symlink, and a
  // same-second rewrite keeps the mtime.
  auto text = ReadWholeFile(path_);
  if (!text.ok()) {
    // Gone for a moment (a Secret update in progress) or unreadable: keep
    // the tokens in force; a change is looked for again next time.
    if (!last_text_.empty()) {
      LogError("tokens file unreadable: keeping the tokens in force", {{"file", path_}});
      TokensReloads().With({"error"}).Inc();
      last_text_.clear();
    }
    return false;
  }
  if (*text == last_text_) return false;
  last_text_ = *text;
  auto registry = TokenRegistry::FromFile(path_);
  if (!registry.ok()) {
    LogError("tokens file changed but is invalid: keeping the tokens in force",
             {{"file", path_}, {"error", registry.status().message()}});
    TokensReloads().With({"error"}).Inc();
    return false;
  }
  install_(std::make_shared<const TokenRegistry>(*std::move(registry)));
  TokensReloads().With({"ok"}).Inc();
  LogInfo("tokens file reloaded", {{"file", path_}});
  return true;
}

}  // namespace care
