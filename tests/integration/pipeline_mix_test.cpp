// A mix of valid and invalid HL7 v2 messages through an in-process
// PipelineRunner on the embedded broker: every valid one on fhir.bundle and
// the per-type topics (keys Type/id, headers), every invalid one on the
// dead-letter topic with its original bytes and the reason.
#include <rapidjson/document.h>

#include <map>

#include "integration_util.h"

using namespace dxnorm;
using namespace dxnorm::itest;

namespace {

const char* const kValid[] = {"valid/oru_r01_cbc_nm.hl7",         "valid/oru_r01_sn_glucose.hl7",
                              "valid/oru_r01_micro_cwe_two_orders.hl7", "valid/oru_r01_cmp_14obx.hl7",
                              "valid/adt_a04_register.hl7",       "valid/adt_a01_crlf.hl7",
                              "valid/adt_a01_custom_delimiters.hl7"};

struct InvalidCase {
  const char* file;
  bool vary;  // a parseable MSH: give each copy its own MSH-10
  const char* code;
  const char* stage;
  const char* location;
};
const InvalidCase kInvalid[] = {
    {"invalid/no_msh.hl7", false, "HL7_NO_MSH", "parse", "input"},
    {"invalid/binary_garbage.bin", false, "HL7_NO_MSH", "parse", "input"},
    {"invalid/bad_delimiters.hl7", false, "HL7_BAD_DELIMITERS", "parse", "MSH-2"},
    {"invalid/siu_s12_no_route.hl7", true, "NO_ROUTE", "route", "MSH-9"},
};

std::string source_ref(const Record& r) {
  return r.header("dxnorm-source-partition").value_or("?") + "/" + r.header("dxnorm-source-offset").value_or("?");
}

}  // namespace

