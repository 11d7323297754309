#include "pipeline/runtime/replay.h"

#include <date/date.h>
#include <rapidjson/stringbuffer.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "connectors/kafka/kafka_reader.h"
#include "connectors/kafka/kafka_sink.h"
#include "connectors/kafka/offset_tracker.h"
#include "pipeline/publish/input_format.h"
#include "pipeline/publish/message_converter.h"
#include "pipeline/runtime/json_log.h"
#include "pipeline/runtime/output_records.h"
#include "pipeline/validate/fhir_validator.h"

namespace dxnorm::runtime {

namespace {
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

std::int64_t parse_int(const std::string& s, const std::string& what) {
  std::size_t used = 0;
  std::int64_t v = 0;
  try {
    v = std::stoll(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != s.size() || v < 0) throw ReplayError(what + ": '" + s + "' is not a non-negative integer");
  return v;
}

std::string replay_of(const kafka::KafkaRecord& r) {
  return r.topic + "/" + std::to_string(r.partition) + "/" + std::to_string(r.offset);
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// The resume file: "topic T" then "<partition> <next offset> <to>" lines.
struct ResumeState {
  std::string topic;
  std::map<std::int32_t, std::pair<std::int64_t, std::int64_t>> next_to;
};

std::optional<ResumeState> read_resume(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  ResumeState st;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    if (starts_with(line, "topic ")) {
      st.topic = line.substr(6);
      continue;
    }
    std::int32_t p = -1;
    std::int64_t next = -1, to = -1;
    if (!(ls >> p >> next >> to) || p < 0 || next < 0 || to < next)
      throw ReplayError(path + ":" + std::to_string(n) + ": not a resume position ('<partition> <next> <to>')");
    st.next_to[p] = {next, to};
  }
  if (st.topic.empty()) throw ReplayError(path + ": not a dxnorm replay resume file (no 'topic' line)");
  return st;
}

void write_resume(const std::string& path, const ResumeState& st) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) throw ReplayError("cannot write resume file " + tmp);
    out << "# dxnorm replay position: per partition, the next offset to replay and the end of the range "
           "(exclusive)\n# <partition> <next> <to>\ntopic "
        << st.topic << "\n";
    for (const auto& [p, nt] : st.next_to) out << p << ' ' << nt.first << ' ' << nt.second << '\n';
    if (!out.flush()) throw ReplayError("cannot write resume file " + tmp);
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw ReplayError("cannot write resume file " + path + ": " + ec.message());
}

}  // namespace

std::optional<std::int64_t> OffsetBound::at(std::int32_t partition) const {
  if (auto it = per_partition.find(partition); it != per_partition.end()) return it->second;
  return all;
}

OffsetBound OffsetBound::parse(const std::string& text) {
  OffsetBound b;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    auto c = item.find(':');
    if (c == std::string::npos) {
      if (b.all) throw ReplayError("offset '" + text + "': more than one offset for every partition");
      b.all = parse_int(item, "offset");
    } else {
      auto p = parse_int(item.substr(0, c), "partition");
      b.per_partition[static_cast<std::int32_t>(p)] = parse_int(item.substr(c + 1), "offset");
    }
  }
  if (b.empty()) throw ReplayError("offset: empty");
  return b;
}

std::int64_t parse_iso8601_ms(const std::string& text) {
  std::string t = text;
  if (!t.empty() && (t.back() == 'Z' || t.back() == 'z')) t = t.substr(0, t.size() - 1) + "+00:00";
  using Ms = std::chrono::milliseconds;
  for (const char* fmt : {"%FT%T%Ez", "%FT%R%Ez", "%FT%T%z", "%FT%R%z"}) {
    std::istringstream in(t);
    date::sys_time<Ms> tp;
    std::chrono::minutes offset{0};
    in >> date::parse(fmt, tp, offset);
    if (!in.fail() && in.peek() == std::char_traits<char>::eof()) return tp.time_since_epoch().count();
  }
  for (const char* fmt : {"%FT%T", "%FT%R", "%F"}) {  // no zone: UTC
    std::istringstream in(t);
    date::sys_time<Ms> tp;
    in >> date::parse(fmt, tp);
    if (!in.fail() && in.peek() == std::char_traits<char>::eof()) return tp.time_since_epoch().count();
  }
  throw ReplayError("'" + text + "' is not an ISO-8601 date-time (e.g. 2026-11-01T00:00Z, 2026-11-01T09:30:00+01:00)");
}

