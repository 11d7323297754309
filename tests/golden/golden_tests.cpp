// Golden tests: every case in cases/ (an input file of any format beside its
// <name>.expected.json, or <name>.expected-error.txt for inputs that must
// fail) is converted with the shipped mappings and compared as JSON, through
// the same FixtureRunner as `dxnorm test`. DXNORM_UPDATE_GOLDENS=1 rewrites
// the expected files: review the diff before committing.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "pipeline/map/mapping_set.h"
#include "pipeline/publish/fixture_runner.h"
#include "pipeline/validate/fhir_validator.h"

using namespace dxnorm;
namespace fs = std::filesystem;

namespace {

const fs::path kCases = fs::path(DXNORM_GOLDEN_DIR) / "cases";

bool update_mode() {
  const char* v = std::getenv("DXNORM_UPDATE_GOLDENS");
  return v && *v && std::string(v) != "0";
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Fixture {
  std::shared_ptr<const map::MappingSet> set = map::MappingSet::load(DXNORM_SOURCE_DIR "/mappings", {});
  validate::FhirValidator validator;
};

}  // namespace

TEST_CASE("golden: every case converts to its expected Bundle or fails with its expected error") {
  Fixture f;
  publish::FixtureOptions o;
  o.update = update_mode();
  publish::FixtureRunner runner(f.set, f.validator, o);
  const auto cases = publish::FixtureRunner::find_cases(kCases);
  REQUIRE(cases.size() >= 15);
  for (const auto& c : cases) {
    auto r = runner.run(c);
    CAPTURE(r.name);
    std::string text;
    for (std::size_t i = 0; i < r.failures.size() && i < 25; ++i) text += "  " + r.failures[i] + "\n";
    if (r.failures.size() > 25) text += "  ... " + std::to_string(r.failures.size() - 25) + " more\n";
    CHECK_MESSAGE(r.passed, c.filename().string() << ": " << r.failures.size() << " problem(s):\n" << text);
  }
}

TEST_CASE("golden: converting the same message twice gives identical ids and Bundles") {
  Fixture f;
  publish::FixtureRunner a(f.set, f.validator), b(f.set, f.validator);
  for (const auto& c : publish::FixtureRunner::find_cases(kCases)) {
    const std::string input = slurp(c);
    CAPTURE(c.filename().string());
    auto r1 = a.convert(input);
    auto r2 = a.convert(input);  // same converter, reused state
    auto r3 = b.convert(input);  // a fresh converter
    CHECK(r1.ids == r2.ids);
    CHECK(r1.ids == r3.ids);
    CHECK(r1.json == r2.json);
    CHECK(r1.json == r3.json);
    CHECK(r1.error == r3.error);
  }
}
