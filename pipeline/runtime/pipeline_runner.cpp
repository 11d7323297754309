#include "pipeline/runtime/pipeline_runner.h"

#include <rapidjson/stringbuffer.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "connectors/kafka/kafka_sink.h"
#include "connectors/kafka/kafka_source.h"
#include "pipeline/publish/input_format.h"
#include "pipeline/publish/message_converter.h"
#include "pipeline/runtime/json_log.h"
#include "pipeline/runtime/output_records.h"

namespace dxnorm::runtime {

namespace {
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}
std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

// One consumed record on its way through a worker. Shared with the delivery
// completion, which acknowledges it (or re-queues it) from the sink's thread.
struct Job {
  kafka::KafkaRecord record;
  Clock::time_point received = Clock::now();
  int attempts = 0;
};

struct Worker {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::shared_ptr<Job>> queue;
  std::thread thread;
};

struct PipelineRunner::Impl {
  RunConfig cfg;
  std::shared_ptr<const map::MappingSet> mappings;   // guarded by mappings_mu after start
  std::mutex mappings_mu;
  std::atomic<std::uint64_t> mappings_generation{0}; // bumped by set_mappings (hot reload)
  Metrics& metrics;
  validate::FhirValidator validator;
  std::unique_ptr<kafka::KafkaSink> sink;      // declared before source: outlives acks? no: see run()
  std::unique_ptr<kafka::KafkaSource> source;
  std::vector<std::unique_ptr<Worker>> workers;
  std::atomic<bool> stopping{false};
  std::atomic<bool> workers_stop{false};
  // Backpressure on the poll thread: messages queued across all workers,
  // bounded by queue_per_worker x workers. A shared budget, not a bound per
  // worker: a fetch brings hundreds of one partition's messages, all for
  // one worker, and a full queue there must not stall the poll thread while
  // another worker runs dry (measured: 1.69-1.87 of 2 cores busy that way).
  std::mutex budget_mu;
  std::condition_variable budget_cv;
  std::size_t queued_total = 0;  // guarded by budget_mu
  bool poll_waiting = false;      // guarded by budget_mu: the poll thread sleeps for room
  std::size_t budget() const { return cfg.queue_per_worker * workers.size(); }
  // A worker took a message off its queue (took = true) or runs dry
  // (false). Wakes a poll thread that waits for room once half the budget is
  // free (one wake-up, a futex call and a context switch, per few hundred
  // messages instead of one per message: 188 -> 175 us of CPU per message),
  // or at once when a worker runs dry.
  void worker_progress(bool took) {
    bool wake = false;
    {
      std::lock_guard<std::mutex> b(budget_mu);
      if (took) --queued_total;
      if (poll_waiting && (!took || queued_total <= budget() / 2)) {
        poll_waiting = false;
        wake = true;
      }
    }
    if (wake) budget_cv.notify_one();
  }
  std::atomic<bool> fatal{false};
  std::atomic<std::uint64_t> consumed{0}, published{0}, dead_lettered{0}, retried{0};
  std::atomic<std::int64_t> in_flight{0};
  std::unordered_map<std::string, std::string> forced_mapping;  // input topic -> mapping name
  std::unordered_map<std::string, std::string> input_format;    // input topic -> format name

  Impl(RunConfig c, std::shared_ptr<const map::MappingSet> m, Metrics& mt)
      : cfg(std::move(c)), mappings(std::move(m)), metrics(mt) {
    for (const auto& in : cfg.inputs) {
      if (!in.mapping.empty()) forced_mapping[in.topic] = in.mapping;
      input_format[in.topic] = in.format;
    }
  }

