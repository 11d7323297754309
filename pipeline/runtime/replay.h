// Replay: the engine of `dxnorm replay` (and of its tests and benchmark).
//
// Reads a slice of a raw input topic, or of the dead-letter topic, with a
// KafkaReader (own assignment, throwaway group id, never commits: the live
// pipeline's consumer group is never touched), filters it, and then:
//   kConvert  converts with the current mappings and publishes exactly what
//             `dxnorm run` publishes (output_records.h), plus the header
//             `replay-of: <topic>/<partition>/<offset>` of the record read.
//             Failures are dead-lettered as in run; when re-driving the
//             dead-letter topic itself, still-broken messages stay where they
//             are (not duplicated) and are counted as still_failed.
//   kDryRun   converts and reports (would succeed / fail, resources by
//             Type/id, errors grouped by stage, code and location); publishes
//             nothing.
//   kRawToTopic re-publishes the records read (key, payload, headers; the
//             dxnorm-* headers of a dead letter are dropped) to another topic,
//             plus replay-of, for a running pipeline to take.
//
// Positions: per partition, the next offset whose record (and every one
// before it) is finished: delivered, dead-lettered, skipped by a filter, or
// converted in a dry run. Written to the resume file periodically and at the
// end, and read back by a later run with the same file: nothing is lost and
// nothing repeated (with the same `to` bounds, which the file also keeps).
//
// Errors: the constructor and run() throw ReplayError for bad usage or
// configuration (exit status 2), and KafkaConfigError for bad properties.
// Per-message failures are counted in the report, never thrown.
// Threading: run() on one thread; stop() from any thread or a signal thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <vector>

#include "pipeline/map/mapping_set.h"
#include "pipeline/runtime/run_config.h"

namespace dxnorm::runtime {

inline constexpr const char* kReplayOfHeader = "replay-of";

class ReplayError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class ReplayMode : std::uint8_t { kConvert, kDryRun, kRawToTopic };

// An offset bound: one value for every partition and/or values per partition
// (`--from-offset 100` or `--from-offset 0:100,3:250`).
struct OffsetBound {
  std::optional<std::int64_t> all;
  std::map<std::int32_t, std::int64_t> per_partition;
  bool empty() const { return !all && per_partition.empty(); }
  std::optional<std::int64_t> at(std::int32_t partition) const;
  // "N" or "P:N[,P:N...]"; throws ReplayError.
  static OffsetBound parse(const std::string& text);
};

// ISO-8601 date-time ("2026-11-01T00:00Z", "2026-11-01T09:30:00+01:00",
// "2026-11-01" = midnight UTC) -> ms since the epoch; throws ReplayError.
std::int64_t parse_iso8601_ms(const std::string& text);

struct ReplayOptions {
  std::string source_topic;              // a raw input topic or cfg.dead_letter_topic
  std::vector<std::int32_t> partitions;  // empty: all
  OffsetBound from_offset, to_offset;    // [from, to); defaults: low and high watermarks
  std::optional<std::int64_t> from_time_ms, to_time_ms;  // exclusive with the offset bounds
  // Raw topics not listed in cfg.inputs need the format (and may force a mapping).
  std::string format;
  std::string mapping;

  // Filters (an empty set lets everything through).
  std::set<std::string> message_types;         // "ORU^R01" (or "ORU": any trigger)
  std::set<std::string> sending_applications;  // MSH-3.1 ...
  std::set<std::string> sending_facilities;    // MSH-4.1 ...
  std::unordered_set<std::string> control_ids;  // MSH-10 ...
  std::set<std::string> error_codes;           // dead letters: dxnorm-error-code
  std::set<std::string> error_stages;          // dead letters: dxnorm-error-stage

  ReplayMode mode = ReplayMode::kConvert;
  std::string to_topic;                        // kRawToTopic
  bool compare_existing = false;               // kDryRun: read the per-type topics to tell created from changed
  double max_rate = 0;                         // records/s read; 0: unlimited
  std::string resume_file;                     // empty: no resume
  std::chrono::milliseconds resume_interval{1000};
  std::uint64_t stop_after = 0;                // stop after reading N records (tests); 0: never
  int workers = 0;                             // converter threads; 0: cfg.workers
};

struct ReplayProgress {
  std::uint64_t done = 0;    // records read
  std::uint64_t total = 0;   // records in the ranges
  double rate = 0;           // records/s since the start
  double elapsed_s = 0;
  double eta_s = -1;         // -1: unknown
};

struct ErrorGroup {
  std::string stage, code, location, mapping;
  std::string example;       // first message text (no patient data)
  std::uint64_t count = 0;
};

struct ReplayReport {
  std::uint64_t read = 0;
  std::uint64_t converted = 0;       // published (or would be: dry run) on the FHIR topics
  std::uint64_t dead_lettered = 0;   // new dead letters written (or that would be)
  std::uint64_t still_failed = 0;    // re-driven dead letters still broken (left in place)
  std::uint64_t skipped = 0;         // by a filter
  std::uint64_t republished = 0;     // kRawToTopic
  std::uint64_t delivery_failures = 0;
  std::uint64_t total = 0;           // records in the ranges
  double duration_s = 0;
  bool interrupted = false;          // stopped before the end of the ranges
  std::string error;                 // a fatal source/sink error that stopped the replay
  std::string lookup_method;         // "offsets-for-times" / "binary-search" for time ranges
  std::map<std::int32_t, std::pair<std::int64_t, std::int64_t>> ranges;  // partition -> [from, to)
  std::map<std::int32_t, std::int64_t> positions;                        // partition -> next offset
  // Dry run: "Type/id" -> "created" / "changed" / "unchanged" / "would be written".
  std::map<std::string, std::string> resources;
  std::vector<ErrorGroup> errors;    // by count, descending

  bool failed() const noexcept { return dead_lettered + still_failed + delivery_failures > 0 || !error.empty(); }
  int exit_status() const noexcept { return failed() ? 1 : 0; }
};

class Replay {
 public:
  // Checks the options against the config (throws ReplayError): the source is
  // not a topic this replay writes to, --to-topic is not the source, offsets
  // and times are not mixed, the format of the source is known.
  Replay(RunConfig cfg, std::shared_ptr<const map::MappingSet> mappings, ReplayOptions options);
  ~Replay();

  // Reads, converts, publishes, flushes; returns the report. Throws
  // ReplayError / KafkaConfigError at start-up (unknown topic, bad bounds,
  // unreadable resume file).
  ReplayReport run();
  // Any thread: stop reading; what was read is finished and flushed, and the
  // position written.
  void stop() noexcept;

  // Called from run()'s thread about every `progress_interval`.
  std::function<void(const ReplayProgress&)> on_progress;
  std::chrono::milliseconds progress_interval{1000};

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Human-readable summary (what the CLI prints at the end).
std::string format_report(const ReplayReport& report, ReplayMode mode, std::size_t max_resources = 50);

}  // namespace dxnorm::runtime
