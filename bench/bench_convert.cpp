// Stage-by-stage cost of one HL7 v2 message on one core:
//   bench/data/oru_r01_cmp_14obx.hl7 (a 14-result chemistry panel, 3.9 KB;
//   copied from the shared corpus's bench message).
// Run: build/bench/bench_convert [--benchmark_filter=...]
// Reports messages/s as items_per_second.
#include <benchmark/benchmark.h>

#include <fstream>
#include <memory>
#include <sstream>

#include "pipeline/core/fhir_json.h"
#include "pipeline/map/mapping_engine.h"
#include "pipeline/map/mapping_set.h"
#include "pipeline/parse/hl7v2/hl7v2_parser.h"
#include "pipeline/publish/message_converter.h"
#include "pipeline/runtime/output_records.h"
#include "pipeline/validate/fhir_validator.h"

namespace {

std::string load_message() {
  std::ifstream in(std::string(DXNORM_SOURCE_DIR) + "/bench/data/oru_r01_cmp_14obx.hl7", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Fixture {
 public:
  std::string text = load_message();
  std::shared_ptr<const dxnorm::map::MappingSet> set =
      dxnorm::map::MappingSet::load(std::string(DXNORM_SOURCE_DIR) + "/mappings", {});
  const dxnorm::map::CompiledMapping* mapping = set->find("hl7v2-oru-r01");
  dxnorm::validate::FhirValidator validator;

  // The benchmark message parsed and mapped once (input of the later stages).
  const dxnorm::map::Output& converted() {
    if (!converted_) {
      dxnorm::hl7v2::Hl7v2Parser parser;
      message_ = std::make_unique<dxnorm::hl7v2::Message>();
      (void)parser.parse(text, *message_);
      converted_ = std::make_unique<dxnorm::map::Output>();
      dxnorm::map::MappingEngine engine;
      (void)engine.convert(*mapping, *message_, *converted_);
    }
    return *converted_;
  }

 private:
  std::unique_ptr<dxnorm::hl7v2::Message> message_;
  std::unique_ptr<dxnorm::map::Output> converted_;
};

Fixture& fx() {
  static Fixture f;
  return f;
}

void BM_Parse(benchmark::State& state) {
  auto& f = fx();
  dxnorm::hl7v2::Hl7v2Parser parser;
  dxnorm::hl7v2::Message m;
  for (auto _ : state) {
    auto st = parser.parse(f.text, m);
    benchmark::DoNotOptimize(st.ok());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Parse);

void BM_Map(benchmark::State& state) {
  auto& f = fx();
  dxnorm::hl7v2::Hl7v2Parser parser;
  dxnorm::hl7v2::Message m;
  (void)parser.parse(f.text, m);
  dxnorm::map::MappingEngine engine;
  dxnorm::map::Output out;
  dxnorm::map::ConvertOptions opts;
  opts.report_unmapped = false;
  for (auto _ : state) {
    auto st = engine.convert(*f.mapping, m, out, opts);
    benchmark::DoNotOptimize(st.ok());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Map);

void BM_Validate(benchmark::State& state) {
  auto& f = fx();
  const dxnorm::map::Output& out = f.converted();
  for (auto _ : state) {
    dxnorm::Issues issues;
    auto st = f.validator.validate_bundle(out.bundle, issues);
    benchmark::DoNotOptimize(st.ok());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Validate);

void BM_Serialize(benchmark::State& state) {
  auto& f = fx();
  const dxnorm::map::Output& out = f.converted();
  rapidjson::StringBuffer sb;
  for (auto _ : state) {
    sb.Clear();
    dxnorm::fhir::write_fhir_json(out.bundle, sb);
    benchmark::DoNotOptimize(sb.GetSize());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["bundle_bytes"] = static_cast<double>(sb.GetSize());
}
BENCHMARK(BM_Serialize);

// What `dxnorm run` publishes for the message: one record per resource and
// the Bundle assembled from their bytes, each with its headers.
void BM_BuildRecords(benchmark::State& state) {
  auto& f = fx();
  const dxnorm::map::Output& out = f.converted();
  dxnorm::runtime::RunConfig cfg;
  dxnorm::runtime::SourcePosition from{"hl7.in", 3, 123456};
  dxnorm::publish::MessageInfo info;
  info.control_id = "MSG00001-20240101";
  info.mapping = f.mapping;
  rapidjson::StringBuffer sb;
  std::vector<dxnorm::runtime::OutputRecord> records;
  for (auto _ : state) {
    records.clear();
    dxnorm::runtime::build_fhir_records(cfg, from, info, out, f.set->version(), sb, records);
    benchmark::DoNotOptimize(records.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["records"] = static_cast<double>(records.size());
}
BENCHMARK(BM_BuildRecords);

// Everything a message costs in `run` before Kafka: parse, route, map (with
// the unmapped-segment report run keeps), validate, serialise the Bundle.
void BM_EndToEnd(benchmark::State& state) {
  auto& f = fx();
  dxnorm::publish::ConverterOptions copts;
  copts.report_unmapped = true;
  copts.unmapped_fields = false;  // as PipelineRunner
  dxnorm::publish::MessageConverter conv(f.set, f.validator, copts);
  dxnorm::map::Output out;
  dxnorm::publish::MessageInfo info;
  rapidjson::StringBuffer sb;
  for (auto _ : state) {
    auto st = conv.convert(f.text, out, info);
    sb.Clear();
    dxnorm::fhir::write_fhir_json(out.bundle, sb);
    benchmark::DoNotOptimize(st.ok());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EndToEnd);

}  // namespace

BENCHMARK_MAIN();