// ---------------------------------------------------------------------------

struct Replay::Impl {
  struct Job {
    kafka::KafkaRecord record;
    kafka::AckToken token;
  };
  struct Worker {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Job> queue;
    std::thread thread;
  };

  RunConfig cfg;
  std::shared_ptr<const map::MappingSet> mappings;
  ReplayOptions opt;
  bool from_dead_letters = false;
  validate::FhirValidator validator;
  std::unordered_map<std::string, const InputTopic*> inputs;
  std::unordered_map<std::string, std::size_t> existing;  // compare_existing: key -> hash of latest value

  std::atomic<bool> stopping{false};
  std::atomic<bool> workers_stop{false};
  std::atomic<std::uint64_t> converted{0}, dead_lettered{0}, still_failed{0}, skipped{0}, republished{0},
      delivery_failures{0}, in_flight{0};
  std::mutex report_mu;  // guards resources, errors
  std::map<std::string, std::string> resources;
  std::map<std::string, ErrorGroup> errors;

  kafka::OffsetTracker tracker;
  std::unique_ptr<kafka::KafkaSink> sink;
  std::vector<std::unique_ptr<Worker>> workers;
  std::size_t queue_limit = 256;

  Impl(RunConfig c, std::shared_ptr<const map::MappingSet> m, ReplayOptions o)
      : cfg(std::move(c)), mappings(std::move(m)), opt(std::move(o)) {
    for (const auto& in : cfg.inputs) inputs[in.topic] = &in;
    from_dead_letters = opt.source_topic == cfg.dead_letter_topic;
    check();
  }

  void check() const {
    if (opt.source_topic.empty()) throw ReplayError("no source topic (--topic, or --dead-letters)");
    if ((!opt.from_offset.empty() || !opt.to_offset.empty()) && (opt.from_time_ms || opt.to_time_ms))
      throw ReplayError("give offsets (--from-offset/--to-offset) or times (--from/--to), not both");
    if (opt.from_time_ms && opt.to_time_ms && *opt.to_time_ms < *opt.from_time_ms)
      throw ReplayError("--to is before --from");
    if (opt.max_rate < 0) throw ReplayError("--max-rate must be positive");
    if (!opt.format.empty() && !publish::find_input_format(opt.format))
      throw ReplayError("unknown input format '" + opt.format + "'");
    if (!opt.mapping.empty() && !mappings->find(opt.mapping))
      throw ReplayError("mapping '" + opt.mapping + "' is not in the mapping set");
    if (!from_dead_letters && (!opt.error_codes.empty() || !opt.error_stages.empty()))
      throw ReplayError("--error-code/--error-stage filter dead letters: use them with the dead-letter topic");
    if (opt.mode == ReplayMode::kRawToTopic) {
      if (opt.to_topic.empty()) throw ReplayError("--to-topic: no topic");
      if (opt.to_topic == opt.source_topic)
        throw ReplayError("refusing to write into the topic being replayed (" + opt.source_topic + ")");
      return;
    }
    if (opt.mode != ReplayMode::kConvert) return;
    const std::string& s = opt.source_topic;
    bool fhir_topic = s == cfg.bundle_topic;
    if (cfg.per_resource_topics && starts_with(s, cfg.resource_topic_prefix)) {
      std::string rest = s.substr(cfg.resource_topic_prefix.size());
      fhir_topic = fhir_topic || (!rest.empty() && rest[0] >= 'A' && rest[0] <= 'Z');
    }
    if (fhir_topic) throw ReplayError("refusing to replay " + s + ": it is one of the FHIR topics this replay writes to");
  }

