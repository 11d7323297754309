// `dxnorm run` as a child process against an embedded broker in the test
// process: SIGKILL mid-stream and restart (nothing lost), SIGTERM (exits 0
// within 10 s and commits), config errors (exit 2 with file:line:column).
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <set>

#include "connectors/kafka/kafka_sink.h"
#include "integration_util.h"

using namespace dxnorm;
using namespace dxnorm::itest;

namespace {

// Waits until the child printed its HTTP port and /readyz answers 200
// (partitions assigned, mappings loaded). Returns the port, 0 on timeout.
int wait_child_ready(Child& c, std::chrono::milliseconds timeout) {
  const auto end = Clock::now() + timeout;
  while (Clock::now() < end) {
    if (c.wait(0ms).has_value()) return 0;  // exited
    if (int port = http_port_of(c.out()); port > 0) {
      int status = 0;
      if (http_get(port, "/readyz", &status) && status == 200) return port;
    }
    std::this_thread::sleep_for(50ms);
  }
  return 0;
}

struct ChildRun {
  TempDir dir;
  std::string config;
  std::map<std::string, int> topics;
  int starts = 0;

  ChildRun(kafka::EmbeddedBroker& broker, const std::string& group, const std::string& log_level,
           int auto_commit_ms = 500) {
    config = dir.write("dxnorm.yaml", child_config_yaml(broker.bootstraps(), group, log_level, auto_commit_ms));
    const auto cfg = runtime::RunConfig::load(config);  // the same file the child reads
    for (const auto& t : cfg.all_topics()) {
      broker.create_topic({t, 6, 1});
      topics[t] = 6;
    }
  }
  std::unique_ptr<Child> start() {
    ++starts;
    const std::string n = std::to_string(starts);
    return std::make_unique<Child>(std::vector<std::string>{dxnorm_binary(), "run", "--config", config},
                                   dir.path() + "/out" + n + ".txt", dir.path() + "/err" + n + ".txt");
  }
};

// Records of `topic` with the same key from the same input message (a
// redelivery re-published it) hold the same bytes. Different messages may
// legitimately give one key different versions (a ServiceRequest keyed by the
// placer number, with a new filler number). Returns the redelivered count.
std::size_t check_duplicates_identical(const TopicReader& reader, const std::string& topic) {
  std::map<std::string, const std::string*> by_key;  // "key@control id"
  std::size_t dups = 0;
  for (const auto& r : reader.records(topic)) {
    auto [it, fresh] = by_key.emplace(r.key + "@" + r.header("dxnorm-message-control-id").value_or(""), &r.value);
    if (fresh) continue;
    ++dups;
    CHECK_MESSAGE(*it->second == r.value, topic << " " << it->first << ": redelivery with different bytes");
  }
  return dups;
}

}  // namespace