TEST_CASE("mix of valid and invalid messages: FHIR topics with keys and headers, dead letters with reasons") {
  quiet_logs();
  kafka::EmbeddedBroker broker(1);
  auto cfg = test_config(broker, "itest-mix");
  auto topics = create_topics(broker, cfg, 3);

  std::vector<Input> inputs;
  constexpr int kCopies = 12;
  for (const char* f : kValid) {
    const std::string text = fixture(f);
    for (int i = 0; i < kCopies; ++i) {
      const std::string id = "MIX-V-" + std::to_string(inputs.size());
      inputs.push_back({f, id, make_variant(text, id, "FILL" + std::to_string(inputs.size())), true});
    }
  }
  std::map<std::string, const InvalidCase*> invalid_case;  // payload -> case
  for (const auto& c : kInvalid) {
    const std::string text = fixture(c.file);
    for (int i = 0; i < 3; ++i) {
      Input in{c.file, "", text, false};
      if (c.vary) {
        in.control_id = "MIX-I-" + std::to_string(inputs.size());
        in.payload = make_variant(text, in.control_id);
      }
      invalid_case[in.payload] = &c;
      inputs.push_back(std::move(in));
    }
  }
  // Interleave valid and invalid records.
  std::vector<Input> shuffled;
  for (std::size_t i = 0, j = inputs.size() - 1; i <= j && j < inputs.size(); ++i, --j) {
    shuffled.push_back(inputs[i]);
    if (i != j) shuffled.push_back(inputs[j]);
  }
  inputs = shuffled;
  std::size_t n_valid = 0, n_invalid = 0;
  for (const auto& in : inputs) (in.valid ? n_valid : n_invalid)++;

  publish(broker.bootstraps(), "hl7v2.in", inputs);
  RunnerThread rt(cfg, load_mappings());
  REQUIRE(rt.wait_done(inputs.size(), 60s));

  TopicReader reader(broker.bootstraps(), topics);
  const std::string dlq = cfg.dead_letter_topic;
  REQUIRE(reader.wait_for(
      [&] {
        return reader.count("hl7v2.in") == inputs.size() && reader.count("fhir.bundle") >= n_valid &&
               reader.count(dlq) >= n_invalid;
      },
      30s));
  // A short grace period: anything extra (duplicates) would show up now.
  (void)reader.catch_up(5s);
  const auto counts = rt.runner().counts();
  CHECK(rt.finish() == 0);
  CHECK(reader.gaps() == 0);

  // Input records by partition/offset, and the Input each one is.
  std::map<std::string, const Record*> input_at;
  std::map<std::string, const Input*> input_by_payload;
  for (const auto& in : inputs) input_by_payload[in.payload] = &in;
  const auto input_records = reader.records("hl7v2.in");
  for (const auto& r : input_records) input_at[std::to_string(r.partition) + "/" + std::to_string(r.offset)] = &r;

  // Headers common to every FHIR output record, and the input it came from.
  auto check_fhir_headers = [&](const Record& r) -> const Input* {
    CHECK(r.header("content-type") == std::optional<std::string>("application/fhir+json; fhirVersion=4.0"));
    CHECK(r.header("dxnorm-source-topic") == std::optional<std::string>("hl7v2.in"));
    CHECK(r.header("dxnorm-version") == std::optional<std::string>(DXNORM_VERSION));
    const auto mapping = r.header("dxnorm-mapping");
    REQUIRE(mapping.has_value());
    CHECK((*mapping == "hl7v2-oru-r01" || *mapping == "hl7v2-adt-a01"));
    const auto mv = r.header("dxnorm-mapping-version");
    REQUIRE(mv.has_value());
    CHECK(mv->find('+') != std::string::npos);
    auto it = input_at.find(source_ref(r));
    REQUIRE_MESSAGE(it != input_at.end(), r.topic << " record names an unknown source " << source_ref(r));
    const Input* in = input_by_payload.at(it->second->value);
    CHECK(r.header("dxnorm-message-control-id") == std::optional<std::string>(in->control_id));
    CHECK(in->valid);
    return in;
  };

  // Per-type records indexed by key and source, to match the Bundle entries.
  std::map<std::string, const Record*> typed;  // "Type/id@p/o" -> record
  std::size_t typed_total = 0;
  std::map<std::string, std::vector<Record>> typed_records;
  for (const auto& [topic, np] : topics) {
    (void)np;
    if (topic.rfind(cfg.resource_topic_prefix, 0) != 0 || topic == cfg.bundle_topic) continue;
    typed_records[topic] = reader.records(topic);
    for (const auto& r : typed_records[topic]) {
      ++typed_total;
      typed[r.key + "@" + source_ref(r)] = &r;
    }
  }

  // Every valid message: exactly one Bundle, keyed by its id, and each entry
  // on its per-type topic keyed Type/id with the same resource.
  std::map<std::string, int> bundles_per_id;
  std::size_t entries_total = 0;
  const auto bundle_records = reader.records("fhir.bundle");
  for (const auto& r : bundle_records) {
    const Input* in = check_fhir_headers(r);
    ++bundles_per_id[in->control_id];
    rapidjson::Document b;
    b.Parse(r.value.data(), r.value.size());
    REQUIRE_FALSE(b.HasParseError());
    REQUIRE(b.HasMember("id"));
    CHECK(r.key == std::string("Bundle/") + b["id"].GetString());
    CHECK(std::string(b["type"].GetString()) == "transaction");
    for (const auto& e : b["entry"].GetArray()) {
      const auto& res = e["resource"];
      const std::string type = res["resourceType"].GetString();
      const std::string id = res["id"].GetString();
      CHECK_MESSAGE(std::find(cfg.resource_types.begin(), cfg.resource_types.end(), type) != cfg.resource_types.end(),
                    type << " is not in outputs.resource-types (no topic created for it)");
      ++entries_total;
      auto it = typed.find(type + "/" + id + "@" + source_ref(r));
      REQUIRE_MESSAGE(it != typed.end(), "no " << type << "/" << id << " on fhir." << type << " for " << in->control_id);
      const Record& t = *it->second;
      CHECK(t.topic == "fhir." + type);
      CHECK(check_fhir_headers(t) == in);
      rapidjson::Document tv;
      tv.Parse(t.value.data(), t.value.size());
      REQUIRE_FALSE(tv.HasParseError());
      CHECK_MESSAGE(tv == res, "fhir." << type << " record differs from the Bundle entry for " << type << "/" << id);
    }
  }
  CHECK(typed_total == entries_total);  // nothing extra on the per-type topics
  for (const auto& in : inputs)
    if (in.valid) CHECK_MESSAGE(bundles_per_id[in.control_id] == 1, in.control_id << " (" << in.name << ")");
  CHECK(bundles_per_id.size() == n_valid);

  // Every invalid message: once on the dead-letter topic, bytes and key unchanged.
  std::map<std::string, int> dead_per_source;
  const auto dead_records = reader.records(dlq);
  for (const auto& r : dead_records) {
    auto it = input_at.find(source_ref(r));
    REQUIRE_MESSAGE(it != input_at.end(), "dead letter names an unknown source " << source_ref(r));
    const Record& src = *it->second;
    ++dead_per_source[source_ref(r)];
    CHECK(r.value == src.value);  // the original bytes
    CHECK(r.key == src.key);
    CHECK(r.null_key == src.null_key);
    CHECK(r.header("dxnorm-source-topic") == std::optional<std::string>("hl7v2.in"));
    CHECK(r.header("dxnorm-version") == std::optional<std::string>(DXNORM_VERSION));
    CHECK_FALSE(r.header("content-type").has_value());
    auto ic = invalid_case.find(src.value);
    REQUIRE_MESSAGE(ic != invalid_case.end(), "a valid message was dead-lettered: " << r.header("dxnorm-error-code").value_or("")
                                                                                  << " " << r.header("dxnorm-error-message").value_or(""));
    const InvalidCase& c = *ic->second;
    INFO("dead letter of " << c.file);
    CHECK(r.header("dxnorm-error-code") == std::optional<std::string>(c.code));
    CHECK(r.header("dxnorm-error-stage") == std::optional<std::string>(c.stage));
    CHECK(r.header("dxnorm-error-location") == std::optional<std::string>(c.location));
    const auto msg = r.header("dxnorm-error-message");
    REQUIRE(msg.has_value());
    CHECK_FALSE(msg->empty());
    CHECK(msg->find('\n') == std::string::npos);  // one line
    if (c.vary) CHECK(r.header("dxnorm-message-control-id") == std::optional<std::string>(input_by_payload.at(src.value)->control_id));
  }
  CHECK(dead_per_source.size() == n_invalid);
  for (const auto& [ref, n] : dead_per_source) CHECK_MESSAGE(n == 1, ref);

  CHECK(counts.consumed == inputs.size());
  CHECK(counts.published == n_valid);
  CHECK(counts.dead_lettered == n_invalid);
  CHECK(counts.consumed == counts.published + counts.dead_lettered);
  CHECK(counts.retried == 0);
}