  // ------------------------------------------------------------------ ranges
  std::vector<kafka::OffsetRange> plan(kafka::KafkaReader& reader, ReplayReport& report) {
    auto parts = reader.partitions();
    if (!parts.ok()) throw ReplayError("topic " + opt.source_topic + ": " + parts.error().to_string());
    std::vector<std::int32_t> chosen = opt.partitions.empty() ? *parts : opt.partitions;
    for (auto p : chosen)
      if (std::find(parts->begin(), parts->end(), p) == parts->end())
        throw ReplayError("topic " + opt.source_topic + " has no partition " + std::to_string(p) + " (it has " +
                          std::to_string(parts->size()) + ")");
    for (const auto& [p, v] : opt.from_offset.per_partition)
      if (std::find(chosen.begin(), chosen.end(), p) == chosen.end())
        throw ReplayError("--from-offset names partition " + std::to_string(p) + ", which is not replayed");
    for (const auto& [p, v] : opt.to_offset.per_partition)
      if (std::find(chosen.begin(), chosen.end(), p) == chosen.end())
        throw ReplayError("--to-offset names partition " + std::to_string(p) + ", which is not replayed");

    std::optional<ResumeState> resume;
    if (!opt.resume_file.empty()) {
      resume = read_resume(opt.resume_file);
      if (resume && resume->topic != opt.source_topic)
        throw ReplayError(opt.resume_file + " is the position of a replay of " + resume->topic + ", not " +
                          opt.source_topic);
    }
    std::vector<kafka::OffsetRange> ranges;
    for (auto p : chosen) {
      kafka::OffsetRange r;
      r.partition = p;
      if (resume) {
        auto it = resume->next_to.find(p);
        if (it == resume->next_to.end()) continue;  // not part of the replay being resumed
        r.from = it->second.first;
        r.to = it->second.second;
        ranges.push_back(r);
        continue;
      }
      auto wm = reader.watermarks(p);
      if (!wm.ok()) throw ReplayError("watermarks of " + opt.source_topic + ": " + wm.error().to_string());
      r.from = wm->low;
      r.to = wm->high;
      auto by_time = [&](std::int64_t ts) {
        auto t = reader.offset_for_time(p, ts);
        if (!t.ok()) throw ReplayError("offset for time on " + opt.source_topic + ": " + t.error().to_string());
        std::string m(kafka::to_string(t->method));
        if (report.lookup_method.empty()) report.lookup_method = m;
        else if (report.lookup_method.find(m) == std::string::npos) report.lookup_method += "+" + m;
        return t->offset;
      };
      if (auto f = opt.from_offset.at(p)) r.from = *f;
      if (auto t = opt.to_offset.at(p)) r.to = *t;
      if (opt.from_time_ms) r.from = by_time(*opt.from_time_ms);
      if (opt.to_time_ms) r.to = by_time(*opt.to_time_ms);
      r.from = std::clamp(r.from, wm->low, wm->high);
      r.to = std::clamp(r.to, r.from, wm->high);
      ranges.push_back(r);
    }
    if (resume && ranges.empty()) throw ReplayError(opt.resume_file + ": no partition of this replay in it");
    return ranges;
  }

  void load_existing(const kafka::KafkaProperties& props) {
    std::hash<std::string> h;
    for (const auto& type : cfg.resource_types) {
      kafka::KafkaReader reader({props, cfg.resource_topic(type)});
      auto parts = reader.partitions();
      if (!parts.ok()) continue;  // no such topic yet: everything is "created"
      std::vector<kafka::OffsetRange> ranges;
      for (auto p : *parts) {
        auto wm = reader.watermarks(p);
        if (wm.ok()) ranges.push_back({p, wm->low, wm->high});
      }
      if (!reader.assign(ranges).ok()) continue;
      while (!reader.done()) {
        auto r = reader.poll(std::chrono::milliseconds(500));
        if (!r.ok()) break;
        if (!r->has_value()) continue;
        existing[(*r)->key] = h((*r)->payload);  // later offsets win: the latest version
      }
    }
  }

  // ----------------------------------------------------------------- workers
  void finish(const kafka::AckToken& token) {
    tracker.ack(token);
    in_flight.fetch_sub(1);
  }

  void note_error(const Error& e, const publish::MessageInfo& info) {
    std::string mapping = info.mapping ? info.mapping->name : "";
    std::string key = std::string(to_string(e.stage)) + "|" + e.error_code + "|" + e.location + "|" + mapping;
    std::lock_guard<std::mutex> g(report_mu);
    ErrorGroup& grp = errors[key];
    if (grp.count++ == 0) {
      grp.stage = std::string(to_string(e.stage));
      grp.code = e.error_code;
      grp.location = e.location;
      grp.mapping = mapping;
      grp.example = e.message;
    }
  }

  bool content_filters() const {
    return !opt.message_types.empty() || !opt.sending_applications.empty() || !opt.sending_facilities.empty() ||
           !opt.control_ids.empty();
  }