  void describe_metrics() {
    metrics.describe("dxnorm_messages_consumed_total", "counter", "Raw records consumed, by input topic");
    metrics.describe("dxnorm_messages_published_total", "counter",
                     "Messages converted and confirmed on the FHIR topics, by input topic and mapping");
    metrics.describe("dxnorm_messages_dead_lettered_total", "counter",
                     "Messages confirmed on the dead-letter topic, by input topic, stage and error code");
    metrics.describe("dxnorm_delivery_retries_total", "counter", "Records re-queued after a delivery failure");
    metrics.describe("dxnorm_unmapped_segments_total", "counter", "Segments present in input that no rule read, by mapping");
    metrics.describe("dxnorm_warnings_total", "counter", "Mapping warnings (invalid NHS numbers, bad dates...), by code");
    metrics.describe("dxnorm_in_flight", "gauge", "Records consumed and not yet acknowledged");
    metrics.describe("dxnorm_consumer_lag", "gauge", "High watermark minus committable position, per partition");
    metrics.describe("dxnorm_assigned_partitions", "gauge", "Partitions assigned to this consumer");
    metrics.on_scrape([this](Metrics& m) {
      m.set("dxnorm_in_flight", "", static_cast<double>(in_flight.load()));
      if (!source) return;
      m.set("dxnorm_assigned_partitions", "", static_cast<double>(source->assigned_partitions()));
      for (const auto& l : source->lag())
        if (l.lag >= 0)
          m.set("dxnorm_consumer_lag",
                "topic=\"" + Metrics::label(l.tp.topic) + "\",partition=\"" + std::to_string(l.tp.partition) + "\"",
                static_cast<double>(l.lag));
    });
  }

  // Called exactly once per job attempt, on the sink's thread (or a producing
  // thread). Must be quick.
  void on_done(const std::shared_ptr<Job>& job, std::size_t worker, const Status& outcome, bool dead_letter,
               const std::string& labels) {
    if (outcome.ok()) {
      source->ack(job->record);
      in_flight.fetch_sub(1);
      if (dead_letter) {
        dead_lettered.fetch_add(1);
        metrics.add("dxnorm_messages_dead_lettered_total", labels);
      } else {
        published.fetch_add(1);
        metrics.add("dxnorm_messages_published_total", labels);
      }
      metrics.observe("dxnorm_end_to_end_seconds", seconds_since(job->received));
      if (job->record.timestamp_ms > 0)
        metrics.observe("dxnorm_source_to_delivery_seconds",
                        static_cast<double>(now_ms() - job->record.timestamp_ms) / 1000.0);
      return;
    }
    // Not delivered: keep the offset, try again (deterministic ids make a
    // partial first attempt harmless).
    retried.fetch_add(1);
    metrics.add("dxnorm_delivery_retries_total", "");
    log(LogLevel::kWarning, "delivery failed; record re-queued",
        {{"topic", job->record.topic},
         {"partition", std::to_string(job->record.partition)},
         {"offset", std::to_string(job->record.offset)},
         {"error", outcome.error().to_string()}});
    ++job->attempts;
    enqueue(worker, job, /*front=*/true);
  }

  void enqueue(std::size_t w, std::shared_ptr<Job> job, bool front = false) {
    Worker& wk = *workers[w];
    {
      std::unique_lock<std::mutex> b(budget_mu);
      if (!front) {
        // Backpressure: wait for room (the poll thread only). Re-queued
        // retries (front) never wait: they already held a place.
        budget_cv.wait(b, [&] {
          if (queued_total < budget() || stopping.load()) return true;
          poll_waiting = true;
          return false;
        });
      }
      ++queued_total;
    }
    {
      std::lock_guard<std::mutex> g(wk.mu);
      if (front) wk.queue.push_front(std::move(job));
      else wk.queue.push_back(std::move(job));
    }
    wk.cv.notify_all();
  }