// An ORU whose OBR-4 is empty. Policy (mappings/README.md, "The shipped
// mappings"): a required code the message leaves empty is never invented and
// the results are never dropped: the report is published with
// DiagnosticReport.code carrying the data-absent-reason extension.
TEST_CASE("ORU^R01 without OBR-4: published, code marked data-absent, never invented") {
  quiet_logs();
  kafka::EmbeddedBroker broker(1);
  auto cfg = test_config(broker, "itest-obr4");
  auto topics = create_topics(broker, cfg, 1);
  std::vector<Input> inputs = {{"invalid/oru_r01_no_obr4.hl7", "MSGINV-NOOBR4", fixture("invalid/oru_r01_no_obr4.hl7"), false}};
  publish(broker.bootstraps(), "hl7v2.in", inputs);
  RunnerThread rt(cfg, load_mappings());
  REQUIRE(rt.wait_done(1, 30s));
  TopicReader reader(broker.bootstraps(), topics);
  REQUIRE(reader.wait_for([&] { return reader.count("fhir.DiagnosticReport") == 1; }, 10s));
  CHECK(reader.count(cfg.dead_letter_topic) == 0);
  const Record r = reader.records("fhir.DiagnosticReport").front();
  rapidjson::Document dr;
  dr.Parse(r.value.c_str());
  REQUIRE_FALSE(dr.HasParseError());
  REQUIRE(dr.HasMember("code"));
  CHECK_FALSE(dr["code"].HasMember("coding"));  // nothing invented
  REQUIRE(dr["code"].HasMember("extension"));
  CHECK(std::string(dr["code"]["extension"][0]["url"].GetString()) ==
        "http://hl7.org/fhir/StructureDefinition/data-absent-reason");
  CHECK(rt.finish() == 0);
}
