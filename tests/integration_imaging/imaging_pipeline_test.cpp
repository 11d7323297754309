// Imaging through the Kafka pipeline (issue 4): a `dicom-json` input topic
// (dicom.in) and the hl7v2 topic in the same run. Two examinations, each an
// order (ORM^O01), a study (WADO-RS metadata) and a report (radiology
// ORU^R01), published in two arrival orders (exam 1: order, study, report;
// exam 2: report, study, order), each step processed before the next is
// published. The resources refer to each other by deterministic id either
// way. Malformed DICOM JSON is dead-lettered with its reason headers, and
// consumed == published + dead-lettered.
#include <rapidjson/document.h>

#include <map>
#include <set>

#include "integration_util.h"

using namespace dxnorm;
using namespace dxnorm::itest;

namespace {

std::string golden(const std::string& name) { return read_file(std::string(DXNORM_SOURCE_DIR) + "/tests/golden/cases/" + name); }

// Exam 2 is exam 1 with every "1001" (accession, placer / filler numbers,
// control ids, Study / Series / SOP Instance UIDs) changed to "2002".
std::string exam2(std::string s) {
  for (std::size_t at = s.find("1001"); at != std::string::npos; at = s.find("1001", at + 4)) s.replace(at, 4, "2002");
  return s;
}

struct Bad {
  const char* name;
  std::string payload;
  const char* code;
  const char* location;
};

struct Resources {
  std::map<std::string, std::string> ids;  // type -> id
  std::map<std::string, std::string> refs; // "Type.element" -> first reference
};

Resources resources_of(const std::string& bundle_json) {
  rapidjson::Document b;
  b.Parse(bundle_json.data(), bundle_json.size());
  REQUIRE_FALSE(b.HasParseError());
  Resources r;
  for (const auto& e : b["entry"].GetArray()) {
    const auto& res = e["resource"];
    const std::string type = res["resourceType"].GetString();
    r.ids.emplace(type, res["id"].GetString());
    for (const char* el : {"basedOn", "imagingStudy", "endpoint", "subject"}) {
      if (!res.HasMember(el)) continue;
      const auto& v = res[el];
      const auto& first = v.IsArray() ? (v.Empty() ? v : v[0]) : v;
      if (first.IsObject() && first.HasMember("reference")) r.refs[type + "." + el] = first["reference"].GetString();
    }
  }
  return r;
}

}  // namespace

