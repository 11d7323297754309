// Hot reload under load. A steady stream of ORU^R01 messages over several
// partitions flows through an in-process PipelineRunner while the mappings
// (a temp copy of the shipped tree, fixtures included) are edited and
// reloaded through the MappingReloader that `dxnorm run` wires to SIGHUP.
// Checks: nothing lost (consumed = published + dead-lettered, every input on
// fhir.bundle or the dead-letter topic), every output record's
// dxnorm-mapping-version is the old or the new value, all records of one
// message carry the same one, and within each source partition the version
// changes at exactly one point (ordered by source offset). Broken edits (a
// YAML error, a change that makes a fixture fail) are rejected and counted;
// the running version stays.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <signal.h>

#include "integration_util.h"
#include "connectors/kafka/kafka_publish.h"
#include "pipeline/runtime/mapping_reloader.h"

using namespace dxnorm;
using namespace dxnorm::itest;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const fs::path& p, const std::string& s) {
  // Write then rename, as an editor would: the reloader never sees half a file.
  fs::path tmp = p;
  tmp += ".tmp~";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << s;
    REQUIRE(out.good());
  }
  fs::rename(tmp, p);
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  auto p = text.find(from);
  REQUIRE_MESSAGE(p != std::string::npos, "not found: " << from);
  return text.replace(p, from.size(), to);
}

double reloads(const runtime::Metrics& m, const char* result) {
  return m.value("dxnorm_mapping_reloads_total", std::string("result=\"") + result + "\"");
}

}  // namespace