TEST_CASE("SIGKILL in the middle of a stream, restart: every message published or dead-lettered") {
  quiet_logs();
  kafka::EmbeddedBroker broker(1);
  ChildRun run(broker, "itest-crash", "info");

  // 3000 records: two ORU messages with their own MSH-10 and filler order
  // number, and one in 25 an SIU with no route (a dead letter). Small ORUs:
  // the outputs stay under the mock's ~5 MB per partition.
  const std::string oru1 = fixture("valid/oru_r01_sn_glucose.hl7");
  const std::string oru2 = fixture("valid/oru_r01_cbc_nm.hl7");
  const std::string siu = fixture("invalid/siu_s12_no_route.hl7");
  constexpr int kN = 3000;
  std::vector<Input> inputs;
  for (int i = 0; i < kN; ++i) {
    const std::string id = "CRASH-" + std::to_string(i);
    if (i % 25 == 24) inputs.push_back({"siu", id, make_variant(siu, id), false});
    else inputs.push_back({"oru", id, make_variant(i % 2 ? oru1 : oru2, id, "F" + std::to_string(i)), true});
  }

  TopicReader reader(broker.bootstraps(), run.topics);
  auto first = run.start();
  REQUIRE_MESSAGE(wait_child_ready(*first, 30s) > 0, "dxnorm run did not become ready:\n" << first->err());

  // Produce at a rate (~6 s) so that the kill lands mid-stream.
  kafka::KafkaSinkOptions so;
  so.properties = {{"bootstrap.servers", broker.bootstraps()}, {"linger.ms", "2"},
                   {"max.in.flight.requests.per.connection", "1"}};
  std::atomic<int> delivered{0}, failed{0};
  std::atomic<bool> producing{true};
  std::thread producer([&] {
    kafka::KafkaSink sink(so);
    for (int i = 0; i < kN; ++i) {
      auto c = kafka::DeliveryCompletion::create([&](const Status& s) { (s.ok() ? delivered : failed).fetch_add(1); });
      (void)sink.produce("hl7v2.in", inputs[i].control_id, inputs[i].payload, {}, c);
      c->seal();
      if (i % 50 == 49) std::this_thread::sleep_for(100ms);
    }
    (void)sink.flush(30s);
    producing = false;
  });

  // Kill once some output appeared.
  std::int64_t out_at_kill = 0;
  const auto kill_deadline = Clock::now() + 30s;
  while (Clock::now() < kill_deadline) {
    out_at_kill = reader.high_watermark("fhir.bundle");
    if (out_at_kill >= 800) break;
    std::this_thread::sleep_for(20ms);
  }
  const auto committed_before = committed_offsets(broker.bootstraps(), "itest-crash", "hl7v2.in", 6);
  first->signal(SIGKILL);
  REQUIRE(first->wait(5s) == std::optional<int>(128 + SIGKILL));
  const std::int64_t bundles_after_kill = reader.high_watermark("fhir.bundle");
  const std::int64_t dead_after_kill = reader.high_watermark("dxnorm.dead-letter");
  MESSAGE("killed after " << out_at_kill << " bundles; " << bundles_after_kill << " bundles and " << dead_after_kill
                          << " dead letters written by the first run");
  const auto committed = committed_offsets(broker.bootstraps(), "itest-crash", "hl7v2.in", 6);
  MESSAGE("offsets committed by the first run: " << committed_before << " just before the kill, " << committed
                                                 << " after");
  CHECK(out_at_kill >= 800);
  CHECK(bundles_after_kill + dead_after_kill < kN);  // mid-stream: not everything was out
  producer.join();
  REQUIRE(delivered.load() == kN);
  REQUIRE(failed.load() == 0);

  // Restart: the same group resumes from the committed offsets.
  auto second = run.start();
  std::set<std::string> missing;
  for (const auto& in : inputs) missing.insert(in.control_id);
  std::size_t bundle_seen = 0, dead_seen = 0;
  auto covered = [&] {
    for (const auto& r : reader.records("fhir.bundle", bundle_seen)) {
      ++bundle_seen;
      missing.erase(r.header("dxnorm-message-control-id").value_or(""));
    }
    for (const auto& r : reader.records("dxnorm.dead-letter", dead_seen)) {
      ++dead_seen;
      missing.erase(r.header("dxnorm-message-control-id").value_or(""));
    }
    return missing.empty();
  };
  const auto t0 = Clock::now();
  const bool caught_up = reader.wait_for(covered, 90s);
  MESSAGE("restart caught up in "
          << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count() << " ms");
  if (!caught_up) {
    const int port = http_port_of(second->out());
    MESSAGE("second run /metrics:\n" << (port ? http_get(port, "/metrics").value_or("") : "(no port)"));
    MESSAGE("second run stderr (tail):\n" << second->err().substr(second->err().size() > 6000 ? second->err().size() - 6000 : 0));
  }
  CHECK_MESSAGE(caught_up, missing.size() << " control ids never came out, e.g. " << (missing.empty() ? "" : *missing.begin()));
  second->signal(SIGTERM);
  const auto rc = second->wait(10s);
  CHECK_MESSAGE(rc == std::optional<int>(0), "exit " << (rc ? std::to_string(*rc) : "none within 10 s") << "\n"
                                                     << second->err());

  CHECK(reader.low_watermark("hl7v2.in") == 0);  // no input dropped by the mock
  CHECK(reader.gaps() == 0);                      // every output record was read
  // Valid ones on fhir.bundle, the SIUs on the dead-letter topic.
  std::set<std::string> bundled, dead;
  for (const auto& r : reader.records("fhir.bundle")) bundled.insert(r.header("dxnorm-message-control-id").value_or(""));
  for (const auto& r : reader.records("dxnorm.dead-letter")) dead.insert(r.header("dxnorm-message-control-id").value_or(""));
  for (const auto& in : inputs) CHECK_MESSAGE((in.valid ? bundled : dead).count(in.control_id) == 1, in.control_id);
  std::size_t dups = 0;
  for (const auto& [topic, np] : run.topics) {
    (void)np;
    if (topic.rfind("fhir.", 0) == 0 || topic == "dxnorm.dead-letter") dups += check_duplicates_identical(reader, topic);
  }
  MESSAGE("redelivered output records (identical by key): " << dups << "; bundles " << reader.count("fhir.bundle")
                                                            << " for " << bundled.size() << " messages");
}

