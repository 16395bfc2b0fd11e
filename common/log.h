#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace care {

// Structured logging: one JSON object per line on stderr, so log collectors
// (and people with jq) can filter by method, request id or code. A line
// written while a thread works for a call, an outbox delivery or a job run
// (common/trace.h) also carries its trace_id and span_id.
enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// A field value, rendered as JSON.
class LogValue final {
 public:
  LogValue(absl::string_view s);  // NOLINT: implicit on purpose, for brevity at call sites
  LogValue(const std::string& s) : LogValue(absl::string_view(s)) {}  // NOLINT
  LogValue(const char* s) : LogValue(absl::string_view(s)) {}         // NOLINT
  LogValue(int64_t v);                                                // NOLINT
  LogValue(int v) : LogValue(static_cast<int64_t>(v)) {}              // NOLINT
  LogValue(uint64_t v) : LogValue(static_cast<int64_t>(v)) {}         // NOLINT
  LogValue(double v);                                                 // NOLINT
  LogValue(bool v) : json_(v ? "true" : "false") {}                   // NOLINT
  const std::string& json() const { return json_; }

 private:
  std::string json_;
};

struct LogField {
  absl::string_view key;
  LogValue value;
};

// Process-wide settings, set once at start-up.
void SetLogService(absl::string_view service);
void SetLogLevel(LogLevel level);
bool ParseLogLevel(absl::string_view text, LogLevel* level);
bool LogEnabled(LogLevel level);

void Log(LogLevel level, absl::string_view message, std::initializer_list<LogField> fields = {});
// For lines whose fields depend on the case (empty ones left out).
void Log(LogLevel level, absl::string_view message, absl::Span<const LogField> fields);
inline void LogInfo(absl::string_view m, std::initializer_list<LogField> f = {}) { Log(LogLevel::kInfo, m, f); }
inline void LogWarn(absl::string_view m, std::initializer_list<LogField> f = {}) { Log(LogLevel::kWarn, m, f); }
inline void LogError(absl::string_view m, std::initializer_list<LogField> f = {}) { Log(LogLevel::kError, m, f); }

// Escapes `s` as a JSON string literal, quotes included.
std::string JsonQuote(absl::string_view s);

}  // namespace care