TEST_CASE("reload under load: none lost, the version header changes at one point per partition, bad edits rejected") {
  quiet_logs();
  const auto t_start = Clock::now();
  TempDir tmp;
  const fs::path mdir = fs::path(tmp.path()) / "mappings";
  fs::copy(mappings_dir(), mdir, fs::copy_options::recursive);
  const fs::path oru = mdir / "hl7v2" / "oru_r01.yaml";
  const fs::path status_table = mdir / "codes" / "v2-0123-report-status.yaml";
  const std::string oru_v1 = slurp(oru);
  REQUIRE(oru_v1.find("\nversion: 1.0.0\n") != std::string::npos);
  REQUIRE(fs::is_directory(mdir / "hl7v2" / "oru_r01.tests"));

  constexpr int kPartitions = 4;
  kafka::EmbeddedBroker broker(1);
  auto cfg = test_config(broker, "itest-reload");
  cfg.mappings_dir = mdir.string();
  auto topics = create_topics(broker, cfg, kPartitions);
  TopicReader reader(broker.bootstraps(), topics);

  map::LoaderOptions lo;
  lo.default_zone = cfg.source_zone;
  auto initial = map::MappingSet::load(mdir.string(), lo);
  const std::string old_version = "1.0.0+" + initial->version();

  runtime::Metrics metrics;
  runtime::PipelineRunner runner(cfg, initial, metrics);
  runtime::MappingReloader reloader(cfg, initial->version(), metrics,
                                    [&runner](std::shared_ptr<const map::MappingSet> s) { runner.set_mappings(std::move(s)); });
  int rc = -1;
  std::thread run_thread([&] { rc = runner.run(); });
  struct Joiner {
    runtime::PipelineRunner& r;
    std::thread& t;
    ~Joiner() {
      r.stop();
      if (t.joinable()) t.join();
    }
  } joiner{runner, run_thread};
  const auto ready_by = Clock::now() + 30s;
  while (!runner.ready() && Clock::now() < ready_by) std::this_thread::sleep_for(20ms);
  REQUIRE(runner.ready());

  // The stream: ORU variants (own control id and filler order number, so
  // their own ids), keyed by control id over the partitions; every 25th an
  // unparseable record (dead letter).
  const std::string oru_text = fixture("valid/oru_r01_cbc_nm.hl7");
  const std::string garbage = fixture("invalid/no_msh.hl7");
  constexpr int kBatches = 60, kPerBatch = 20;
  std::vector<Input> inputs;
  for (int i = 0; i < kBatches * kPerBatch; ++i) {
    const std::string id = "RLD-" + std::to_string(i);
    if (i % 25 == 24) inputs.push_back({"no_msh", id, garbage + "\r" + id, false});
    else inputs.push_back({"oru", id, make_variant(oru_text, id, "F" + std::to_string(i)), true});
  }
  std::atomic<int> batches_sent{0};
  std::atomic<std::size_t> delivered{0}, failed{0};
  std::thread producer([&] {
    kafka::KafkaProperties p = {{"bootstrap.servers", broker.bootstraps()},
                                {"linger.ms", "2"},
                                {"max.in.flight.requests.per.connection", "1"}};
    for (int b = 0; b < kBatches; ++b) {
      std::vector<std::string> payloads;
      for (int i = 0; i < kPerBatch; ++i) payloads.push_back(inputs[b * kPerBatch + i].payload);
      auto rep = kafka::publish_records(
          p, "hl7v2.in", payloads,
          [&](std::size_t i, std::string_view) { return inputs[b * kPerBatch + i].control_id; }, 30s);
      delivered += rep.delivered;
      failed += rep.failed;
      batches_sent = b + 1;
      std::this_thread::sleep_for(80ms);
    }
  });
  struct ProducerJoin {
    std::thread& t;
    ~ProducerJoin() {
      if (t.joinable()) t.join();
    }
  } producer_join{producer};
  auto wait_batches = [&](int n) {
    const auto until = Clock::now() + 60s;
    while (batches_sent.load() < n && Clock::now() < until) std::this_thread::sleep_for(10ms);
    REQUIRE(batches_sent.load() >= n);
  };
  auto processed = [&] {
    auto c = runner.counts();
    return c.published + c.dead_lettered;
  };

  // 1. A deliberate change goes live while messages flow.
  wait_batches(kBatches / 3);
  REQUIRE(processed() > 0);
  spit(oru, replaced(oru_v1, "\nversion: 1.0.0\n", "\nversion: 1.0.1\n"));
  const auto before_apply = processed();
  CHECK(reloader.reload("test: version bump"));
  CHECK(before_apply < inputs.size());
  const std::string new_set = reloader.version();
  CHECK(new_set != initial->version());
  const std::string new_version = "1.0.1+" + new_set;
  CHECK(reloads(metrics, "applied") == 1);
  CHECK(metrics.value("dxnorm_mapping_set_info", "version=\"" + new_set + "\"") == 1);

  // 2. A YAML error: rejected, the running set stays.
  wait_batches(kBatches / 2);
  spit(oru, replaced(oru_v1, "\nversion: 1.0.0\n", "\nversion: 1.0.2\nresources: [\n"));
  CHECK_FALSE(reloader.reload("test: yaml error"));
  CHECK(reloads(metrics, "rejected") == 1);
  CHECK(reloader.version() == new_set);

  // 3. A code-table change that makes a fixture fail (F -> preliminary, while
  //    chemistry_panel expects DiagnosticReport.status final): rejected.
  spit(oru, replaced(oru_v1, "\nversion: 1.0.0\n", "\nversion: 1.0.1\n"));
  const std::string table = slurp(status_table);
  spit(status_table, replaced(table, "  F: final\n", "  F: preliminary\n"));
  wait_batches(2 * kBatches / 3);
  CHECK_FALSE(reloader.reload("test: fixture failure"));
  CHECK(reloads(metrics, "rejected") == 2);
  CHECK(reloader.version() == new_set);
  CHECK(reloads(metrics, "applied") == 1);

  // 4. Back to the live content: nothing to do.
  spit(status_table, table);
  CHECK_FALSE(reloader.reload("test: unchanged"));
  CHECK(reloads(metrics, "unchanged") == 1);

  producer.join();
  REQUIRE(failed.load() == 0);
  REQUIRE(delivered.load() == inputs.size());
  std::size_t n_valid = 0;
  for (const auto& in : inputs) n_valid += in.valid;
  const std::size_t n_invalid = inputs.size() - n_valid;
  const auto done_by = Clock::now() + 60s;
  while (processed() < inputs.size() && Clock::now() < done_by) std::this_thread::sleep_for(20ms);
  REQUIRE(processed() == inputs.size());
  REQUIRE(reader.wait_for(
      [&] { return reader.count("fhir.bundle") >= n_valid && reader.count(cfg.dead_letter_topic) >= n_invalid; }, 30s));
  (void)reader.catch_up(5s);
  const auto counts = runner.counts();
  runner.stop();
  run_thread.join();
  CHECK(rc == 0);
  CHECK(reader.gaps() == 0);

  // None lost.
  CHECK(counts.consumed == inputs.size());
  CHECK(counts.consumed == counts.published + counts.dead_lettered);
  CHECK(counts.published == n_valid);
  CHECK(counts.dead_lettered == n_invalid);
  CHECK(reader.count("fhir.bundle") == n_valid);
  CHECK(reader.count(cfg.dead_letter_topic) == n_invalid);

  // Versions: per source message one version; per source partition, ordered
  // by source offset, old ... old new ... new.
  std::map<int, std::map<std::int64_t, std::string>> version_at;  // partition -> offset -> version
  std::size_t fhir_records = 0;
  std::set<std::string> seen_versions;
  for (const auto& [topic, np] : topics) {
    if (topic == "hl7v2.in" || topic == cfg.dead_letter_topic) continue;
    for (const auto& r : reader.records(topic)) {
      ++fhir_records;
      auto v = r.header("dxnorm-mapping-version");
      auto sp = r.header("dxnorm-source-partition");
      auto so = r.header("dxnorm-source-offset");
      REQUIRE(v.has_value());
      REQUIRE(sp.has_value());
      REQUIRE(so.has_value());
      seen_versions.insert(*v);
      CHECK_MESSAGE((*v == old_version || *v == new_version), topic << " record with version " << *v);
      auto [it, fresh] = version_at[std::stoi(*sp)].emplace(std::stoll(*so), *v);
      CHECK_MESSAGE(it->second == *v, "message " << *sp << "/" << *so << " mapped by two versions");
    }
  }
  CHECK(fhir_records > n_valid);  // the Bundle plus the per-resource records
  CHECK(seen_versions == std::set<std::string>{old_version, new_version});
  CHECK(version_at.size() == static_cast<std::size_t>(kPartitions));
  for (const auto& [partition, by_offset] : version_at) {
    int changes = 0;
    std::size_t old_n = 0, new_n = 0;
    std::string prev;
    for (const auto& [offset, v] : by_offset) {
      if (!prev.empty() && v != prev) {
        ++changes;
        CHECK_MESSAGE(v == new_version, "partition " << partition << " went back to " << v << " at offset " << offset);
      }
      prev = v;
      (v == old_version ? old_n : new_n)++;
    }
    INFO("partition " << partition << ": " << old_n << " old, " << new_n << " new");
    CHECK(changes == 1);
    CHECK(old_n > 0);
    CHECK(new_n > 0);
  }
  MESSAGE("reload test: " << inputs.size() << " messages, " << fhir_records << " FHIR records, "
                          << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t_start).count()
                          << " ms");
}

