// End-to-end benchmark of `dxnorm run`'s pipeline through the embedded broker
// (librdkafka's mock cluster, in this process): PipelineRunner with the
// shipped mappings, at-least-once (offsets stored after delivery, commits on),
// idempotent producer, acks=all.
//
// Input: copies of bench/data/oru_r01_cmp_14obx.hl7 (14-result chemistry
// panel, 3.9 KB; 1 Bundle + 21 resources out, ~46 KB) with distinct MSH-10.
//
// Modes:
//   backlog (default): pre-publish N messages, then start the runner and
//     measure sustained throughput from the first consume to the last
//     delivery ack. The pre-publisher compresses (lz4) so that the mock, which
//     keeps ~5 MB per partition, holds all N inputs until they are consumed.
//   --rate R: start the runner, then produce R messages/s for --seconds S;
//     a downstream consumer reads fhir.DiagnosticReport (one per message) and
//     measures latency from the input's produce() call to the output being
//     fetched downstream (true end to end, same clock).
// Both modes also print the runner's own latency histograms (consume ->
// delivery ack of every output record, and input record timestamp ->
// delivery ack) as bucket upper bounds, and the peak resident memory of the
// whole process (VmHWM: pipeline + mock broker + benchmark clients).
//
// Configuration: config/dxnorm.yaml as shipped (or --config FILE), loaded
// with RunConfig::load like `dxnorm run` does; only the bootstrap address
// (this process's embedded broker) and group.id are replaced. The options
// below override the file for experiments.
//
// With --bootstrap-file FILE the broker is another process (`dxnorm broker
// --config <same config> --bootstrap-file FILE`), so that the peak RSS shown
// is the pipeline's own; the broker's is that process's VmHWM.
//
// Run: build/bench/bench_pipeline [--config FILE] [--bootstrap-file FILE] [--messages 100000]
//        [--workers W] [--partitions P] [--out-partitions P]
//        [--rate R --seconds S]
//        [--consumer NAME=VALUE]... [--producer NAME=VALUE]...  (librdkafka
//        properties on top of the config's, e.g. fetch.wait.max.ms=10)
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "connectors/kafka/embedded_broker.h"
#include "connectors/kafka/kafka_config.h"
#include "connectors/kafka/kafka_handles.h"
#include "connectors/kafka/kafka_log.h"
#include "connectors/kafka/kafka_sink.h"
#include "pipeline/map/mapping_set.h"
#include "pipeline/runtime/json_log.h"
#include "pipeline/runtime/metrics.h"
#include "pipeline/runtime/pipeline_runner.h"
#include "pipeline/runtime/run_config.h"

using namespace dxnorm;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

struct Options {
  std::string config = std::string(DXNORM_SOURCE_DIR) + "/config/dxnorm.yaml";
  std::string bootstrap_file;  // set: use that broker (`dxnorm broker`) instead of one in this process
  long messages = 100000;
  int workers = 0;         // 0: the config's
  int partitions = 0;      // input partitions; 0: the config's embedded-broker.partitions
  int out_partitions = 0;  // 0: the config's embedded-broker.output-partitions
  double rate = 0;  // > 0: fixed-rate mode
  double seconds = 20;
  std::map<std::string, std::string> consumer, producer;  // extra librdkafka properties
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The message with MSH-10 replaced.
std::string with_control_id(const std::string& msg, const std::string& id) {
  const char sep = msg[3];
  std::size_t p = 0;
  for (int i = 0; i < 9; ++i) p = msg.find(sep, p) + 1;  // start of MSH-10
  const std::size_t e = msg.find(sep, p);
  return msg.substr(0, p) + id + msg.substr(e);
}

std::string proc_status(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field, 0) == 0) {
      auto v = line.substr(std::strlen(field));
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  return "?";
}

// Resets VmHWM to the current RSS (Linux >= 4.0: "5" > clear_refs).
void reset_peak_rss() {
  std::ofstream("/proc/self/clear_refs") << "5";
}

// p-quantile of a Prometheus histogram in `text`: the upper bound of the
// first bucket holding it ("<= X s").
std::string histogram_quantile(const std::string& text, const std::string& name, double q) {
  std::vector<std::pair<std::string, double>> buckets;
  std::istringstream in(text);
  std::string line;
  const std::string prefix = name + "_bucket{le=\"";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    auto close = line.find('"', prefix.size());
    buckets.emplace_back(line.substr(prefix.size(), close - prefix.size()), std::stod(line.substr(line.rfind(' ') + 1)));
  }
  if (buckets.empty() || buckets.back().second == 0) return "n/a";
  const double want = q * buckets.back().second;
  for (const auto& [le, n] : buckets)
    if (n >= want) return "<= " + le + " s";
  return "n/a";
}

