// dxnorm replay against the embedded broker, in-process: offset and time
// ranges, dead-letter re-drive after a mapping fix, idempotence, interrupt and
// resume, safety refusals, dry run.
#include <doctest/doctest.h>
#include <librdkafka/rdkafka.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "connectors/kafka/embedded_broker.h"
#include "connectors/kafka/kafka_log.h"
#include "connectors/kafka/kafka_reader.h"
#include "pipeline/publish/message_converter.h"
#include "pipeline/runtime/json_log.h"
#include "pipeline/runtime/output_records.h"
#include "pipeline/runtime/replay.h"

using namespace dxnorm;
using namespace dxnorm::runtime;
namespace fs = std::filesystem;

namespace {

void quiet() {
  static const bool once = [] {
    if (!std::getenv("DXNORM_REPLAY_TEST_LOG")) {
      kafka::set_log_handler([](int level, std::string_view m) {
        if (level <= kafka::kLogError) fprintf(stderr, "kafka[%d] %.*s\n", level, static_cast<int>(m.size()), m.data());
      });
      set_log_level(LogLevel::kError);
    }
    return true;
  }();
  (void)once;
}

std::string message_text() {
  std::ifstream in(std::string(DXNORM_SOURCE_DIR) + "/bench/data/oru_r01_cmp_14obx.hl7", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The benchmark message with MSH-10 = control id.
std::string variant(const std::string& control_id) {
  static const std::string base = message_text();
  std::string m = base;
  std::size_t pos = 0;
  for (int bar = 0; bar < 9; ++bar) pos = m.find('|', pos) + 1;
  std::size_t end = m.find('|', pos);
  return m.replace(pos, end - pos, control_id);
}

std::shared_ptr<const map::MappingSet> shipped_mappings() {
  static auto set = map::MappingSet::load(std::string(DXNORM_SOURCE_DIR) + "/mappings", {});
  return set;
}

struct Env {
  bool quiet_logs = (quiet(), true);  // before the broker logs anything
  kafka::EmbeddedBroker broker;
  RunConfig cfg;
  explicit Env(int input_partitions = 1) {
    cfg.kafka["bootstrap.servers"] = broker.bootstraps();
    cfg.producer["linger.ms"] = "1";
    cfg.inputs.push_back({"hl7v2.in", "hl7v2", "", 0, 0});
    cfg.mappings_dir = std::string(DXNORM_SOURCE_DIR) + "/mappings";
    cfg.workers = 2;
    broker.create_topic({"hl7v2.in", input_partitions, 1});
    broker.create_topic({cfg.bundle_topic, 1, 1});
    broker.create_topic({cfg.dead_letter_topic, 1, 1});
    for (const auto& t : cfg.resource_types) broker.create_topic({cfg.resource_topic(t), 1, 1});
  }

  // Produces with explicit timestamps (0: now) and keys; waits for delivery.
  void produce(const std::string& topic, const std::vector<std::string>& payloads,
               const std::vector<std::int64_t>& timestamps = {}, const std::vector<kafka::KafkaHeaders>& headers = {},
               int partition = RD_KAFKA_PARTITION_UA) {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", broker.bootstraps().c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "linger.ms", "1", err, sizeof err);
    kafka::KafkaHandle rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err));
    REQUIRE(rk);
    for (std::size_t i = 0; i < payloads.size(); ++i) {
      rd_kafka_headers_t* h = rd_kafka_headers_new(4);
      if (i < headers.size())
        for (const auto& kv : headers[i]) rd_kafka_header_add(h, kv.key.c_str(), -1, kv.value.data(), kv.value.size());
      const std::string key = "k" + std::to_string(i);
      const std::int64_t ts = i < timestamps.size() ? timestamps[i] : 0;
      auto e = rd_kafka_producev(rk.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
                                 RD_KAFKA_V_KEY(key.data(), key.size()),
                                 RD_KAFKA_V_VALUE(const_cast<char*>(payloads[i].data()), payloads[i].size()),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_TIMESTAMP(ts),
                                 RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
      REQUIRE(e == RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    REQUIRE(rd_kafka_flush(rk.get(), 10000) == RD_KAFKA_RESP_ERR_NO_ERROR);
  }

  std::vector<kafka::KafkaRecord> read_all(const std::string& topic) {
    kafka::KafkaReader reader({{{"bootstrap.servers", broker.bootstraps()}}, topic});
    auto parts = reader.partitions();
    REQUIRE(parts.ok());
    std::vector<kafka::OffsetRange> ranges;
    for (auto p : *parts) {
      auto wm = reader.watermarks(p);
      REQUIRE(wm.ok());
      ranges.push_back({p, wm->low, wm->high});
    }
    REQUIRE(reader.assign(ranges).ok());
    std::vector<kafka::KafkaRecord> out;
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!reader.done() && std::chrono::steady_clock::now() < end) {
      auto r = reader.poll(std::chrono::milliseconds(200));
      REQUIRE(r.ok());
      if (r->has_value()) out.push_back(std::move(**r));
    }
    REQUIRE(reader.done());
    return out;
  }

  ReplayReport replay(ReplayOptions o, std::shared_ptr<const map::MappingSet> m = shipped_mappings()) {
    Replay r(cfg, std::move(m), std::move(o));
    return r.run();
  }
};

std::vector<std::string> variants(int n, const std::string& prefix) {
  std::vector<std::string> v;
  for (int i = 0; i < n; ++i) v.push_back(variant(prefix + std::to_string(i)));
  return v;
}

std::multiset<std::string> replay_of_values(const std::vector<kafka::KafkaRecord>& records) {
  std::multiset<std::string> out;
  for (const auto& r : records)
    if (auto h = r.header(kReplayOfHeader)) out.insert(std::string(*h));
  return out;
}

std::string temp_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("dxnorm-replay-test-" + std::to_string(::getpid()) + "-" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

}  // namespace

TEST_CASE("ISO-8601 times and offset bounds parse") {
  CHECK(parse_iso8601_ms("1970-01-01T00:00Z") == 0);
  CHECK(parse_iso8601_ms("1970-01-01T01:00:00+01:00") == 0);
  CHECK(parse_iso8601_ms("1970-01-01T00:00:01.5Z") == 1500);
  CHECK(parse_iso8601_ms("1970-01-02") == 86'400'000);
  CHECK_THROWS_AS(parse_iso8601_ms("yesterday"), ReplayError);
  auto b = OffsetBound::parse("0:10,3:250");
  CHECK(b.at(0) == 10);
  CHECK(b.at(3) == 250);
  CHECK_FALSE(b.at(1).has_value());
  CHECK(OffsetBound::parse("7").at(5) == 7);
  CHECK_THROWS_AS(OffsetBound::parse("x:1"), ReplayError);
}

TEST_CASE("an offset range is replayed through the mappings, published like run, with replay-of") {
  Env env;
  env.produce("hl7v2.in", variants(20, "OFF"));
  ReplayOptions o;
  o.source_topic = "hl7v2.in";
  o.from_offset = OffsetBound::parse("5");
  o.to_offset = OffsetBound::parse("0:12");
  auto report = env.replay(o);
  CHECK(report.read == 7);
  CHECK(report.converted == 7);
  CHECK(report.exit_status() == 0);
  CHECK(report.positions.at(0) == 12);
  auto bundles = env.read_all(env.cfg.bundle_topic);
  REQUIRE(bundles.size() == 7);
  std::multiset<std::string> want;
  for (int i = 5; i < 12; ++i) want.insert("hl7v2.in/0/" + std::to_string(i));
  CHECK(replay_of_values(bundles) == want);
  for (const auto& b : bundles) {
    CHECK(b.header("content-type") == kFhirContentType);
    CHECK(b.header("dxnorm-source-topic") == "hl7v2.in");
    CHECK(b.header("dxnorm-mapping") == "hl7v2-oru-r01");
    CHECK(b.key.rfind("Bundle/", 0) == 0);
  }
  CHECK(env.read_all("fhir.Observation").size() == 7 * 14);
  CHECK(env.read_all(env.cfg.dead_letter_topic).empty());
}

TEST_CASE("a time range finds its offsets by binary search on the mock, then replays exactly that slice") {
  Env env;
  const std::int64_t base = 1'790'000'000'000;  // 2026-09-21
  std::vector<std::int64_t> ts;
  for (int i = 0; i < 30; ++i) ts.push_back(base + i * 1000);
  env.produce("hl7v2.in", variants(30, "TIME"), ts);
  ReplayOptions o;
  o.source_topic = "hl7v2.in";
  o.from_time_ms = base + 10'000;
  o.to_time_ms = base + 19'500;  // records 10..19
  o.mode = ReplayMode::kDryRun;
  auto report = env.replay(o);
  CHECK(report.lookup_method == "binary-search");
  CHECK(report.ranges.at(0) == std::pair<std::int64_t, std::int64_t>(10, 20));
  CHECK(report.read == 10);
  CHECK(report.converted == 10);

  // The reader on its own: the method is reported, and bounds are right.
  kafka::KafkaReader reader({{{"bootstrap.servers", env.broker.bootstraps()}}, "hl7v2.in"});
  auto t = reader.offset_for_time(0, base - 5);
  REQUIRE(t.ok());
  CHECK(t->method == kafka::OffsetLookup::kBinarySearch);
  CHECK(t->offset == 0);
  auto past = reader.offset_for_time(0, base + 1'000'000);
  REQUIRE(past.ok());
  CHECK(past->offset == 30);
  auto mid = reader.offset_for_time(0, base + 29'000);
  REQUIRE(mid.ok());
  CHECK(mid->offset == 29);
  CHECK(mid->records_read <= 6);
}

TEST_CASE("dead letters re-driven after a mapping fix: fixed ones reach the FHIR topics, broken ones stay") {
  Env env;
  // The broken mapping set: the ORU^R01 mapping is missing (only ADT is left).
  const std::string broken = temp_dir("broken-mappings");
  fs::copy(std::string(DXNORM_SOURCE_DIR) + "/mappings", broken, fs::copy_options::recursive);
  fs::remove(broken + "/hl7v2/oru_r01.yaml");
  auto broken_set = map::MappingSet::load(broken, {});
  validate::FhirValidator validator;
  publish::MessageConverter conv(broken_set, validator);

  // What `dxnorm run` with the broken set dead-lettered: 6 good messages
  // (NO_ROUTE) and 2 that are not HL7 at all.
  std::vector<std::string> payloads = variants(6, "DLQ");
  payloads.push_back("this is not an HL7 message");
  payloads.push_back("MSH|garbage");
  std::vector<std::string> dlq_values;
  std::vector<kafka::KafkaHeaders> dlq_headers;
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    map::Output out;
    publish::MessageInfo info;
    Status st = conv.convert(payloads[i], out, info);
    REQUIRE_FALSE(st.ok());
    auto dl = build_dead_letter(env.cfg, {"hl7v2.in", 0, static_cast<std::int64_t>(i)}, info, st.error(), "",
                                payloads[i]);
    CHECK(dl.topic == env.cfg.dead_letter_topic);
    dlq_values.push_back(dl.value);
    dlq_headers.push_back(*dl.headers);
  }
  CHECK(*find_header(dlq_headers[0], "dxnorm-error-code") == "NO_ROUTE");
  env.produce(env.cfg.dead_letter_topic, dlq_values, {}, dlq_headers);

  // A filter on the error code: only the NO_ROUTE ones, in a dry run.
  {
    ReplayOptions o;
    o.source_topic = env.cfg.dead_letter_topic;
    o.error_codes = {"NO_ROUTE"};
    o.mode = ReplayMode::kDryRun;
    auto report = env.replay(o);
    CHECK(report.read == 8);
    CHECK(report.skipped == 2);
    CHECK(report.converted == 6);
    CHECK(report.still_failed == 0);
  }
  // The re-drive with the fixed (shipped) mappings.
  ReplayOptions o;
  o.source_topic = env.cfg.dead_letter_topic;
  auto report = env.replay(o);
  CHECK(report.read == 8);
  CHECK(report.converted == 6);
  CHECK(report.still_failed == 2);
  CHECK(report.dead_lettered == 0);
  CHECK(report.exit_status() == 1);
  REQUIRE_FALSE(report.errors.empty());
  auto bundles = env.read_all(env.cfg.bundle_topic);
  CHECK(bundles.size() == 6);
  for (const auto& b : bundles) {
    CHECK(b.header("dxnorm-source-topic") == "hl7v2.in");  // the original position
    CHECK(b.header(kReplayOfHeader)->rfind(env.cfg.dead_letter_topic + "/0/", 0) == 0);
  }
  // Still-broken messages were not duplicated into the dead-letter topic.
  CHECK(env.read_all(env.cfg.dead_letter_topic).size() == 8);
  fs::remove_all(broken);
}

TEST_CASE("a replay run twice produces the same ids and no extra distinct keys") {
  Env env(2);
  env.produce("hl7v2.in", variants(10, "TWICE"));
  ReplayOptions o;
  o.source_topic = "hl7v2.in";
  auto first = env.replay(o);
  CHECK(first.converted == 10);
  std::map<std::string, std::set<std::string>> keys1;
  for (const auto& t : env.cfg.resource_types)
    for (const auto& r : env.read_all(env.cfg.resource_topic(t))) keys1[t].insert(r.key);
  auto bundle_keys = [&] {
    std::set<std::string> k;
    for (const auto& r : env.read_all(env.cfg.bundle_topic)) k.insert(r.key);
    return k;
  };
  auto b1 = bundle_keys();
  CHECK(b1.size() == 10);
  auto second = env.replay(o);
  CHECK(second.converted == 10);
  std::map<std::string, std::set<std::string>> keys2;
  for (const auto& t : env.cfg.resource_types)
    for (const auto& r : env.read_all(env.cfg.resource_topic(t))) keys2[t].insert(r.key);
  CHECK(keys1 == keys2);
  CHECK(bundle_keys() == b1);
  CHECK(env.read_all(env.cfg.bundle_topic).size() == 20);  // updates, same keys
}

TEST_CASE("an interrupted replay resumes from its position file: nothing lost, nothing repeated") {
  Env env(3);
  env.produce("hl7v2.in", variants(45, "RES"));
  const std::string dir = temp_dir("resume");
  const std::string pos = dir + "/replay.pos";
  ReplayOptions o;
  o.source_topic = "hl7v2.in";
  o.resume_file = pos;
  ReplayOptions interrupted = o;
  interrupted.stop_after = 17;
  auto first = env.replay(interrupted);
  CHECK(first.interrupted);
  CHECK(first.read == 17);
  CHECK(first.converted == 17);
  REQUIRE(fs::exists(pos));
  // Records arriving after the first run are outside the range being resumed.
  env.produce("hl7v2.in", variants(5, "LATE"));
  auto second = env.replay(o);
  CHECK_FALSE(second.interrupted);
  CHECK(second.read == 45 - 17);
  auto seen = replay_of_values(env.read_all(env.cfg.bundle_topic));
  CHECK(seen.size() == 45);
  std::set<std::string> distinct(seen.begin(), seen.end());
  CHECK(distinct.size() == 45);
  // A third run finds nothing left.
  auto third = env.replay(o);
  CHECK(third.read == 0);
  fs::remove_all(dir);
}

TEST_CASE("replay refuses to write into the topic it reads") {
  Env env;
  ReplayOptions o;
  o.source_topic = env.cfg.bundle_topic;
  CHECK_THROWS_AS(Replay(env.cfg, shipped_mappings(), o), ReplayError);
  o.source_topic = "fhir.Observation";
  CHECK_THROWS_AS(Replay(env.cfg, shipped_mappings(), o), ReplayError);
  o.source_topic = "hl7v2.in";
  o.mode = ReplayMode::kRawToTopic;
  o.to_topic = "hl7v2.in";
  CHECK_THROWS_AS(Replay(env.cfg, shipped_mappings(), o), ReplayError);
  o.to_topic = "hl7v2.retry";
  CHECK_NOTHROW(Replay(env.cfg, shipped_mappings(), o));
  ReplayOptions mixed;
  mixed.source_topic = "hl7v2.in";
  mixed.from_offset = OffsetBound::parse("1");
  mixed.to_time_ms = 5;
  CHECK_THROWS_AS(Replay(env.cfg, shipped_mappings(), mixed), ReplayError);
  ReplayOptions missing;
  missing.source_topic = "no.such.topic";
  CHECK_THROWS_AS(env.replay(missing), ReplayError);
}

TEST_CASE("--dry-run publishes nothing and reports outcomes, resources and grouped errors") {
  Env env;
  auto payloads = variants(4, "DRY");
  payloads.push_back("not HL7");
  env.produce("hl7v2.in", payloads);
  ReplayOptions o;
  o.source_topic = "hl7v2.in";
  o.mode = ReplayMode::kDryRun;
  auto report = env.replay(o);
  CHECK(report.read == 5);
  CHECK(report.converted == 4);
  CHECK(report.dead_lettered == 1);  // would be
  CHECK(report.exit_status() == 1);
  REQUIRE(report.errors.size() == 1);
  CHECK(report.errors[0].count == 1);
  CHECK_FALSE(report.resources.empty());
  for (const auto& [k, v] : report.resources) CHECK(v == "would be written");
  CHECK(env.read_all(env.cfg.bundle_topic).empty());
  CHECK(env.read_all(env.cfg.dead_letter_topic).empty());
  CHECK(env.read_all("fhir.Patient").empty());

  // Filters: only one control id.
  ReplayOptions f = o;
  f.control_ids = {"DRY2"};
  auto filtered = env.replay(f);
  CHECK(filtered.converted == 1);
  CHECK(filtered.skipped == 4);

  // After a real replay, a compared dry run finds everything unchanged.
  ReplayOptions real;
  real.source_topic = "hl7v2.in";
  real.to_offset = OffsetBound::parse("4");
  CHECK(env.replay(real).converted == 4);
  ReplayOptions cmp = o;
  cmp.compare_existing = true;
  cmp.to_offset = OffsetBound::parse("4");
  auto compared = env.replay(cmp);
  REQUIRE_FALSE(compared.resources.empty());
  for (const auto& [k, v] : compared.resources) CHECK(v == "unchanged");
  CHECK(format_report(compared, ReplayMode::kDryRun).find("unchanged") != std::string::npos);
}

TEST_CASE("--to-topic re-publishes the raw records unchanged, with replay-of") {
  Env env;
  env.broker.create_topic({"hl7v2.retry", 1, 1});
  auto payloads = variants(3, "RAW");
  env.produce("hl7v2.in", payloads);
  ReplayOptions o;
  o.source_topic = "hl7v2.in";
  o.mode = ReplayMode::kRawToTopic;
  o.to_topic = "hl7v2.retry";
  o.max_rate = 50;
  auto report = env.replay(o);
  CHECK(report.republished == 3);
  auto out = env.read_all("hl7v2.retry");
  REQUIRE(out.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(out[i].payload == payloads[i]);
    CHECK(out[i].key == "k" + std::to_string(i));
    CHECK(out[i].header(kReplayOfHeader) == "hl7v2.in/0/" + std::to_string(i));
  }
  CHECK(env.read_all(env.cfg.bundle_topic).empty());
}