TEST_CASE("the set version (and so the header) changes with any code table entry, not only with the table's size") {
  TempDir tmp;
  const fs::path mdir = fs::path(tmp.path()) / "mappings";
  fs::copy(mappings_dir(), mdir, fs::copy_options::recursive);
  const fs::path table = mdir / "codes" / "v2-0123-report-status.yaml";
  const std::string text = slurp(table);
  const std::string v0 = map::MappingSet::load(mdir.string(), map::LoaderOptions{})->version();
  CHECK(map::MappingSet::load(mdir.string(), map::LoaderOptions{})->version() == v0);  // stable
  spit(table, replaced(text, "  F: final\n", "  F: preliminary\n"));
  const std::string v1 = map::MappingSet::load(mdir.string(), map::LoaderOptions{})->version();
  CHECK(v1 != v0);
  spit(table, replaced(text, "default: {code: unknown}", "default: {code: registered}"));
  CHECK(map::MappingSet::load(mdir.string(), map::LoaderOptions{})->version() != v0);
  spit(table, text);
  CHECK(map::MappingSet::load(mdir.string(), map::LoaderOptions{})->version() == v0);
}

TEST_CASE("dxnorm run reloads on SIGHUP: the header follows the new set, a broken edit is rejected and counted") {
  quiet_logs();
  TempDir tmp;
  const fs::path mdir = fs::path(tmp.path()) / "mappings";
  fs::copy(mappings_dir(), mdir, fs::copy_options::recursive);
  const fs::path oru = mdir / "hl7v2" / "oru_r01.yaml";
  const std::string oru_v1 = slurp(oru);
  const std::string v1 = "1.0.0+" + map::MappingSet::load(mdir.string(), map::LoaderOptions{})->version();

  kafka::EmbeddedBroker broker(1);
  runtime::RunConfig shape = test_config(broker, "itest-sighup");
  auto topics = create_topics(broker, shape, 2);
  TopicReader reader(broker.bootstraps(), topics);
  const std::string config =
      tmp.write("dxnorm.yaml", replaced(child_config_yaml(broker.bootstraps(), "itest-sighup", "info"),
                                        "mappings: " + mappings_dir() + "\n", "mappings: " + mdir.string() + "\n"));
  Child child({dxnorm_binary(), "run", "--config", config}, tmp.path() + "/out.txt", tmp.path() + "/err.txt");
  int port = 0;
  const auto until = Clock::now() + 30s;
  while (Clock::now() < until) {
    if ((port = http_port_of(child.out())) > 0) {
      int status = 0;
      if (http_get(port, "/readyz", &status) && status == 200) break;
    }
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE_MESSAGE(port > 0, child.err());

  const std::string oru_text = fixture("valid/oru_r01_cbc_nm.hl7");
  auto batch = [&](const std::string& prefix, int n) {
    std::vector<Input> v;
    for (int i = 0; i < n; ++i) {
      const std::string id = prefix + std::to_string(i);
      v.push_back({"oru", id, make_variant(oru_text, id, prefix + "F" + std::to_string(i)), true});
    }
    return v;
  };
  auto versions_from = [&](std::size_t from) {
    std::set<std::string> s;
    for (const auto& r : reader.records("fhir.bundle", from)) s.insert(r.header("dxnorm-mapping-version").value_or("?"));
    return s;
  };
  auto metric = [&](const std::string& line) {
    auto body = http_get(port, "/metrics");
    return body && body->find(line) != std::string::npos;
  };

  publish(broker.bootstraps(), "hl7v2.in", batch("HUP-A-", 20));
  REQUIRE(reader.wait_for([&] { return reader.count("fhir.bundle") >= 20; }, 30s));
  CHECK(versions_from(0) == std::set<std::string>{v1});

  spit(oru, replaced(oru_v1, "\nversion: 1.0.0\n", "\nversion: 1.1.0\n"));
  child.signal(SIGHUP);
  REQUIRE_MESSAGE(reader.wait_for([&] { return metric("dxnorm_mapping_reloads_total{result=\"applied\"} 1"); }, 20s),
                  child.err());
  publish(broker.bootstraps(), "hl7v2.in", batch("HUP-B-", 20));
  REQUIRE(reader.wait_for([&] { return reader.count("fhir.bundle") >= 40; }, 30s));
  const auto after = versions_from(20);
  REQUIRE(after.size() == 1);
  const std::string v2 = *after.begin();
  CHECK(v2.rfind("1.1.0+", 0) == 0);
  CHECK(v2 != v1);

  spit(oru, "mapping: hl7v2-oru-r01\nversion: [\n");
  child.signal(SIGHUP);
  REQUIRE_MESSAGE(reader.wait_for([&] { return metric("dxnorm_mapping_reloads_total{result=\"rejected\"} 1"); }, 20s),
                  child.err());
  publish(broker.bootstraps(), "hl7v2.in", batch("HUP-C-", 20));
  REQUIRE(reader.wait_for([&] { return reader.count("fhir.bundle") >= 60; }, 30s));
  CHECK(versions_from(40) == std::set<std::string>{v2});
  CHECK(child.err().find("mapping reload rejected; the running set stays") != std::string::npos);

  child.signal(SIGTERM);
  CHECK(child.wait(20s) == std::optional<int>(0));
  CHECK(reader.count("fhir.bundle") == 60);
}
