// Helpers for the pipeline integration tests: fixtures and message variants,
// an in-process runner on an embedded broker, a reader of output topics
// (plain assign(), no consumer group: no join delay), child processes.
//
// Tests read only the repository (fixtures, mappings), never /work/shared.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "connectors/kafka/embedded_broker.h"
#include "connectors/kafka/kafka_config.h"
#include "pipeline/map/mapping_set.h"
#include "pipeline/runtime/metrics.h"
#include "pipeline/runtime/pipeline_runner.h"
#include "pipeline/runtime/run_config.h"

namespace dxnorm::itest {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Once per process: JSON logs at warning and above, librdkafka errors only
// (fault tests make it chatty), unless DXNORM_ITEST_LOG is set.
void quiet_logs();

std::string fixtures_dir();  // tests/fixtures/integration
std::string mappings_dir();  // the shipped mappings
std::string read_file(const std::string& path);
std::string fixture(const std::string& relative);  // read_file(fixtures_dir()/relative)

// The message with MSH-10 set to `control_id` and, when non-empty, the first
// component of the filler order number (ORC-3, OBR-3) set to `filler`, so that
// a variant yields its own DiagnosticReport/Observation ids. Delimiters and
// segment terminators are read from the message and kept.
std::string make_variant(std::string_view message, const std::string& control_id, const std::string& filler = "");

// One input record of a test.
struct Input {
  std::string name;        // fixture it came from
  std::string control_id;  // MSH-10 as published (empty when unparseable)
  std::string payload;
  bool valid = false;      // expected on the FHIR topics (else: dead letter)
};

// Every output or input record as read back.
struct Record {
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::string key;
  std::string value;
  bool null_key = false;
  std::int64_t timestamp_ms = -1;
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<std::string> header(std::string_view name) const;
};

// Produces payloads to `topic`, keyed by control id (null key when empty),
// idempotent with max.in.flight.requests.per.connection=1 (see
// EMBEDDED_BROKER.md: the mock loses records under faults with more).
// REQUIREs every record delivered.
void publish(const std::string& bootstrap, const std::string& topic, const std::vector<Input>& inputs,
             kafka::KafkaProperties extra = {});

// Reads topics from the beginning with assign() (no group), on its own
// thread from construction on, so that it keeps up with the writers: the mock
// cluster drops a partition's oldest data beyond about 5 MB, so a reader that
// starts late misses records. Accumulates every record seen.
class TopicReader {
 public:
  TopicReader(const std::string& bootstrap, const std::map<std::string, int>& topic_partitions);
  ~TopicReader();
  TopicReader(const TopicReader&) = delete;
  TopicReader& operator=(const TopicReader&) = delete;

  // Waits until every partition was read up to the high watermark queried at
  // the start of the call.
  bool catch_up(std::chrono::milliseconds timeout);
  // Waits until pred() holds (checked every 50 ms) or the timeout passes.
  bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout);
  // Sum of the high watermarks of `topic` (records ever written), -1 on error.
  std::int64_t high_watermark(const std::string& topic);
  // Sum over partitions of the low watermarks: > 0 when the mock dropped data.
  std::int64_t low_watermark(const std::string& topic);

  std::size_t count(const std::string& topic) const;
  // Jumps in offsets seen: the mock dropped data before it was read (then
  // the test, not the pipeline, lost sight of records). Expected 0.
  std::size_t gaps() const;
  // Copies of the records of `topic` read so far, from index `from` on.
  std::vector<Record> records(const std::string& topic, std::size_t from = 0) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Sum of the offsets `group` committed on `topic` (partitions 0..n-1; a
// partition without a commit counts 0).
std::int64_t committed_offsets(const std::string& bootstrap, const std::string& group, const std::string& topic,
                               int partitions);

// A RunConfig for tests: short group timeouts, the shipped mappings,
// 1 in flight (fault-safe), bootstrap.servers of `broker`.
runtime::RunConfig test_config(const kafka::EmbeddedBroker& broker, const std::string& group,
                               const std::string& input_topic = "hl7v2.in");
// Creates every topic of the config on the broker; returns topic -> partitions.
std::map<std::string, int> create_topics(kafka::EmbeddedBroker& broker, const runtime::RunConfig& cfg,
                                         int partitions, int replication = 1);
std::shared_ptr<const map::MappingSet> load_mappings();

// A PipelineRunner on a thread: run() on start, stop() + join on finish().
class RunnerThread {
 public:
  RunnerThread(runtime::RunConfig cfg, std::shared_ptr<const map::MappingSet> mappings);
  ~RunnerThread();  // finish() if not yet done
  runtime::PipelineRunner& runner() { return runner_; }
  bool wait_ready(std::chrono::milliseconds timeout);
  // Waits until published + dead_lettered >= n.
  bool wait_done(std::uint64_t n, std::chrono::milliseconds timeout);
  int finish();  // stop(), join; run()'s return value

 private:
  runtime::Metrics metrics_;
  runtime::PipelineRunner runner_;
  std::thread thread_;
  int rc_ = -1;
};

// A child process with stdout/stderr in files.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& out_file, const std::string& err_file);
  ~Child();  // SIGKILL + reap if still running
  int pid() const { return pid_; }
  void signal(int sig);
  // Exit status (exit code, or 128+signal), or nullopt if still running after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  std::string out() const;
  std::string err() const;

 private:
  int pid_ = -1;
  bool reaped_ = false;
  std::string out_file_, err_file_;
};

// A fresh temporary directory, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

// The YAML of a `dxnorm run` config for a child: bootstrap.servers of an
// in-test broker, group `group`, the shipped mappings, http port 0.
std::string child_config_yaml(const std::string& bootstrap, const std::string& group, const std::string& log_level,
                              int auto_commit_interval_ms = 500);

// Reads "http: http://127.0.0.1:PORT/metrics" from a `dxnorm run` stdout; 0 if not there yet.
int http_port_of(const std::string& run_stdout);

std::string dxnorm_binary();

// GET http://127.0.0.1:port/path; nullopt when it cannot connect.
std::optional<std::string> http_get(int port, const std::string& path, int* status = nullptr);

}  // namespace dxnorm::itest