  bool matches(const publish::MessageInfo& info) const {
    if (!opt.message_types.empty() && !opt.message_types.count(info.message_type) && !opt.message_types.count(info.type))
      return false;
    if (!opt.sending_applications.empty() && !opt.sending_applications.count(info.sending_application)) return false;
    if (!opt.sending_facilities.empty() && !opt.sending_facilities.count(info.sending_facility)) return false;
    if (!opt.control_ids.empty() && !opt.control_ids.count(info.control_id)) return false;
    return true;
  }

  // Where the message originally came from (the dead letter's headers) and so
  // which format and mapping apply.
  std::string original_topic(const kafka::KafkaRecord& r) const {
    if (!from_dead_letters) return r.topic;
    auto t = r.header("dxnorm-source-topic");
    return t ? std::string(*t) : std::string();
  }

  SourcePosition original_position(const kafka::KafkaRecord& r) const {
    if (!from_dead_letters) return {r.topic, r.partition, r.offset};
    SourcePosition s{original_topic(r), -1, -1};
    try {
      if (auto p = r.header("dxnorm-source-partition")) s.partition = std::stoi(std::string(*p));
      if (auto o = r.header("dxnorm-source-offset")) s.offset = std::stoll(std::string(*o));
    } catch (const std::exception&) {
    }
    return s;
  }

  void raw_republish(Job& job) {
    kafka::KafkaHeaders headers;
    for (auto& h : job.record.headers)
      if (!from_dead_letters || !starts_with(h.key, "dxnorm-")) headers.push_back(h);
    headers.push_back({kReplayOfHeader, replay_of(job.record)});
    auto token = job.token;
    auto done = kafka::DeliveryCompletion::create([this, token](const Status& s) {
      if (s.ok()) {
        republished.fetch_add(1);
        finish(token);
      } else {
        delivery_failures.fetch_add(1);
        in_flight.fetch_sub(1);  // position held at this record
      }
    });
    (void)sink->produce(opt.to_topic, job.record.key, job.record.payload, headers, done);
    done->seal();
  }

