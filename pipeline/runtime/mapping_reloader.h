// Hot reload of mappings and code tables for `dxnorm run`.
//
// A new set goes live only if it loads without errors (lint warnings are
// logged), every input's forced mapping still exists, and every fixture under
// the mappings directory (<mapping>.tests/) passes. Otherwise the running set
// stays and the failure is logged and counted
// (dxnorm_mapping_reloads_total{result="rejected"}).
//
// Triggers: reload() (SIGHUP) and, when watching, a change of any file under
// the mappings directory (polled: size + modification time).
// Threading: reload() may be called from any thread; calls are serialised.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <condition_variable>

#include "pipeline/map/mapping_set.h"
#include "pipeline/runtime/metrics.h"
#include "pipeline/runtime/run_config.h"

namespace dxnorm::runtime {

class MappingReloader {
 public:
  using Apply = std::function<void(std::shared_ptr<const map::MappingSet>)>;
  MappingReloader(const RunConfig& config, std::string current_version, Metrics& metrics, Apply apply);
  ~MappingReloader();

  // Returns true when a new set went live. `reason` is logged.
  bool reload(const std::string& reason);
  void start_watch(std::chrono::milliseconds interval);
  void stop();
  const std::string& version() const noexcept { return version_; }

 private:
  std::string fingerprint() const;

  const RunConfig& cfg_;
  std::string version_;
  Metrics& metrics_;
  Apply apply_;
  std::mutex mu_;
  std::atomic<bool> stop_{false};
  std::thread watcher_;
  std::mutex wait_mu_;
  std::condition_variable wait_cv_;
};

}  // namespace dxnorm::runtime
