#include "pipeline/runtime/mapping_reloader.h"

#include <condition_variable>
#include <filesystem>

#include "pipeline/publish/fixture_runner.h"
#include "pipeline/runtime/json_log.h"
#include "pipeline/validate/fhir_validator.h"

namespace dxnorm::runtime {

namespace fs = std::filesystem;

MappingReloader::MappingReloader(const RunConfig& config, std::string current_version, Metrics& metrics, Apply apply)
    : cfg_(config), version_(std::move(current_version)), metrics_(metrics), apply_(std::move(apply)) {
  metrics_.describe("dxnorm_mapping_reloads_total", "counter", "Mapping reload attempts, by result (applied, rejected, unchanged)");
  metrics_.set("dxnorm_mapping_set_info", "version=\"" + Metrics::label(version_) + "\"", 1);
}

MappingReloader::~MappingReloader() { stop(); }

bool MappingReloader::reload(const std::string& reason) {
  std::lock_guard<std::mutex> g(mu_);
  auto reject = [&](const std::string& why, const std::string& detail) {
    metrics_.add("dxnorm_mapping_reloads_total", "result=\"rejected\"");
    log(LogLevel::kError, "mapping reload rejected; the running set stays",
        {{"reason", reason}, {"why", why}, {"detail", detail.substr(0, 2000)}, {"running_version", version_}});
    return false;
  };
  std::shared_ptr<const map::MappingSet> set;
  map::LoaderOptions lo;
  lo.default_zone = cfg_.source_zone;
  lo.lint = true;  // lint findings are logged; lint errors (like load errors) reject
  try {
    map::Diagnostics warnings;
    set = map::MappingSet::load(cfg_.mappings_dir, lo, &warnings);
    for (const auto& w : warnings.items()) log(LogLevel::kWarning, "mapping warning", {{"diagnostic", w.to_string()}});
  } catch (const map::LoadFailure& e) {
    return reject("load", e.diagnostics.to_string());
  }
  if (set->version() == version_) {
    metrics_.add("dxnorm_mapping_reloads_total", "result=\"unchanged\"");
    log(LogLevel::kInfo, "mapping reload: nothing changed", {{"reason", reason}, {"version", version_}});
    return false;
  }
  for (const auto& in : cfg_.inputs)
    if (!in.mapping.empty() && !set->find(in.mapping))
      return reject("config", "input " + in.topic + " names mapping '" + in.mapping + "', which the new set lacks");
  // Fixtures: every case of every <mapping>.tests/ must pass with the new set.
  validate::FhirValidator validator;
  std::size_t cases = 0;
  for (const auto& m : set->mappings()) {
    fs::path tests = fs::path(m->file).replace_extension(".tests");
    if (!fs::is_directory(tests)) continue;
    publish::FixtureOptions fo;
    fo.forced_mapping = m->name;
    publish::FixtureRunner runner(set, validator, fo);
    for (const auto& c : publish::FixtureRunner::find_cases(tests)) {
      ++cases;
      auto r = runner.run(c);
      if (!r.passed)
        return reject("fixtures", c.string() + ": " + (r.failures.empty() ? std::string() : r.failures.front()));
    }
  }
  std::string old = version_;
  version_ = set->version();
  apply_(set);
  metrics_.add("dxnorm_mapping_reloads_total", "result=\"applied\"");
  metrics_.set("dxnorm_mapping_set_info", "version=\"" + Metrics::label(old) + "\"", 0);
  metrics_.set("dxnorm_mapping_set_info", "version=\"" + Metrics::label(version_) + "\"", 1);
  log(LogLevel::kInfo, "mappings reloaded",
      {{"reason", reason}, {"old_version", old}, {"new_version", version_}, {"fixtures", std::to_string(cases)}});
  return true;
}

std::string MappingReloader::fingerprint() const {
  std::string f;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(cfg_.mappings_dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    auto t = fs::last_write_time(it->path(), ec).time_since_epoch().count();
    f += it->path().string() + ':' + std::to_string(it->file_size(ec)) + ':' + std::to_string(t) + ';';
  }
  return f;
}

void MappingReloader::start_watch(std::chrono::milliseconds interval) {
  watcher_ = std::thread([this, interval] {
    std::string last = fingerprint();
    while (!stop_.load()) {
      {
        std::unique_lock<std::mutex> lk(wait_mu_);
        wait_cv_.wait_for(lk, interval, [this] { return stop_.load(); });
      }
      if (stop_.load()) break;
      std::string now = fingerprint();
      if (now == last) continue;
      // Editors write in several steps: wait until the tree is quiet.
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      now = fingerprint();
      last = now;
      reload("files changed");
    }
  });
}

void MappingReloader::stop() {
  stop_ = true;
  wait_cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

}  // namespace dxnorm::runtime