  void worker_loop(Worker& wk) {
    publish::ConverterOptions base;
    base.report_unmapped = false;
    std::unordered_map<std::string, std::unique_ptr<publish::MessageConverter>> converters;
    map::Output out;
    publish::MessageInfo info;
    rapidjson::StringBuffer sb;
    std::vector<OutputRecord> records;
    while (true) {
      Job job;
      {
        std::unique_lock<std::mutex> g(wk.mu);
        wk.cv.wait(g, [&] { return !wk.queue.empty() || workers_stop.load(); });
        if (wk.queue.empty()) return;
        job = std::move(wk.queue.front());
        wk.queue.pop_front();
      }
      wk.cv.notify_all();
      const kafka::KafkaRecord& r = job.record;
      if (opt.mode == ReplayMode::kRawToTopic && !content_filters()) {
        raw_republish(job);
        continue;
      }
      // Format and mapping of the message's original topic.
      const std::string orig = original_topic(r);
      auto in = inputs.find(orig);
      std::string fmt_name = !opt.format.empty()             ? opt.format
                             : in != inputs.end()            ? in->second->format
                                                             : std::string();
      std::string forced = !opt.mapping.empty() ? opt.mapping : in != inputs.end() ? in->second->mapping : std::string();
      const publish::InputFormat* fmt =
          fmt_name.empty() ? publish::detect_input_format(r.payload) : publish::find_input_format(fmt_name);
      if (fmt) fmt_name = std::string(fmt->name());
      auto& conv = converters[forced];
      if (!conv) {
        publish::ConverterOptions o = base;
        o.forced_mapping = forced;
        conv = std::make_unique<publish::MessageConverter>(mappings, validator, o);
      }
      out.clear();
      info = publish::MessageInfo{};
      Status st = ok_status();
      auto split = fmt ? fmt->split(r.payload)
                       : Result<publish::SplitMessages>(make_error(StatusCode::kFailedPrecondition, Stage::kParse,
                                                                   "FORMAT_UNKNOWN", "", "no input format for " + orig));
      if (!split.ok()) {
        st = split.error();
      } else if (split->messages.size() != 1) {
        st = make_error(StatusCode::kInvalidInput, Stage::kParse, "RECORD_NOT_ONE_MESSAGE", "",
                        "the record holds " + std::to_string(split->messages.size()) + " messages");
      } else {
        st = conv->convert(fmt_name, split->messages.front(), out, info);
      }
      if (content_filters() && !matches(info)) {
        skipped.fetch_add(1);
        finish(job.token);
        continue;
      }
      if (opt.mode == ReplayMode::kRawToTopic) {
        raw_republish(job);
        continue;
      }
      if (!st.ok()) note_error(st.error(), info);
      if (opt.mode == ReplayMode::kDryRun) {
        if (st.ok()) {
          converted.fetch_add(1);
          std::vector<std::pair<std::string, std::string>> found;
          if (opt.compare_existing) {
            records.clear();
            build_fhir_records(cfg, original_position(r), info, out, conv->mappings().version(), sb, records);
            std::hash<std::string> h;
            for (const auto& rec : records) {
              if (rec.topic == cfg.bundle_topic) continue;
              auto it = existing.find(rec.key);
              found.emplace_back(rec.key, it == existing.end()       ? "created"
                                          : it->second == h(rec.value) ? "unchanged"
                                                                       : "changed");
            }
          } else {
            for (const auto& ro : out.resources) found.emplace_back(std::string(ro.type) + "/" + std::string(ro.id), "would be written");
          }
          std::lock_guard<std::mutex> g(report_mu);
          for (auto& [k, v] : found) resources[k] = v;
        } else if (from_dead_letters) {
          still_failed.fetch_add(1);
        } else {
          dead_lettered.fetch_add(1);
        }
        finish(job.token);
        continue;
      }
      // kConvert: publish like `dxnorm run`, plus replay-of.
      records.clear();
      if (st.ok()) {
        build_fhir_records(cfg, original_position(r), info, out, conv->mappings().version(), sb, records);
      } else if (from_dead_letters) {
        still_failed.fetch_add(1);  // stays where it is: not duplicated into its own topic
        finish(job.token);
        continue;
      } else {
        records.push_back(build_dead_letter(cfg, original_position(r), info, st.error(), r.key, r.payload));
      }
      const std::string of = replay_of(r);
      add_header(records, {kReplayOfHeader, of});
      const bool dead = !st.ok();
      auto token = job.token;
      auto done = kafka::DeliveryCompletion::create([this, token, dead](const Status& s) {
        if (s.ok()) {
          (dead ? dead_lettered : converted).fetch_add(1);
          finish(token);
        } else {
          delivery_failures.fetch_add(1);
          in_flight.fetch_sub(1);  // not acked: the position stays before this record
        }
      });
      for (const auto& rec : records)
        if (!sink->produce(rec.topic, rec.key, rec.value, *rec.headers, done).ok()) break;
      done->seal();
    }
  }

  void enqueue(Job job) {
    std::size_t w = static_cast<std::size_t>(job.record.partition) % workers.size();
    Worker& wk = *workers[w];
    {
      std::unique_lock<std::mutex> g(wk.mu);
      wk.cv.wait(g, [&] { return wk.queue.size() < queue_limit; });
      wk.queue.push_back(std::move(job));
    }
    wk.cv.notify_all();
  }

  bool header_filters_pass(const kafka::KafkaRecord& r) const {
    if (!opt.error_codes.empty()) {
      auto c = r.header("dxnorm-error-code");
      if (!c || !opt.error_codes.count(std::string(*c))) return false;
    }
    if (!opt.error_stages.empty()) {
      auto s = r.header("dxnorm-error-stage");
      if (!s || !opt.error_stages.count(std::string(*s))) return false;
    }
    return true;
  }

  std::map<std::int32_t, std::int64_t> positions(const std::vector<kafka::OffsetRange>& ranges) const {
    std::map<std::int32_t, std::int64_t> pos;
    for (const auto& r : ranges) pos[r.partition] = r.from;
    for (const auto& p : tracker.positions())
      if (p.offset >= 0) pos[p.tp.partition] = std::max(pos[p.tp.partition], p.offset);
    return pos;
  }

  void save(const std::vector<kafka::OffsetRange>& ranges) {
    if (opt.resume_file.empty() || opt.mode == ReplayMode::kDryRun) return;
    ResumeState st;
    st.topic = opt.source_topic;
    auto pos = positions(ranges);
    for (const auto& r : ranges) st.next_to[r.partition] = {std::min(pos[r.partition], r.to), r.to};
    write_resume(opt.resume_file, st);
  }

