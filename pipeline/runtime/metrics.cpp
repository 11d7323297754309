#include "pipeline/runtime/metrics.h"

#include <sstream>

namespace dxnorm::runtime {

void Metrics::add(const std::string& name, const std::string& labels, double v) {
  std::lock_guard<std::mutex> g(mu_);
  values_[name][labels] += v;
}
void Metrics::set(const std::string& name, const std::string& labels, double v) {
  std::lock_guard<std::mutex> g(mu_);
  values_[name][labels] = v;
}
void Metrics::observe(const std::string& name, double seconds) {
  std::lock_guard<std::mutex> g(mu_);
  Histogram& h = histograms_[name];
  for (std::size_t i = 0; i < kBuckets.size(); ++i)
    if (seconds <= kBuckets[i]) ++h.counts[i];
  ++h.count;
  h.sum += seconds;
}
void Metrics::on_scrape(std::function<void(Metrics&)> fn) {
  std::lock_guard<std::mutex> g(mu_);
  scrape_.push_back(std::move(fn));
}
void Metrics::describe(const std::string& name, const std::string& type, const std::string& help) {
  std::lock_guard<std::mutex> g(mu_);
  help_[name] = {type, help};
}
double Metrics::value(const std::string& name, const std::string& labels) const {
  std::lock_guard<std::mutex> g(mu_);
  auto it = values_.find(name);
  if (it == values_.end()) return 0;
  auto jt = it->second.find(labels);
  return jt == it->second.end() ? 0 : jt->second;
}

std::string Metrics::label(std::string_view v) {
  std::string s;
  for (char c : v) {
    if (c == '\\' || c == '"') s.push_back('\\');
    if (c == '\n') {
      s += "\\n";
      continue;
    }
    s.push_back(c);
  }
  return s;
}

std::string Metrics::render() {
  std::vector<std::function<void(Metrics&)>> fns;
  {
    std::lock_guard<std::mutex> g(mu_);
    fns = scrape_;
  }
  for (auto& f : fns) f(*this);
  std::lock_guard<std::mutex> g(mu_);
  std::ostringstream os;
  for (const auto& [name, series] : values_) {
    auto h = help_.find(name);
    if (h != help_.end()) {
      os << "# HELP " << name << ' ' << h->second.second << '\n';
      os << "# TYPE " << name << ' ' << h->second.first << '\n';
    }
    for (const auto& [labels, v] : series) {
      os << name;
      if (!labels.empty()) os << '{' << labels << '}';
      os << ' ' << v << '\n';
    }
  }
  for (const auto& [name, hist] : histograms_) {
    auto h = help_.find(name);
    if (h != help_.end()) os << "# HELP " << name << ' ' << h->second.second << '\n';
    os << "# TYPE " << name << " histogram\n";
    for (std::size_t i = 0; i < kBuckets.size(); ++i)
      os << name << "_bucket{le=\"" << kBuckets[i] << "\"} " << hist.counts[i] << '\n';
    os << name << "_bucket{le=\"+Inf\"} " << hist.count << '\n';
    os << name << "_sum " << hist.sum << '\n';
    os << name << "_count " << hist.count << '\n';
  }
  return os.str();
}

}  // namespace dxnorm::runtime