// CPU time (user + system) of the whole process so far, in seconds.
double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double quantile(std::vector<double>& v, double q) {
  if (v.empty()) return NAN;
  std::size_t k = std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

// The shipped configuration (config/dxnorm.yaml, or --config), so that the
// figures are for the shipped consumer/producer bounds, batching, workers
// and embedded-broker partitions. Overridden: the broker address (this
// process's embedded broker), the group id, and what the command line says.
runtime::RunConfig bench_config(const Options& o) {
  runtime::RunConfig c = runtime::RunConfig::load(o.config);
  if (!c.embedded()) throw std::runtime_error(o.config + ": sets bootstrap.servers; the bench needs the embedded broker");
  c.consumer["group.id"] = "dxnorm-bench";
  for (const auto& [k, v] : o.consumer) c.consumer[k] = v;
  for (const auto& [k, v] : o.producer) c.producer[k] = v;
  if (o.workers > 0) c.workers = o.workers;
  if (o.partitions > 0) c.embedded_partitions = o.partitions;
  if (o.out_partitions > 0) c.embedded_output_partitions = o.out_partitions;
  return c;
}

// A downstream consumer of one topic (assign, no group) that records, per
// message control id header, when the record was fetched.
class LatencyReader {
 public:
  LatencyReader(const std::string& bootstrap, const std::string& topic, int partitions, std::size_t n)
      : seen_(n) {
    rk_ = kafka::make_client(RD_KAFKA_CONSUMER,
                             kafka::make_conf({{"bootstrap.servers", bootstrap},
                                               {"group.id", "bench-latency"},
                                               {"enable.auto.commit", "false"},
                                               {"fetch.wait.max.ms", "5"},
                                               {"auto.offset.reset", "earliest"}}));
    rd_kafka_poll_set_consumer(rk_.get());
    auto* list = rd_kafka_topic_partition_list_new(partitions);
    for (int i = 0; i < partitions; ++i)
      rd_kafka_topic_partition_list_add(list, topic.c_str(), i)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk_.get(), list);
    rd_kafka_topic_partition_list_destroy(list);
    thread_ = std::thread([this] { loop(); });
  }
  ~LatencyReader() {
    stop_ = true;
    thread_.join();
    rd_kafka_consumer_close(rk_.get());
  }
  std::size_t count() const { return count_.load(); }
  // Fetch time of message i (first sighting), or time_point{} if never seen.
  Clock::time_point seen(std::size_t i) const { return seen_[i]; }

 private:
  void loop() {
    while (!stop_) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_.get(), 50);
      if (!m) continue;
      const auto now = Clock::now();
      if (!m->err) {
        rd_kafka_headers_t* h = nullptr;
        const void* v = nullptr;
        size_t sz = 0;
        if (rd_kafka_message_headers(m, &h) == 0 &&
            rd_kafka_header_get_last(h, "dxnorm-message-control-id", &v, &sz) == 0 && v) {
          std::string id(static_cast<const char*>(v), sz);  // "BENCH-<i>"
          std::size_t i = std::stoul(id.substr(6));
          if (i < seen_.size() && seen_[i] == Clock::time_point{}) {
            seen_[i] = now;
            count_.fetch_add(1);
          }
        }
      }
      rd_kafka_message_destroy(m);
    }
  }
  kafka::KafkaHandle rk_;
  std::vector<Clock::time_point> seen_;
  std::atomic<std::size_t> count_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