  ReplayReport run(Replay& self) {
    ReplayReport report;
    const auto t0 = Clock::now();
    kafka::KafkaProperties consumer = kafka::merge_properties(cfg.kafka, cfg.consumer);
    kafka::KafkaReader reader({consumer, opt.source_topic});
    auto ranges = plan(reader, report);
    for (const auto& r : ranges) {
      report.ranges[r.partition] = {r.from, r.to};
      report.total += static_cast<std::uint64_t>(r.to - r.from);
    }
    if (opt.mode == ReplayMode::kDryRun && opt.compare_existing) load_existing(consumer);
    if (opt.mode != ReplayMode::kDryRun) {
      kafka::KafkaSinkOptions so;
      so.properties = kafka::merge_properties(cfg.kafka, cfg.producer);
      sink = std::make_unique<kafka::KafkaSink>(so);
    }
    std::vector<kafka::TopicPartition> tps;
    for (const auto& r : ranges) tps.push_back({opt.source_topic, r.partition});
    tracker.assign(tps);
    if (auto st = reader.assign(ranges); !st.ok())
      throw ReplayError("assign " + opt.source_topic + ": " + st.error().to_string());
    save(ranges);  // a resume file exists from the start

    int n = opt.workers > 0 ? opt.workers : std::max(1, cfg.workers);
    for (int i = 0; i < n; ++i) workers.push_back(std::make_unique<Worker>());
    for (auto& w : workers) w->thread = std::thread([this, wp = w.get()] { worker_loop(*wp); });

    log(LogLevel::kInfo, "replay started",
        {{"topic", opt.source_topic}, {"partitions", std::to_string(ranges.size())},
         {"records", std::to_string(report.total)}, {"group_id", reader.group_id()}});
    auto last_progress = Clock::now(), last_save = Clock::now();
    auto progress = [&] {
      ReplayProgress pr;
      pr.done = report.read;
      pr.total = report.total;
      pr.elapsed_s = std::chrono::duration<double>(Clock::now() - t0).count();
      pr.rate = pr.elapsed_s > 0 ? static_cast<double>(pr.done) / pr.elapsed_s : 0;
      if (pr.rate > 0 && pr.total >= pr.done) pr.eta_s = static_cast<double>(pr.total - pr.done) / pr.rate;
      if (self.on_progress) self.on_progress(pr);
    };
    int transient_errors = 0;
    while (!stopping.load() && !reader.done()) {
      if (opt.max_rate > 0) {
        auto due = t0 + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(static_cast<double>(report.read) / opt.max_rate));
        if (due > Clock::now()) std::this_thread::sleep_until(std::min(due, Clock::now() + std::chrono::milliseconds(100)));
        if (due > Clock::now()) continue;
      }
      auto now = Clock::now();
      if (now - last_progress >= self.progress_interval) {
        progress();
        last_progress = now;
      }
      if (now - last_save >= opt.resume_interval) {
        save(ranges);
        last_save = now;
      }
      if (sink) {
        if (auto fe = sink->fatal_error()) {
          report.error = "producer: " + fe->to_string();
          break;
        }
      }
      auto rec = reader.poll(std::chrono::milliseconds(100));
      if (!rec.ok()) {
        if (rec.error().code == StatusCode::kUnavailable && ++transient_errors < 100) continue;
        report.error = "source: " + rec.error().to_string();
        break;
      }
      if (!rec->has_value()) continue;
      Job job;
      job.record = std::move(**rec);
      job.token = tracker.begin({opt.source_topic, job.record.partition}, job.record.offset);
      ++report.read;
      in_flight.fetch_add(1);
      if (!header_filters_pass(job.record)) {
        skipped.fetch_add(1);
        finish(job.token);
      } else {
        enqueue(std::move(job));
      }
      if (opt.stop_after > 0 && report.read >= opt.stop_after) stopping = true;
    }
    report.interrupted = !reader.done();

    // Finish what was read: workers drain their queues, deliveries complete.
    workers_stop = true;
    for (auto& w : workers) w->cv.notify_all();
    for (auto& w : workers)
      if (w->thread.joinable()) w->thread.join();
    if (sink) {
      if (auto st = sink->flush(std::chrono::seconds(30)); !st.ok())
        log(LogLevel::kWarning, "replay: flush incomplete", {{"error", st.error().to_string()}});
      (void)sink->close(std::chrono::seconds(2));
    }
    save(ranges);
    progress();