  void worker_loop(std::size_t w) {
    Worker& wk = *workers[w];
    publish::ConverterOptions base;
    base.report_unmapped = true;
    base.unmapped_fields = false;  // only UNMAPPED_SEGMENT is counted (dxnorm_unmapped_segments_total)
    std::unordered_map<std::string, std::unique_ptr<publish::MessageConverter>> converters;
    auto converter_for = [&](const std::string& topic) -> publish::MessageConverter& {
      auto it = forced_mapping.find(topic);
      std::string key = it == forced_mapping.end() ? std::string() : it->second;
      auto& c = converters[key];
      if (!c) {
        publish::ConverterOptions o = base;
        o.forced_mapping = key;
        std::lock_guard<std::mutex> lk(mappings_mu);
        c = std::make_unique<publish::MessageConverter>(mappings, validator, o);
      }
      return *c;
    };
    map::Output out;
    publish::MessageInfo info;
    rapidjson::StringBuffer sb;
    std::vector<OutputRecord> records;
    std::uint64_t generation = mappings_generation.load();
    while (true) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> g(wk.mu);
        if (wk.queue.empty()) {
          // Running dry while the poll thread waits for room elsewhere: wake
          // it now rather than at the half-budget mark (see below).
          g.unlock();
          worker_progress(/*took=*/false);
          g.lock();
        }
        wk.cv.wait(g, [&] { return !wk.queue.empty() || workers_stop.load(); });
        if (wk.queue.empty()) return;
        job = std::move(wk.queue.front());
        wk.queue.pop_front();
      }
      worker_progress(/*took=*/true);
      if (job->attempts > 0) std::this_thread::sleep_for(std::chrono::milliseconds(std::min(5000, 200 * job->attempts)));
      // Hot reload: a new mapping set takes effect between two messages,
      // never during one.
      if (std::uint64_t g = mappings_generation.load(); g != generation) {
        std::shared_ptr<const map::MappingSet> now;
        {
          std::lock_guard<std::mutex> lk(mappings_mu);
          now = mappings;
        }
        for (auto& [key, c] : converters) c->set_mappings(now);
        generation = g;
      }
      process(w, job, converter_for(job->record.topic), out, info, sb, records);
    }
  }

  void process(std::size_t w, const std::shared_ptr<Job>& job, publish::MessageConverter& conv, map::Output& out,
               publish::MessageInfo& info, rapidjson::StringBuffer& sb, std::vector<OutputRecord>& records) {
    const kafka::KafkaRecord& r = job->record;
    auto t0 = Clock::now();
    std::string topic_label = "topic=\"" + Metrics::label(r.topic) + "\"";
    out.clear();
    info = publish::MessageInfo{};
    const std::string& fmt_name = input_format.at(r.topic);
    const publish::InputFormat* fmt = publish::find_input_format(fmt_name);
    auto split = fmt ? fmt->split(r.payload)
                     : Result<publish::SplitMessages>(make_error(StatusCode::kFailedPrecondition, Stage::kParse,
                                                                 "FORMAT_UNKNOWN", "", "unknown input format " + fmt_name));
    // A record holds one message, or, for formats whose records are
    // interchanges (EDIFACT), several: each is converted on its own and
    // published or dead-lettered; the reply the interchange asked for
    // (NHSACK) follows once every outcome is known. All of them share one
    // completion, so the record is acknowledged only after every output,
    // dead letter and reply was confirmed; a failed delivery retries the
    // whole record (ids are deterministic; the reply is the same).
    const bool multi = fmt && fmt->multi_message_records();
    Status st = ok_status();
    std::vector<std::string_view> messages;
    if (!split.ok()) {
      st = split.error();
    } else if (split->messages.size() != 1 && !multi) {
      st = make_error(StatusCode::kInvalidInput, Stage::kParse, "RECORD_NOT_ONE_MESSAGE", "",
                      split->messages.empty() ? "the record holds no HL7 v2 message"
                                              : "the record holds " + std::to_string(split->messages.size()) +
                                                    " messages; publish one message per record (dxnorm publish splits batches)");
    } else {
      messages = split->messages;
    }
    SourcePosition from{r.topic, r.partition, r.offset};
    records.clear();
    std::vector<publish::MessageOutcome> outcomes;
    bool dead = !st.ok();
    std::string labels;
    auto dead_letter = [&](const Error& e, std::string_view original) {
      log(LogLevel::kInfo, "message dead-lettered",
          {{"topic", r.topic}, {"partition", std::to_string(r.partition)}, {"offset", std::to_string(r.offset)},
           {"control_id", info.control_id}, {"stage", std::string(to_string(e.stage))}, {"code", e.error_code},
           {"location", e.location}});
      records.push_back(build_dead_letter(cfg, from, info, e, r.key, original));
      if (labels.empty())
        labels = topic_label + ",stage=\"" + std::string(to_string(e.stage)) + "\",code=\"" + Metrics::label(e.error_code) + "\"";
    };
    if (dead) dead_letter(st.error(), r.payload);
    for (std::string_view m : messages) {
      out.clear();
      info = publish::MessageInfo{};
      Status ms = conv.convert(fmt_name, m, out, info);
      publish::MessageOutcome oc;
      if (!ms.ok()) {
        const Error& e = ms.error();
        oc.accepted = false;
        oc.reason = std::string(to_string(e.stage)) + " " + e.error_code + (e.location.empty() ? "" : " at " + e.location);
        outcomes.push_back(std::move(oc));
        // One message of an interchange: its own text is the dead letter.
        dead_letter(e, messages.size() == 1 ? std::string_view(r.payload) : m);
        dead = dead || messages.size() == 1;
        continue;
      }
      outcomes.push_back(std::move(oc));
      if (labels.empty() || dead)
        labels = topic_label + ",mapping=\"" + Metrics::label(info.mapping ? info.mapping->name : "") + "\"";
      std::size_t unmapped = 0;
      for (const auto& i : out.issues) {
        if (i.code == "UNMAPPED_SEGMENT") ++unmapped;
        else if (i.severity == Severity::kWarning) metrics.add("dxnorm_warnings_total", "code=\"" + Metrics::label(i.code) + "\"");
      }
      if (unmapped)
        metrics.add("dxnorm_unmapped_segments_total",
                    "mapping=\"" + Metrics::label(info.mapping->name) + "\"", static_cast<double>(unmapped));
      build_fhir_records(cfg, from, info, out, conv.mappings().version(), sb, records);
    }
    metrics.observe("dxnorm_conversion_seconds", seconds_since(t0));
    if (fmt) {
      const Error* split_error = split.ok() ? nullptr : &split.error();
      if (auto ack = fmt->acknowledge(r.payload, split_error, outcomes)) {
        if (cfg.ack_topic.empty()) {
          log(LogLevel::kWarning, "the input asks for an acknowledgement but outputs.ack-topic is not set",
              {{"topic", r.topic}, {"offset", std::to_string(r.offset)}});
        } else {
          OutputRecord a;
          a.topic = cfg.ack_topic;
          a.key = ack->key;
          a.value = std::move(ack->payload);
          a.headers = std::make_shared<const kafka::KafkaHeaders>(
              kafka::KafkaHeaders{{"dxnorm-source-topic", r.topic},
                                  {"dxnorm-source-partition", std::to_string(r.partition)},
                                  {"dxnorm-source-offset", std::to_string(r.offset)},
                                  {"dxnorm-ack-status", ack->status},
                                  {"content-type", "application/edifact"}});
          records.push_back(std::move(a));
        }
      }
    }
    auto completion = kafka::DeliveryCompletion::create(
        [this, job, w, dead, labels](const Status& s) { on_done(job, w, s, dead, labels); });
    // The completion owns this attempt's records: their values go to
    // librdkafka without a copy and stay valid until the last delivery
    // report, even after an early failure re-queued the job (a retry builds
    // new records; it never touches these).
    auto owned = std::make_shared<const std::vector<OutputRecord>>(std::move(records));
    records.clear();  // moved-from: reused for the next message
    completion->keep_alive(owned);
    for (const auto& rec : *owned)
      if (!sink->produce_borrowed(rec.topic, rec.key, rec.value, *rec.headers, completion).ok()) break;  // the completion has the error
    completion->seal();
  }

  int run() {
    describe_metrics();
    kafka::KafkaSinkOptions so;
    so.properties = kafka::merge_properties(cfg.kafka, cfg.producer);
    sink = std::make_unique<kafka::KafkaSink>(so);
    kafka::KafkaSourceOptions co;
    co.properties = kafka::merge_properties(cfg.kafka, cfg.consumer);
    if (!co.properties.count("group.id")) co.properties["group.id"] = "dxnorm";
    for (const auto& in : cfg.inputs) co.topics.push_back(in.topic);
    source = std::make_unique<kafka::KafkaSource>(co);
    for (int i = 0; i < cfg.workers; ++i) workers.push_back(std::make_unique<Worker>());
    for (std::size_t i = 0; i < workers.size(); ++i)
      workers[i]->thread = std::thread([this, i] { worker_loop(i); });
    log(LogLevel::kInfo, "pipeline started",
        {{"inputs", std::to_string(cfg.inputs.size())}, {"workers", std::to_string(cfg.workers)},
         {"mappings_version", mappings->version()}});

    while (!stopping.load()) {
      auto r = source->poll(std::chrono::milliseconds(100));
      if (!r.ok()) {
        const Error& e = r.error();
        if (e.code == StatusCode::kUnavailable) {
          log(LogLevel::kWarning, "consumer error; retrying", {{"error", e.to_string()}});
          continue;
        }
        log(LogLevel::kError, "fatal consumer error; stopping", {{"error", e.to_string()}});
        fatal = true;
        break;
      }
      if (auto fe = sink->fatal_error()) {
        log(LogLevel::kError, "fatal producer error; stopping", {{"error", fe->to_string()}});
        fatal = true;
        break;
      }
      if (!r->has_value()) continue;
      auto job = std::make_shared<Job>();
      job->record = std::move(**r);
      consumed.fetch_add(1);
      in_flight.fetch_add(1);
      metrics.add("dxnorm_messages_consumed_total", "topic=\"" + Metrics::label(job->record.topic) + "\"");
      std::size_t w = (std::hash<std::string>{}(job->record.topic) * 31 +
                       static_cast<std::size_t>(job->record.partition)) % workers.size();
      enqueue(w, std::move(job));
    }
    shutdown();
    return fatal ? 1 : 0;
  }

  void shutdown() {
    // Finish what was consumed (bounded), flush, then commit and leave.
    auto deadline = Clock::now() + std::chrono::seconds(7);
    while (in_flight.load() > 0 && Clock::now() < deadline) {
      // Keep serving the consumer (stores acked offsets, heartbeats).
      auto r = source->poll(std::chrono::milliseconds(20));
      if (r.ok() && r->has_value()) {
        // Consumed after the stop request: not processed, not acked; the
        // next owner of the partition gets it again.
      }
      if (fatal) break;
    }
    workers_stop = true;
    for (auto& w : workers) w->cv.notify_all();
    for (auto& w : workers)
      if (w->thread.joinable()) w->thread.join();
    (void)sink->flush(std::chrono::seconds(2));
    (void)source->close();
    (void)sink->close(std::chrono::seconds(1));
    log(LogLevel::kInfo, "pipeline stopped",
        {{"consumed", std::to_string(consumed.load())}, {"published", std::to_string(published.load())},
         {"dead_lettered", std::to_string(dead_lettered.load())}, {"unfinished", std::to_string(in_flight.load())}});
  }
};

PipelineRunner::PipelineRunner(RunConfig config, std::shared_ptr<const map::MappingSet> mappings, Metrics& metrics)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(mappings), metrics)) {}
PipelineRunner::~PipelineRunner() = default;
int PipelineRunner::run() { return impl_->run(); }
void PipelineRunner::stop() noexcept {
  impl_->stopping = true;
  {
    std::lock_guard<std::mutex> b(impl_->budget_mu);  // the poll thread may be waiting for room
  }
  impl_->budget_cv.notify_all();
  for (auto& w : impl_->workers) w->cv.notify_all();
}
void PipelineRunner::set_mappings(std::shared_ptr<const map::MappingSet> mappings) {
  {
    std::lock_guard<std::mutex> lk(impl_->mappings_mu);
    impl_->mappings = std::move(mappings);
  }
  impl_->mappings_generation.fetch_add(1);
}

bool PipelineRunner::ready() const noexcept {
  return impl_->source && impl_->source->assigned_partitions() > 0;
}
PipelineRunner::Counts PipelineRunner::counts() const noexcept {
  return {impl_->consumed.load(), impl_->published.load(), impl_->dead_lettered.load(), impl_->retried.load()};
}

}  // namespace dxnorm::runtime