void print_runner_latency(runtime::Metrics& metrics) {
  const std::string text = metrics.render();
  std::printf("runner latency, consume -> delivery ack (dxnorm_end_to_end_seconds): p50 %s, p99 %s\n",
              histogram_quantile(text, "dxnorm_end_to_end_seconds", 0.5).c_str(),
              histogram_quantile(text, "dxnorm_end_to_end_seconds", 0.99).c_str());
  std::printf("runner latency, input timestamp -> delivery ack (dxnorm_source_to_delivery_seconds): p50 %s, p99 %s\n",
              histogram_quantile(text, "dxnorm_source_to_delivery_seconds", 0.5).c_str(),
              histogram_quantile(text, "dxnorm_source_to_delivery_seconds", 0.99).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--config") o.config = next();
    else if (a == "--bootstrap-file") o.bootstrap_file = next();
    else if (a == "--messages") o.messages = std::stol(next());
    else if (a == "--workers") o.workers = std::stoi(next());
    else if (a == "--partitions") o.partitions = std::stoi(next());
    else if (a == "--out-partitions") o.out_partitions = std::stoi(next());
    else if (a == "--rate") o.rate = std::stod(next());
    else if (a == "--seconds") o.seconds = std::stod(next());
    else if (a == "--consumer" || a == "--producer") {
      const std::string kv = next();
      const auto eq = kv.find('=');
      if (eq == std::string::npos) throw std::runtime_error(a + " wants NAME=VALUE");
      (a == "--consumer" ? o.consumer : o.producer)[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    else {
      std::cerr << "usage: bench_pipeline [--config FILE] [--bootstrap-file FILE] [--messages N] [--workers W] [--partitions P] [--out-partitions P] "
                   "[--rate MSG_PER_S --seconds S] [--consumer NAME=VALUE]... [--producer NAME=VALUE]...\n";
      return 2;
    }
  }
  runtime::set_log_level(runtime::LogLevel::kWarning);
  kafka::set_log_handler([](int level, std::string_view msg) {
    if (level <= kafka::kLogError) std::fprintf(stderr, "kafka: %.*s\n", static_cast<int>(msg.size()), msg.data());
  });

  const std::string message = read_file(std::string(DXNORM_SOURCE_DIR) + "/bench/data/oru_r01_cmp_14obx.hl7");
  auto cfg = bench_config(o);
  // As `dxnorm run` starts its embedded broker.
  // With --bootstrap-file, the broker is another process (`dxnorm broker
  // --config <same file>` creates the same topics) and VmHWM below is the
  // pipeline's own, plus the benchmark's clients.
  std::unique_ptr<kafka::EmbeddedBroker> embedded;
  std::string bootstraps;
  if (o.bootstrap_file.empty()) {
    embedded = std::make_unique<kafka::EmbeddedBroker>(cfg.embedded_brokers);
    for (const auto& t : cfg.all_topics())
      embedded->create_topic({t, cfg.embedded_partitions_for(t), std::min(cfg.embedded_brokers, 3)});
    bootstraps = embedded->bootstraps();
  } else {
    bootstraps = read_file(o.bootstrap_file);
    while (!bootstraps.empty() && std::isspace(static_cast<unsigned char>(bootstraps.back()))) bootstraps.pop_back();
    cfg.consumer["group.id"] += "-" + std::to_string(getpid());  // a fresh group: start at the beginning
  }
  cfg.kafka["bootstrap.servers"] = bootstraps;
  const int in_partitions = cfg.embedded_partitions_for("hl7v2.in");
  const int out_partitions = cfg.embedded_partitions_for("fhir.DiagnosticReport");
  runtime::Metrics metrics;
  map::LoaderOptions lo;
  auto mappings = map::MappingSet::load(cfg.mappings_dir, lo);

  std::printf("bench_pipeline: %s, %s, %d worker(s), input %d partition(s), outputs %d partition(s), %ld-core machine\n",
              o.rate > 0 ? "fixed-rate mode" : "backlog mode", o.config.c_str(), cfg.workers, in_partitions,
              out_partitions, sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("consumer:");
  for (const auto& [k, v] : kafka::merge_properties(cfg.kafka, cfg.consumer))
    if (k != "bootstrap.servers") std::printf(" %s=%s", k.c_str(), v.c_str());
  std::printf("\nproducer:");
  for (const auto& [k, v] : kafka::merge_properties(cfg.kafka, cfg.producer))
    if (k != "bootstrap.servers") std::printf(" %s=%s", k.c_str(), v.c_str());
  std::printf("\n");

  if (o.rate <= 0) {
    // ---- backlog: pre-publish N, then drain.
    const std::size_t n = static_cast<std::size_t>(o.messages);
    // Generated one at a time (no vector of N payloads inflating VmHWM).
    auto t0 = Clock::now();
    std::atomic<std::size_t> delivered{0}, failed{0};
    {
      kafka::KafkaSinkOptions so;
      // A bounded queue: unbounded, the generator outruns the broker and
      // the queued copies (up to N x 3.9 KB) used to dominate VmHWM.
      so.properties = {{"bootstrap.servers", bootstraps},
                       {"compression.type", "lz4"},
                       {"linger.ms", "50"},
                       {"queue.buffering.max.kbytes", "16384"}};
      kafka::KafkaSink sink(so);
      for (std::size_t i = 0; i < n; ++i) {
        const std::string id = "BENCH-" + std::to_string(i);
        auto c = kafka::DeliveryCompletion::create([&](const Status& st) { (st.ok() ? delivered : failed).fetch_add(1); });
        (void)sink.produce("hl7v2.in", id, with_control_id(message, id), {}, c);
        c->seal();
      }
      (void)sink.flush(300s);
    }
    if (failed.load() != 0 || delivered.load() != n) {
      std::fprintf(stderr, "pre-publish failed: %zu of %zu delivered\n", delivered.load(), n);
      return 1;
    }
    std::printf("pre-published %zu messages in %.2f s (lz4); VmRSS now %s, peak so far %s\n", delivered.load(),
                std::chrono::duration<double>(Clock::now() - t0).count(), proc_status("VmRSS:").c_str(),
                proc_status("VmHWM:").c_str());
    reset_peak_rss();  // the peak reported below is the pipeline's run

    runtime::PipelineRunner runner(cfg, mappings, metrics);
    std::thread th([&] { (void)runner.run(); });
    Clock::time_point first{}, last{};
    double cpu_first = 0, cpu_last = 0;
    const auto deadline = Clock::now() + std::chrono::seconds(600);
    while (Clock::now() < deadline) {
      auto c = runner.counts();
      if (first == Clock::time_point{} && c.consumed > 0) {
        first = Clock::now();
        cpu_first = process_cpu_seconds();
      }
      if (c.published + c.dead_lettered >= n) {
        last = Clock::now();
        cpu_last = process_cpu_seconds();
        break;
      }
      std::this_thread::sleep_for(1ms);
    }
    const auto c = runner.counts();
    runner.stop();
    th.join();
    if (last == Clock::time_point{}) {
      std::fprintf(stderr, "did not finish: consumed %lu, published %lu, dead %lu\n",
                   static_cast<unsigned long>(c.consumed), static_cast<unsigned long>(c.published),
                   static_cast<unsigned long>(c.dead_lettered));
      return 1;
    }
    const double secs = std::chrono::duration<double>(last - first).count();
    std::printf("messages: %zu consumed %lu, published %lu, dead-lettered %lu, delivery retries %lu\n", n,
                static_cast<unsigned long>(c.consumed), static_cast<unsigned long>(c.published),
                static_cast<unsigned long>(c.dead_lettered), static_cast<unsigned long>(c.retried));
    std::printf("sustained throughput (first consume -> last delivery ack): %.0f messages/s over %.2f s\n",
                static_cast<double>(n) / secs, secs);
    // Less sensitive to other load on the machine than the rate: what one
    // message costs the whole process (pipeline, mock broker, librdkafka).
    const double cpu = cpu_last - cpu_first;
    std::printf("process CPU over that interval: %.1f µs per message (%.2f cores busy; %.0f messages/s if %ld cores were ours)\n",
                cpu / static_cast<double>(n) * 1e6, cpu / secs, static_cast<double>(n) / cpu * static_cast<double>(sysconf(_SC_NPROCESSORS_ONLN)),
                sysconf(_SC_NPROCESSORS_ONLN));
    print_runner_latency(metrics);
  } else {
    // ---- fixed rate: runner first, then produce at `rate` while a downstream
    // consumer timestamps the DiagnosticReport of every message.
    const std::size_t n = static_cast<std::size_t>(o.rate * o.seconds);
    runtime::PipelineRunner runner(cfg, mappings, metrics);
    std::thread th([&] { (void)runner.run(); });
    while (!runner.ready()) std::this_thread::sleep_for(10ms);
    LatencyReader reader(bootstraps, "fhir.DiagnosticReport", out_partitions, n);
    std::this_thread::sleep_for(500ms);
    std::vector<Clock::time_point> produced(n);
    kafka::KafkaSinkOptions so;
    so.properties = {{"bootstrap.servers", bootstraps}, {"linger.ms", "1"}};
    kafka::KafkaSink sink(so);
    const auto start = Clock::now();
    for (std::size_t i = 0; i < n; ++i) {
      const auto due = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                                   static_cast<double>(i) / o.rate));
      std::this_thread::sleep_until(due);
      const std::string id = "BENCH-" + std::to_string(i);
      const std::string payload = with_control_id(message, id);
      produced[i] = Clock::now();
      (void)sink.produce("hl7v2.in", id, payload, {}, nullptr);
    }
    const double produce_secs = std::chrono::duration<double>(Clock::now() - start).count();
    (void)sink.flush(30s);
    const auto deadline = Clock::now() + 120s;
    while (reader.count() < n && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
    const auto c = runner.counts();
    runner.stop();
    th.join();
    std::vector<double> lat;
    lat.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
      if (reader.seen(i) != Clock::time_point{})
        lat.push_back(std::chrono::duration<double, std::milli>(reader.seen(i) - produced[i]).count());
    std::printf("offered %.0f messages/s for %.1f s (%zu messages, achieved %.0f/s); consumed %lu, published %lu\n", o.rate,
                produce_secs, n, static_cast<double>(n) / produce_secs, static_cast<unsigned long>(c.consumed),
                static_cast<unsigned long>(c.published));
    std::printf("end-to-end latency, input produce() -> its DiagnosticReport fetched downstream (%zu of %zu seen): "
                "p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
                lat.size(), n, quantile(lat, 0.5), quantile(lat, 0.99), quantile(lat, 1.0));
    print_runner_latency(metrics);
  }
  std::printf("peak resident memory (VmHWM%s, %s): %s\n", o.rate > 0 ? "" : " since the pre-publish",
              embedded ? "whole process incl. the mock broker's retained data" : "pipeline and benchmark clients; broker elsewhere",
              proc_status("VmHWM:").c_str());
  return 0;
}