    report.converted = converted.load();
    report.dead_lettered = dead_lettered.load();
    report.still_failed = still_failed.load();
    report.skipped = skipped.load();
    report.republished = republished.load();
    report.delivery_failures = delivery_failures.load();
    report.positions = positions(ranges);
    report.resources = resources;
    for (auto& [k, g] : errors) report.errors.push_back(g);
    std::stable_sort(report.errors.begin(), report.errors.end(),
                     [](const ErrorGroup& a, const ErrorGroup& b) { return a.count > b.count; });
    report.duration_s = std::chrono::duration<double>(Clock::now() - t0).count();
    log(LogLevel::kInfo, "replay finished",
        {{"read", std::to_string(report.read)}, {"converted", std::to_string(report.converted)},
         {"dead_lettered", std::to_string(report.dead_lettered)}, {"still_failed", std::to_string(report.still_failed)},
         {"skipped", std::to_string(report.skipped)}, {"interrupted", report.interrupted ? "true" : "false"}});
    return report;
  }
};

Replay::Replay(RunConfig cfg, std::shared_ptr<const map::MappingSet> mappings, ReplayOptions options)
    : impl_(std::make_unique<Impl>(std::move(cfg), std::move(mappings), std::move(options))) {}
Replay::~Replay() = default;
ReplayReport Replay::run() { return impl_->run(*this); }
void Replay::stop() noexcept { impl_->stopping = true; }

std::string format_report(const ReplayReport& r, ReplayMode mode, std::size_t max_resources) {
  std::ostringstream os;
  const bool dry = mode == ReplayMode::kDryRun;
  os << (dry ? "dry run (nothing published)" : "replay") << (r.interrupted ? ", interrupted" : "") << ": read "
     << r.read << " of " << r.total << " record(s) in " << std::fixed;
  os.precision(1);
  os << r.duration_s << " s";
  if (r.duration_s > 0) os << " (" << static_cast<std::uint64_t>(static_cast<double>(r.read) / r.duration_s) << "/s)";
  os << "\n";
  if (mode == ReplayMode::kRawToTopic) {
    os << "  republished:    " << r.republished << "\n";
  } else {
    os << "  " << (dry ? "would convert:  " : "converted:      ") << r.converted << "\n";
    os << "  " << (dry ? "would fail:     " : "dead-lettered:  ") << r.dead_lettered << "\n";
    if (r.still_failed) os << "  still failing:  " << r.still_failed << " (left on the dead-letter topic)\n";
  }
  os << "  skipped by filter: " << r.skipped << "\n";
  if (r.delivery_failures) os << "  delivery failures: " << r.delivery_failures << "\n";
  if (!r.lookup_method.empty()) os << "  time range offsets found by: " << r.lookup_method << "\n";
  os << "  positions (partition: next/to):";
  for (const auto& [p, next] : r.positions) {
    auto it = r.ranges.find(p);
    os << " " << p << ":" << next << "/" << (it == r.ranges.end() ? -1 : it->second.second);
  }
  os << "\n";
  if (!r.errors.empty()) {
    os << "errors by stage, code, location and mapping:\n";
    for (const auto& e : r.errors) {
      os << "  " << e.count << " x " << e.stage << " " << e.code;
      if (!e.location.empty()) os << " at " << e.location;
      if (!e.mapping.empty()) os << " (mapping " << e.mapping << ")";
      os << ": " << e.example << "\n";
    }
  }
  if (dry && !r.resources.empty()) {
    std::map<std::string, std::size_t> by_state;
    for (const auto& [k, v] : r.resources) ++by_state[v];
    os << "resources (" << r.resources.size() << "):";
    for (const auto& [s, n] : by_state) os << " " << n << " " << s << ";";
    os << "\n";
    std::size_t shown = 0;
    for (const auto& [k, v] : r.resources) {
      if (shown++ == max_resources) {
        os << "  ... (" << r.resources.size() - max_resources << " more)\n";
        break;
      }
      os << "  " << k << "  " << v << "\n";
    }
  }
  if (!r.error.empty()) os << "stopped by an error: " << r.error << "\n";
  return os.str();
}

}  // namespace dxnorm::runtime