TEST_CASE("SIGTERM: dxnorm run exits 0 within 10 s, commits, and a restart consumes nothing again") {
  quiet_logs();
  kafka::EmbeddedBroker broker(1);
  // Auto-commit far away: only the shutdown commit can store the offsets.
  ChildRun run(broker, "itest-term", "info", 600000);
  const std::string oru = fixture("valid/oru_r01_cmp_14obx.hl7");
  std::vector<Input> inputs;
  for (int i = 0; i < 300; ++i) {
    const std::string id = "TERM-" + std::to_string(i);
    inputs.push_back({"oru", id, make_variant(oru, id, "T" + std::to_string(i)), true});
  }
  TopicReader reader(broker.bootstraps(), run.topics);
  auto first = run.start();
  REQUIRE_MESSAGE(wait_child_ready(*first, 30s) > 0, first->err());
  publish(broker.bootstraps(), "hl7v2.in", inputs);
  REQUIRE(reader.wait_for([&] { return reader.count("fhir.bundle") >= inputs.size(); }, 60s));
  const auto t0 = Clock::now();
  first->signal(SIGTERM);
  const auto rc = first->wait(10s);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  REQUIRE_MESSAGE(rc == std::optional<int>(0), "exit " << (rc ? std::to_string(*rc) : "none within 10 s") << "\n"
                                                       << first->err());
  MESSAGE("first run stopped in " << took << " ms");
  CHECK(first->err().find("\"msg\":\"pipeline stopped\"") != std::string::npos);
  const auto bundles = reader.high_watermark("fhir.bundle");
  CHECK(bundles == static_cast<std::int64_t>(inputs.size()));

  auto second = run.start();
  REQUIRE_MESSAGE(wait_child_ready(*second, 30s) > 0, second->err());
  std::this_thread::sleep_for(3s);  // time to fetch anything left uncommitted
  second->signal(SIGTERM);
  REQUIRE(second->wait(10s) == std::optional<int>(0));
  CHECK(reader.high_watermark("fhir.bundle") == bundles);
  const std::string err = second->err();
  const auto stopped = err.find("\"msg\":\"pipeline stopped\"");
  REQUIRE_MESSAGE(stopped != std::string::npos, err);
  const auto line = err.substr(stopped, err.find('\n', stopped) - stopped);
  CHECK_MESSAGE(line.find("\"consumed\":\"0\"") != std::string::npos, line);
}

TEST_CASE("config errors: dxnorm run exits 2 and names file:line:column") {
  quiet_logs();
  TempDir dir;
  const std::string base = child_config_yaml("127.0.0.1:9", "itest-config", "warning");
  // ":line:column" (1-based) of `needle` + `skip` characters in `yaml`.
  auto where = [](const std::string& yaml, const std::string& needle, std::size_t skip = 0) {
    const auto p = yaml.find(needle) + skip;
    const auto line = std::count(yaml.begin(), yaml.begin() + static_cast<long>(p), '\n') + 1;
    const auto bol = yaml.rfind('\n', p - 1);
    const auto col = p - (bol == std::string::npos ? 0 : bol + 1) + 1;
    return ":" + std::to_string(line) + ":" + std::to_string(col);
  };
  struct Case {
    const char* name;
    std::string yaml;
    std::string where;
    const char* says;
  };
  std::vector<Case> cases;
  {
    std::string y = base + "worker-count: 3\n";
    cases.push_back({"unknown-key", y, where(y, "worker-count"), "unknown key 'worker-count'"});
  }
  {
    std::string y = base;
    y.replace(y.find("    format: hl7v2\n"), 18, "    format: hl7v2\n    mapping: nope\n");
    // Reported at the input's entry (the map after "- ").
    cases.push_back({"missing-mapping", y, where(y, "  - topic: hl7v2.in", 4), "'nope'"});
  }
  {
    std::string y = base;
    y.replace(y.find("dead-letter-topic: dxnorm.dead-letter"), 37, "dead-letter-topic: hl7v2.in");
    cases.push_back({"dead-letter-is-input", y, where(y, "  - topic: hl7v2.in", 11), "dead-letter topic"});
  }
  for (const auto& c : cases) {
    {
      const std::string path = dir.write(std::string(c.name) + ".yaml", c.yaml);
      Child child({dxnorm_binary(), "run", "--config", path}, dir.path() + "/out.txt", dir.path() + "/err.txt");
      const auto rc = child.wait(30s);
      const std::string err = child.err();
      INFO(c.name << " stderr:\n" << err);
      CHECK(rc == std::optional<int>(2));
      CHECK(err.find(path + c.where + ":") != std::string::npos);
      CHECK(err.find(c.says) != std::string::npos);
      CHECK(child.out().find("inputs:") == std::string::npos);  // never started
    }
  }
}
