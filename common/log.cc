#include "common/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/trace.h"

namespace care {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::string* g_service = new std::string("care");  // leaked: outlives static destructors

constexpr const char* kLevelNames[] = {"debug", "info", "warn", "error"};

}  // namespace

std::string JsonQuote(absl::string_view s) {
  std::string out = "\"";
  out.reserve(s.size() + 2);
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

namespace {

// A logged string keeps its first 1 KiB (never half a character) and its
// size: a caller's 3 MB request id must not become a 3 MB log line.
constexpr size_t kMaxLoggedBytes = 1024;

std::string Bounded(absl::string_view s) {
  if (s.size() <= kMaxLoggedBytes) return std::string(s);
  size_t cut = kMaxLoggedBytes;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return absl::StrCat(s.substr(0, cut), "...(", s.size(), " bytes)");
}

}  // namespace

LogValue::LogValue(absl::string_view s) : json_(JsonQuote(Bounded(s))) {}
LogValue::LogValue(int64_t v) : json_(absl::StrCat(v)) {}
LogValue::LogValue(double v) : json_(absl::StrFormat("%.3f", v)) {}

void SetLogService(absl::string_view service) { *g_service = std::string(service); }
void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }
bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(); }

bool ParseLogLevel(absl::string_view text, LogLevel* level) {
  for (int i = 0; i < 4; ++i) {
    if (text == kLevelNames[i]) {
      *level = static_cast<LogLevel>(i);
      return true;
    }
  }
  return false;
}

void Log(LogLevel level, absl::string_view message, std::initializer_list<LogField> fields) {
  Log(level, message, absl::Span<const LogField>(fields.begin(), fields.size()));
}

void Log(LogLevel level, absl::string_view message, absl::Span<const LogField> fields) {
  if (!LogEnabled(level)) return;
  std::string line = absl::StrCat("{\"ts\":\"",
                                  absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
                                  "\",\"level\":\"", kLevelNames[static_cast<int>(level)],
                                  "\",\"service\":", JsonQuote(*g_service), ",\"msg\":", JsonQuote(message));
  for (const auto& f : fields) absl::StrAppend(&line, ",", JsonQuote(f.key), ":", f.value.json());
  // The call or event this thread works for: its trace and its own span.
  if (const TraceContext* trace = CurrentTrace()) {
    absl::StrAppend(&line, ",\"trace_id\":\"", HexId(trace->span.trace_id), "\",\"span_id\":\"",
                    HexId(trace->span.span_id), "\"");
  }
  line += "}\n";
  // One fwrite per line keeps lines whole when threads log at once.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace care
