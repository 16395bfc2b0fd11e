#pragma once

// Shared mechanics of the model-based property tests: seeds (a fixed one, a
// fresh time-based one, or CARE_PROPERTY_SEED to replay), step counts
// (CARE_PROPERTY_STEPS), a deterministic random source, the log of the
// operations issued, and the violation report (seed, step, the operations
// that touched the entity at fault and the tail of the sequence).

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <functional>
#include <iostream>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/harness/harness.h"

namespace care::testing::property {

// A status for the operation log: "OK", or the harness' description.
inline std::string St(const grpc::Status& s) { return s.ok() ? "OK" : Describe(s); }

// CARE_PROPERTY_SEED: replay this seed (decimal); unset = none.
inline std::optional<uint64_t> EnvSeed() {
  const char* v = std::getenv("CARE_PROPERTY_SEED");
  uint64_t seed = 0;
  if (v == nullptr || !absl::SimpleAtoi(v, &seed)) return std::nullopt;
  return seed;
}

// A seed nobody chose: the wall clock mixed with the process id.
inline uint64_t FreshSeed() {
  uint64_t t = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  return (t ^ (static_cast<uint64_t>(::getpid()) << 32)) % 1'000'000'000'000ULL;
}

// CARE_PROPERTY_STEPS overrides the default step count of every run.
inline int Steps(int fallback) {
  const char* v = std::getenv("CARE_PROPERTY_STEPS");
  int n = 0;
  if (v != nullptr && absl::SimpleAtoi(v, &n) && n > 0) return n;
  return fallback;
}

// CARE_PROPERTY_SKIP: comma-separated operation groups the generator leaves
// out (e.g. "token_reuse,cancel_after_return"), to look past a known defect
// for the next one while it is being fixed. Never set in CI.
inline bool Skipped(const std::string& group) {
  const char* v = std::getenv("CARE_PROPERTY_SKIP");
  if (v == nullptr) return false;
  for (absl::string_view g : absl::StrSplit(v, ',')) {
    if (g == group) return true;
  }
  return false;
}

// The seeded random source of one run. Everything the generator decides
// comes from here, so a seed replays the same sequence (up to the order in
// which a concurrent batch's calls happen to land).
class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  int64_t Uniform(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(gen_); }
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(gen_) < p; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(Uniform(0, static_cast<int64_t>(v.size()) - 1))];
  }
  // An index drawn with the given weights.
  size_t Weighted(const std::vector<int>& weights) {
    int total = 0;
    for (int w : weights) total += w;
    int64_t x = Uniform(0, total - 1);
    for (size_t i = 0; i < weights.size(); ++i) {
      if (x < weights[i]) return i;
      x -= weights[i];
    }
    return weights.size() - 1;
  }

 private:
  std::mt19937_64 gen_;
};

// What was issued, step by step, with the entities each operation touched.
class OpLog {
 public:
  struct Op {
    int step;
    std::string text;
    std::set<std::string> keys;
  };

  void Add(int step, std::string text, std::set<std::string> keys) {
    ops_.push_back(Op{step, std::move(text), std::move(keys)});
  }

  // The last `n` operations.
  std::string Tail(size_t n) const {
    std::ostringstream out;
    size_t from = ops_.size() > n ? ops_.size() - n : 0;
    for (size_t i = from; i < ops_.size(); ++i) out << "  #" << ops_[i].step << " " << ops_[i].text << "\n";
    return out.str();
  }

  // Every operation that touched `key`: the slice of the sequence that
  // matters for a violation on that entity (usually a minimal reproduction).
  std::string Slice(const std::string& key, size_t max = 60) const {
    std::vector<const Op*> hits;
    for (const Op& op : ops_) {
      if (op.keys.count(key)) hits.push_back(&op);
    }
    std::ostringstream out;
    size_t from = hits.size() > max ? hits.size() - max : 0;
    for (size_t i = from; i < hits.size(); ++i) out << "  #" << hits[i]->step << " " << hits[i]->text << "\n";
    return out.str();
  }

 private:
  std::vector<Op> ops_;
};

// One run: its seed, the current step, and the first violation.
class PropertyRun {
 public:
  PropertyRun(std::string name, uint64_t seed, int steps) : name_(std::move(name)), seed_(seed), steps_(steps) {
    std::cout << "[property] " << name_ << " seed=" << seed_ << " steps=" << steps_
              << " (replay: CARE_PROPERTY_SEED=" << seed_ << " CARE_PROPERTY_STEPS=" << steps_ << ")" << std::endl;
  }

  uint64_t seed() const { return seed_; }
  int steps() const { return steps_; }
  int step() const { return step_; }
  void set_step(int s) { step_ = s; }
  OpLog& log() { return log_; }
  void Log(std::string text, std::set<std::string> keys = {}) { log_.Add(step_, std::move(text), std::move(keys)); }

  bool failed() const { return failed_; }
  const char* outcome() const { return failed_ ? " (violation)" : ", no violation"; }

  // Runs `step` once per step until the first violation, `check` every
  // `check_every` steps and once more at the end; returns how long it took.
  absl::Duration Drive(int check_every, const std::function<void()>& step, const std::function<void()>& check) {
    const absl::Time started = absl::Now();
    for (int i = 1; i <= steps_ && !failed_; ++i) {
      step_ = i;
      step();
      if (i % check_every == 0) check();
    }
    if (!failed_) check();
    return absl::Trunc(absl::Now() - started, absl::Milliseconds(1));
  }

  // Records the violation (the first one only: later ones are usually its
  // consequences) and fails the test with everything needed to replay it.
  void Violation(const std::string& what, const std::string& key = "") {
    if (failed_) return;
    failed_ = true;
    std::ostringstream msg;
    msg << "PROPERTY VIOLATION in " << name_ << "\n  seed=" << seed_ << " step=" << step_ << "\n  " << what
        << "\n  replay: CARE_PROPERTY_SEED=" << seed_ << " CARE_PROPERTY_STEPS=" << steps_ << "\n";
    if (!key.empty()) msg << "operations on " << key << ":\n" << log_.Slice(key);
    msg << "last operations:\n" << log_.Tail(30);
    ADD_FAILURE() << msg.str();
  }

  // Checks `cond`; on failure reports `what` (about `key`). Returns cond.
  bool Check(bool cond, const std::string& what, const std::string& key = "") {
    if (!cond) Violation(what, key);
    return cond;
  }

 private:
  std::string name_;
  uint64_t seed_;
  int steps_;
  int step_ = 0;
  OpLog log_;
  bool failed_ = false;
};

}  // namespace care::testing::property
