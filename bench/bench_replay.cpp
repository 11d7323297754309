// Replay throughput on the benchmark message (bench/data/oru_r01_cmp_14obx.hl7,
// 3.9 KB, 14 OBX), against an in-process embedded broker:
//   N records with distinct MSH-10 are pre-published to a raw topic, then
//   `replay --dry-run` (read + convert) and `replay` (read + convert + publish
//   like run) are timed, and, for comparison, `dxnorm run`'s PipelineRunner
//   on the same records (timed from its first consumed record, so the
//   consumer-group join is not counted).
// Run: build/bench/bench_replay [N=50000] [workers=2]. Prints messages/s.
// The mock keeps about 5 MB per partition: the input topic gets enough
// partitions to hold N records (output topics overflow silently; harmless here).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "connectors/kafka/embedded_broker.h"
#include "connectors/kafka/kafka_log.h"
#include "connectors/kafka/kafka_sink.h"
#include "pipeline/runtime/json_log.h"
#include "pipeline/runtime/metrics.h"
#include "pipeline/runtime/pipeline_runner.h"
#include "pipeline/runtime/replay.h"

using namespace dxnorm;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 50'000;
  const int workers = argc > 2 ? std::atoi(argv[2]) : 2;
  kafka::set_log_handler([](int level, std::string_view m) {
    if (level <= kafka::kLogError) std::fprintf(stderr, "kafka: %.*s\n", static_cast<int>(m.size()), m.data());
  });
  runtime::set_log_level(runtime::LogLevel::kError);
  std::ifstream in(std::string(DXNORM_SOURCE_DIR) + "/bench/data/oru_r01_cmp_14obx.hl7", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string base = ss.str();
  std::size_t pos = 0;
  for (int bar = 0; bar < 9; ++bar) pos = base.find('|', pos) + 1;
  const std::size_t end = base.find('|', pos);

  kafka::EmbeddedBroker broker;
  const int partitions = std::max(6, static_cast<int>(static_cast<double>(n) * static_cast<double>(base.size()) / 4e6) + 1);
  runtime::RunConfig cfg;
  cfg.kafka["bootstrap.servers"] = broker.bootstraps();
  cfg.producer["linger.ms"] = "5";
  cfg.consumer["group.id"] = "bench-run";
  cfg.inputs.push_back({"hl7v2.in", "hl7v2", "", 0, 0});
  cfg.workers = workers;
  broker.create_topic({"hl7v2.in", partitions, 1});
  for (const auto& t : cfg.all_topics())
    if (t != "hl7v2.in") broker.create_topic({t, 6, 1});
  {
    kafka::KafkaSinkOptions so;
    so.properties = {{"bootstrap.servers", broker.bootstraps()}, {"linger.ms", "5"}};
    kafka::KafkaSink sink(so);
    for (int i = 0; i < n; ++i) {
      std::string m = base;
      const std::string id = "BENCH" + std::to_string(i);
      m.replace(pos, end - pos, id);
      (void)sink.produce("hl7v2.in", id, m, {}, nullptr);
    }
    if (!sink.flush(std::chrono::seconds(120)).ok()) std::fprintf(stderr, "pre-publish incomplete\n");
  }
  auto mappings = map::MappingSet::load(std::string(DXNORM_SOURCE_DIR) + "/mappings", {});
  std::printf("bench_replay: %d records of %zu bytes on %d partitions, %d workers\n", n, base.size(), partitions,
              workers);

  for (auto mode : {runtime::ReplayMode::kDryRun, runtime::ReplayMode::kConvert}) {
    runtime::ReplayOptions o;
    o.source_topic = "hl7v2.in";
    o.mode = mode;
    o.workers = workers;
    runtime::Replay replay(cfg, mappings, o);
    auto r = replay.run();
    std::printf("replay %-9s read %llu converted %llu failed %llu in %.2f s: %.0f messages/s\n",
                mode == runtime::ReplayMode::kDryRun ? "--dry-run" : "(publish)",
                static_cast<unsigned long long>(r.read), static_cast<unsigned long long>(r.converted),
                static_cast<unsigned long long>(r.dead_lettered + r.delivery_failures), r.duration_s,
                static_cast<double>(r.read) / r.duration_s);
  }

  // dxnorm run on the same records, for comparison.
  runtime::Metrics metrics;
  runtime::PipelineRunner runner(cfg, mappings, metrics);
  std::thread t([&] { (void)runner.run(); });
  Clock::time_point first{};
  const auto deadline = Clock::now() + std::chrono::seconds(600);
  while (Clock::now() < deadline) {
    auto c = runner.counts();
    if (c.consumed > 0 && first == Clock::time_point{}) first = Clock::now();
    if (c.published + c.dead_lettered >= static_cast<std::uint64_t>(n)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  double secs = std::chrono::duration<double>(Clock::now() - first).count();
  auto c = runner.counts();
  runner.stop();
  t.join();
  std::printf("dxnorm run          published %llu dead-lettered %llu in %.2f s: %.0f messages/s\n",
              static_cast<unsigned long long>(c.published), static_cast<unsigned long long>(c.dead_lettered), secs,
              static_cast<double>(c.published + c.dead_lettered) / secs);
  return 0;
}
