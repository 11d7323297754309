// Prometheus metrics for `dxnorm run`: counters and gauges with labels,
// latency histograms, rendered in the text exposition format for /metrics.
// Thread-safe. Label values are ids, topics, codes: never patient data.
#pragma once

#include <array>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace dxnorm::runtime {

class Metrics {
 public:
  // `labels` is preformatted: topic="hl7v2.in",mapping="hl7v2-oru-r01"
  void add(const std::string& name, const std::string& labels, double v = 1);
  void set(const std::string& name, const std::string& labels, double v);
  void observe(const std::string& name, double seconds);
  // Gauges computed at scrape time (consumer lag, in-flight count).
  void on_scrape(std::function<void(Metrics&)> fn);
  void describe(const std::string& name, const std::string& type, const std::string& help);
  std::string render();
  double value(const std::string& name, const std::string& labels) const;

  static std::string label(std::string_view v);  // escapes a label value

 private:
  static constexpr std::array<double, 14> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                       0.1,    0.25,  0.5,    1,     2.5,   5,     10};
  struct Histogram {
    std::array<std::uint64_t, kBuckets.size()> counts{};
    std::uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, double>> values_;  // name -> labels -> value
  std::map<std::string, Histogram> histograms_;
  std::map<std::string, std::pair<std::string, std::string>> help_;  // name -> type, help
  std::vector<std::function<void(Metrics&)>> scrape_;
};

}  // namespace dxnorm::runtime