TEST_CASE("dicom-json topic -> fhir.ImagingStudy; order, study and report join by id in two arrival orders; malformed DICOM JSON is dead-lettered") {
  quiet_logs();
  kafka::EmbeddedBroker broker(1);
  auto cfg = test_config(broker, "itest-imaging", "hl7v2.in");
  runtime::InputTopic dicom_in;
  dicom_in.topic = "dicom.in";
  dicom_in.format = "dicom-json";
  cfg.inputs.push_back(dicom_in);
  auto topics = create_topics(broker, cfg, 2);
  TopicReader reader(broker.bootstraps(), topics);

  const std::string orm = golden("imaging_orm_o01_ct_chest.hl7");
  const std::string oru = golden("imaging_oru_r01_ct_chest_report.hl7");
  const std::string wado = golden("imaging_dicom_wado_ct_chest.json");
  const Input order1{"order1", "ORM1001", orm, true}, study1{"study1", "", wado, true}, report1{"report1", "ORU1001", oru, true};
  const Input order2{"order2", "ORM2002", exam2(orm), true}, study2{"study2", "", exam2(wado), true},
      report2{"report2", "ORU2002", exam2(oru), true};

  const std::vector<Bad> bad = {
      {"not an object", "[42]", "DICOM_NOT_DATASET", "dataset 1"},
      {"not JSON", "{\"0020000D\": ", "DICOM_JSON_SYNTAX", nullptr},
      {"Value not an array", golden("imaging_error_dicom_value_not_array.json"), "DICOM_VR_SHAPE", "dataset 1 (0020,000D)"},
      {"PN not an object", golden("imaging_error_dicom_pn_not_object.json"), "DICOM_VR_SHAPE", "dataset 2 (0010,0010)[1]"},
      {"no Study Instance UID", golden("imaging_error_dicom_no_study_uid.json"), "DICOM_NO_STUDY_UID", "dataset 1 (0020,000D)"},
  };
  std::vector<Input> bad_inputs;
  for (const auto& b : bad) bad_inputs.push_back({b.name, "", b.payload, false});

  RunnerThread rt(cfg, load_mappings());
  REQUIRE(rt.wait_ready(30s));
  std::uint64_t done = 0;
  auto step = [&](const std::string& topic, const std::vector<Input>& in) {
    publish(broker.bootstraps(), topic, in);
    done += in.size();
    REQUIRE_MESSAGE(rt.wait_done(done, 30s), "not processed: " << in.front().name);
  };
  // Exam 1: order, study, report. Exam 2: report, study, order.
  step("hl7v2.in", {order1, report2});
  step("dicom.in", {study1, study2});
  step("hl7v2.in", {report1, order2});
  step("dicom.in", bad_inputs);

  const std::size_t n_valid = 6, n_bad = bad.size();
  REQUIRE(reader.wait_for([&] { return reader.count("fhir.bundle") >= n_valid && reader.count(cfg.dead_letter_topic) >= n_bad; }, 20s));
  (void)reader.catch_up(3s);
  const auto counts = rt.runner().counts();
  CHECK(rt.finish() == 0);
  CHECK(reader.gaps() == 0);

  // Bundles by the input they came from (dxnorm-source-topic + payload).
  std::map<std::string, std::string> input_at;  // "topic p/o" -> payload
  for (const char* t : {"hl7v2.in", "dicom.in"})
    for (const auto& r : reader.records(t)) input_at[r.topic + " " + std::to_string(r.partition) + "/" + std::to_string(r.offset)] = r.value;
  auto source_of = [&](const Record& r) {
    return input_at[r.header("dxnorm-source-topic").value_or("?") + " " + r.header("dxnorm-source-partition").value_or("?") +
                    "/" + r.header("dxnorm-source-offset").value_or("?")];
  };
  std::map<std::string, Resources> by_input;  // Input name -> resources
  const std::vector<const Input*> all = {&order1, &study1, &report1, &order2, &study2, &report2};
  const auto bundles = reader.records("fhir.bundle");
  CHECK(bundles.size() == n_valid);
  for (const auto& r : bundles) {
    const std::string src = source_of(r);
    const Input* in = nullptr;
    for (const Input* x : all)
      if (x->payload == src) in = x;
    REQUIRE_MESSAGE(in, "a Bundle from an unknown input");
    CHECK_MESSAGE(by_input.count(in->name) == 0, "two Bundles for " << in->name);
    by_input[in->name] = resources_of(r.value);
    const bool dicom = in == &study1 || in == &study2;
    CHECK(r.header("dxnorm-source-topic") == std::optional<std::string>(dicom ? "dicom.in" : "hl7v2.in"));
    CHECK(r.header("dxnorm-mapping") ==
          std::optional<std::string>(dicom ? "dicom-imaging-study" : in->name.rfind("order", 0) == 0 ? "hl7v2-orm-o01" : "hl7v2-oru-r01"));
  }
  REQUIRE(by_input.size() == n_valid);

  for (const char* exam : {"1", "2"}) {
    INFO("exam " << exam);
    const auto& order = by_input.at(std::string("order") + exam);
    const auto& study = by_input.at(std::string("study") + exam);
    const auto& report = by_input.at(std::string("report") + exam);
    REQUIRE(order.ids.count("ServiceRequest"));
    REQUIRE(study.ids.count("ImagingStudy"));
    REQUIRE(report.ids.count("DiagnosticReport"));
    const std::string sr = "ServiceRequest/" + order.ids.at("ServiceRequest");
    const std::string is = "ImagingStudy/" + study.ids.at("ImagingStudy");
    CHECK(study.refs.at("ImagingStudy.basedOn") == sr);
    CHECK(report.refs.at("DiagnosticReport.basedOn") == sr);
    CHECK(report.refs.at("DiagnosticReport.imagingStudy") == is);
    const std::string ep = study.refs.at("ImagingStudy.endpoint");  // urn:uuid:<id> inside the Bundle
    CHECK(ep.substr(ep.size() - study.ids.at("Endpoint").size()) == study.ids.at("Endpoint"));
    CHECK(order.ids.at("Patient") == study.ids.at("Patient"));
    CHECK(report.ids.at("Patient") == study.ids.at("Patient"));
    CHECK(report.ids.count("ServiceRequest") == 0);  // the RIS's order is not written twice
  }
  // Two examinations, two of everything but the patient and the PACS.
  CHECK(by_input["study1"].ids.at("ImagingStudy") != by_input["study2"].ids.at("ImagingStudy"));
  CHECK(by_input["order1"].ids.at("ServiceRequest") != by_input["order2"].ids.at("ServiceRequest"));
  CHECK(by_input["study1"].ids.at("Endpoint") == by_input["study2"].ids.at("Endpoint"));

  // Per-resource topics: fhir.ImagingStudy, fhir.Endpoint, fhir.Patient keyed Type/id.
  const auto studies = reader.records("fhir.ImagingStudy");
  REQUIRE(studies.size() == 2);
  std::set<std::string> study_keys;
  for (const auto& r : studies) {
    study_keys.insert(r.key);
    CHECK(r.header("dxnorm-source-topic") == std::optional<std::string>("dicom.in"));
    CHECK(r.header("content-type") == std::optional<std::string>("application/fhir+json; fhirVersion=4.0"));
    rapidjson::Document d;
    d.Parse(r.value.data(), r.value.size());
    REQUIRE_FALSE(d.HasParseError());
    CHECK(std::string(d["identifier"][0]["value"].GetString()).rfind("urn:oid:1.2.826.0.1.3680043.10.543.", 0) == 0);
    CHECK(d["numberOfInstances"].GetInt() == 3);
  }
  CHECK(study_keys == std::set<std::string>{"ImagingStudy/" + by_input["study1"].ids.at("ImagingStudy"),
                                            "ImagingStudy/" + by_input["study2"].ids.at("ImagingStudy")});
  CHECK(reader.count("fhir.Endpoint") == 2);
  for (const auto& r : reader.records("fhir.Endpoint"))
    CHECK(r.value.find("\"dicom-wado-rs\"") != std::string::npos);
  std::size_t dicom_patients = 0;
  for (const auto& r : reader.records("fhir.Patient"))
    if (r.header("dxnorm-source-topic") == std::optional<std::string>("dicom.in")) ++dicom_patients;
  CHECK(dicom_patients == 2);
  CHECK(reader.count("fhir.ServiceRequest") == 2);
  CHECK(reader.count("fhir.DiagnosticReport") == 2);

  // Dead letters: the original bytes and the reason.
  const auto dead = reader.records(cfg.dead_letter_topic);
  CHECK(dead.size() == n_bad);
  std::set<std::string> seen;
  for (const auto& r : dead) {
    const Bad* b = nullptr;
    for (const auto& x : bad)
      if (x.payload == r.value) b = &x;
    REQUIRE_MESSAGE(b, "a dead letter that is none of the malformed inputs: " << r.header("dxnorm-error-code").value_or("?") << " "
                                                                             << r.header("dxnorm-error-message").value_or(""));
    INFO("dead letter of " << b->name);
    seen.insert(b->name);
    CHECK(r.header("dxnorm-source-topic") == std::optional<std::string>("dicom.in"));
    CHECK(r.header("dxnorm-error-code") == std::optional<std::string>(b->code));
    CHECK(r.header("dxnorm-error-stage") == std::optional<std::string>("parse"));
    if (b->location) CHECK(r.header("dxnorm-error-location") == std::optional<std::string>(b->location));
    const auto msg = r.header("dxnorm-error-message");
    REQUIRE(msg.has_value());
    CHECK_FALSE(msg->empty());
    CHECK(msg->find('\n') == std::string::npos);
    if (std::string(b->code) == "DICOM_NO_STUDY_UID") CHECK(msg->find("0020000D") != std::string::npos);  // says how to supply it
  }
  CHECK(seen.size() == n_bad);

  CHECK(counts.consumed == n_valid + n_bad);
  CHECK(counts.published == n_valid);
  CHECK(counts.dead_lettered == n_bad);
  CHECK(counts.consumed == counts.published + counts.dead_lettered);
}
