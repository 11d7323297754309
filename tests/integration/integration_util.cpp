#include "integration_util.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "connectors/kafka/kafka_handles.h"
#include "connectors/kafka/kafka_log.h"
#include "connectors/kafka/kafka_publish.h"
#include "pipeline/runtime/json_log.h"

extern char** environ;

namespace dxnorm::itest {

namespace fs = std::filesystem;

void quiet_logs() {
  static const bool once = [] {
    if (std::getenv("DXNORM_ITEST_LOG") == nullptr) {
      runtime::set_log_level(runtime::LogLevel::kWarning);
      kafka::set_log_handler([](int level, std::string_view msg) {
        if (level <= kafka::kLogError)
          fprintf(stderr, "kafka[%d] %.*s\n", level, static_cast<int>(msg.size()), msg.data());
      });
    }
    return true;
  }();
  (void)once;
}

std::string fixtures_dir() { return std::string(DXNORM_SOURCE_DIR) + "/tests/fixtures/integration"; }
std::string mappings_dir() { return std::string(DXNORM_SOURCE_DIR) + "/mappings"; }

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string fixture(const std::string& relative) { return read_file(fixtures_dir() + "/" + relative); }

namespace {

// Replaces field `index` (split on `sep`; for MSH, index 9 is MSH-10) of one
// segment; with comp != 0 only its first component is replaced.
std::string set_field(std::string_view segment, char sep, std::size_t index, const std::string& value, char comp) {
  std::vector<std::string> f;
  std::size_t start = 0;
  while (true) {
    auto p = segment.find(sep, start);
    f.emplace_back(segment.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
    if (p == std::string_view::npos) break;
    start = p + 1;
  }
  while (f.size() <= index) f.emplace_back();
  if (comp != 0) {
    auto c = f[index].find(comp);
    f[index] = value + (c == std::string::npos ? std::string() : f[index].substr(c));
  } else {
    f[index] = value;
  }
  std::string out;
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (i) out += sep;
    out += f[i];
  }
  return out;
}

}  // namespace

std::string make_variant(std::string_view message, const std::string& control_id, const std::string& filler) {
  auto msh = message.find("MSH");
  REQUIRE(msh != std::string_view::npos);
  REQUIRE(message.size() > msh + 4);
  const char sep = message[msh + 3];
  const char comp = message[msh + 4];
  std::string out(message.substr(0, msh));
  std::size_t pos = msh;
  while (pos < message.size()) {
    auto end = message.find_first_of("\r\n", pos);
    if (end == std::string_view::npos) end = message.size();
    std::string_view seg = message.substr(pos, end - pos);
    std::string s(seg);
    if (seg.substr(0, 3) == "MSH") s = set_field(seg, sep, 9, control_id, 0);
    else if (!filler.empty() && (seg.substr(0, 4) == std::string("ORC") + sep || seg.substr(0, 4) == std::string("OBR") + sep))
      s = set_field(seg, sep, 3, filler, comp);
    out += s;
    auto next = message.find_first_not_of("\r\n", end);
    if (next == std::string_view::npos) next = message.size();
    out += message.substr(end, next - end);
    pos = next;
  }
  return out;
}

std::optional<std::string> Record::header(std::string_view name) const {
  for (const auto& h : headers)
    if (h.first == name) return h.second;
  return std::nullopt;
}

void publish(const std::string& bootstrap, const std::string& topic, const std::vector<Input>& inputs,
             kafka::KafkaProperties extra) {
  kafka::KafkaProperties p = kafka::merge_properties(
      {{"bootstrap.servers", bootstrap}, {"linger.ms", "2"}, {"max.in.flight.requests.per.connection", "1"}}, extra);
  std::vector<std::string> payloads;
  payloads.reserve(inputs.size());
  for (const auto& i : inputs) payloads.push_back(i.payload);
  auto report = kafka::publish_records(p, topic, payloads,
                                       [&inputs](std::size_t i, std::string_view) { return inputs[i].control_id; },
                                       std::chrono::seconds(60));
  REQUIRE_MESSAGE(report.ok(), "publish failed: " << (report.first_error ? report.first_error->to_string() : ""));
  REQUIRE(report.delivered == inputs.size());
}

// ---- TopicReader ----------------------------------------------------------

struct TopicReader::Impl {
  kafka::KafkaHandle rk;
  std::map<std::string, int> partitions;
  mutable std::mutex mu;
  std::map<std::string, std::vector<Record>> records;
  std::map<std::pair<std::string, int>, std::int64_t> next;  // next offset to read
  std::size_t gaps = 0;  // offsets skipped: data dropped by the mock before it was read
  std::atomic<bool> stop{false};
  std::thread thread;

  void poll_once(int timeout_ms) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk.get(), timeout_ms);
    if (m == nullptr) return;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      Record r;
      r.topic = rd_kafka_topic_name(m->rkt);
      r.partition = m->partition;
      r.offset = m->offset;
      r.null_key = m->key == nullptr;
      if (m->key) r.key.assign(static_cast<const char*>(m->key), m->key_len);
      if (m->payload) r.value.assign(static_cast<const char*>(m->payload), m->len);
      r.timestamp_ms = rd_kafka_message_timestamp(m, nullptr);
      rd_kafka_headers_t* hdrs = nullptr;
      if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs) {
        const char* name;
        const void* val;
        size_t size;
        for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i)
          r.headers.emplace_back(name, val ? std::string(static_cast<const char*>(val), size) : std::string());
      }
      std::lock_guard<std::mutex> g(mu);
      auto& nx = next[{r.topic, r.partition}];
      if (r.offset != nx) ++gaps;
      nx = r.offset + 1;
      records[r.topic].push_back(std::move(r));
    }
    rd_kafka_message_destroy(m);
  }
  std::int64_t watermark(const std::string& topic, bool high) {
    auto it = partitions.find(topic);
    if (it == partitions.end()) return -1;
    std::int64_t sum = 0;
    for (int i = 0; i < it->second; ++i) {
      std::int64_t lo = -1, hi = -1;
      if (rd_kafka_query_watermark_offsets(rk.get(), topic.c_str(), i, &lo, &hi, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
      sum += high ? hi : lo;
    }
    return sum;
  }
};

TopicReader::TopicReader(const std::string& bootstrap, const std::map<std::string, int>& topic_partitions)
    : impl_(std::make_unique<Impl>()) {
  static std::atomic<int> n{0};
  impl_->partitions = topic_partitions;
  kafka::KafkaProperties p = {{"bootstrap.servers", bootstrap},
                              {"group.id", "itest-reader-" + std::to_string(getpid()) + "-" + std::to_string(++n)},
                              {"enable.auto.commit", "false"},
                              {"enable.partition.eof", "false"},
                              {"auto.offset.reset", "earliest"},
                              {"fetch.wait.max.ms", "50"},
                              {"reconnect.backoff.max.ms", "500"}};
  impl_->rk = kafka::make_client(RD_KAFKA_CONSUMER, kafka::make_conf(p));
  rd_kafka_poll_set_consumer(impl_->rk.get());
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(16);
  for (const auto& [t, np] : topic_partitions)
    for (int i = 0; i < np; ++i) {
      rd_kafka_topic_partition_list_add(list, t.c_str(), i)->offset = RD_KAFKA_OFFSET_BEGINNING;
      impl_->next[{t, i}] = 0;
    }
  auto err = rd_kafka_assign(impl_->rk.get(), list);
  rd_kafka_topic_partition_list_destroy(list);
  REQUIRE(err == RD_KAFKA_RESP_ERR_NO_ERROR);
  impl_->thread = std::thread([impl = impl_.get()] {
    while (!impl->stop.load()) impl->poll_once(50);
  });
}

TopicReader::~TopicReader() {
  impl_->stop = true;
  if (impl_->thread.joinable()) impl_->thread.join();
  if (impl_->rk) rd_kafka_consumer_close(impl_->rk.get());
}

bool TopicReader::catch_up(std::chrono::milliseconds timeout) {
  const auto end = Clock::now() + timeout;
  std::map<std::pair<std::string, int>, std::int64_t> high;
  for (const auto& [t, np] : impl_->partitions)
    for (int i = 0; i < np; ++i) {
      std::int64_t lo = -1, hi = -1;
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count());
      if (left <= 0) return false;
      if (rd_kafka_query_watermark_offsets(impl_->rk.get(), t.c_str(), i, &lo, &hi, std::min(left, 5000)) !=
          RD_KAFKA_RESP_ERR_NO_ERROR)
        return false;
      high[{t, i}] = hi;
    }
  while (true) {
    bool done = true;
    {
      std::lock_guard<std::mutex> g(impl_->mu);
      for (const auto& [tp, hi] : high)
        if (impl_->next[tp] < hi) done = false;
    }
    if (done) return true;
    if (Clock::now() >= end) return false;
    std::this_thread::sleep_for(10ms);
  }
}

bool TopicReader::wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto end = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() >= end) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

std::int64_t TopicReader::high_watermark(const std::string& topic) { return impl_->watermark(topic, true); }
std::int64_t TopicReader::low_watermark(const std::string& topic) { return impl_->watermark(topic, false); }

std::size_t TopicReader::count(const std::string& topic) const {
  std::lock_guard<std::mutex> g(impl_->mu);
  auto it = impl_->records.find(topic);
  return it == impl_->records.end() ? 0 : it->second.size();
}

std::vector<Record> TopicReader::records(const std::string& topic, std::size_t from) const {
  std::lock_guard<std::mutex> g(impl_->mu);
  auto it = impl_->records.find(topic);
  if (it == impl_->records.end() || from >= it->second.size()) return {};
  return {it->second.begin() + static_cast<long>(from), it->second.end()};
}

std::size_t TopicReader::gaps() const {
  std::lock_guard<std::mutex> g(impl_->mu);
  return impl_->gaps;
}

std::int64_t committed_offsets(const std::string& bootstrap, const std::string& group, const std::string& topic,
                               int partitions) {
  kafka::KafkaHandle rk = kafka::make_client(
      RD_KAFKA_CONSUMER, kafka::make_conf({{"bootstrap.servers", bootstrap}, {"group.id", group},
                                           {"enable.auto.commit", "false"}}));
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int i = 0; i < partitions; ++i) rd_kafka_topic_partition_list_add(list, topic.c_str(), i);
  std::int64_t sum = -1;
  if (rd_kafka_committed(rk.get(), list, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    sum = 0;
    for (int i = 0; i < list->cnt; ++i)
      if (list->elems[i].offset >= 0) sum += list->elems[i].offset;
  }
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_consumer_close(rk.get());
  return sum;
}

// ---- runner ----------------------------------------------------------------

runtime::RunConfig test_config(const kafka::EmbeddedBroker& broker, const std::string& group,
                               const std::string& input_topic) {
  runtime::RunConfig c;
  c.file = "<test>";
  c.kafka = {{"bootstrap.servers", broker.bootstraps()},
             {"reconnect.backoff.max.ms", "500"},
             {"topic.metadata.refresh.interval.ms", "1000"}};
  c.consumer = {{"group.id", group},
                {"session.timeout.ms", "6000"},
                {"heartbeat.interval.ms", "1000"},
                {"auto.commit.interval.ms", "500"}};
  c.producer = {{"linger.ms", "5"}, {"max.in.flight.requests.per.connection", "1"}, {"retry.backoff.ms", "50"}};
  runtime::InputTopic in;
  in.topic = input_topic;
  c.inputs.push_back(in);
  c.mappings_dir = mappings_dir();
  c.workers = 2;
  c.http_port = 0;
  return c;
}

std::map<std::string, int> create_topics(kafka::EmbeddedBroker& broker, const runtime::RunConfig& cfg, int partitions,
                                         int replication) {
  std::map<std::string, int> out;
  for (const auto& t : cfg.all_topics()) {
    broker.create_topic({t, partitions, replication});
    out[t] = partitions;
  }
  return out;
}

std::shared_ptr<const map::MappingSet> load_mappings() {
  static std::shared_ptr<const map::MappingSet> set = [] {
    map::LoaderOptions lo;
    return map::MappingSet::load(mappings_dir(), lo);
  }();
  return set;
}

RunnerThread::RunnerThread(runtime::RunConfig cfg, std::shared_ptr<const map::MappingSet> mappings)
    : runner_(std::move(cfg), std::move(mappings), metrics_) {
  thread_ = std::thread([this] { rc_ = runner_.run(); });
}

RunnerThread::~RunnerThread() {
  if (thread_.joinable()) (void)finish();
}

bool RunnerThread::wait_ready(std::chrono::milliseconds timeout) {
  const auto end = Clock::now() + timeout;
  while (!runner_.ready()) {
    if (Clock::now() >= end) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

bool RunnerThread::wait_done(std::uint64_t n, std::chrono::milliseconds timeout) {
  const auto end = Clock::now() + timeout;
  while (true) {
    auto c = runner_.counts();
    if (c.published + c.dead_lettered >= n) return true;
    if (Clock::now() >= end) return false;
    std::this_thread::sleep_for(20ms);
  }
}

int RunnerThread::finish() {
  runner_.stop();
  if (thread_.joinable()) thread_.join();
  return rc_;
}

// ---- processes ---------------------------------------------------------------

Child::Child(const std::vector<std::string>& argv, const std::string& out_file, const std::string& err_file)
    : out_file_(out_file), err_file_(err_file) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // The embedded broker blocks SIGINT/SIGTERM while spawning its threads:
  // never let a blocked mask leak into the child.
  sigset_t none, deflt;
  sigemptyset(&none);
  sigemptyset(&deflt);
  sigaddset(&deflt, SIGTERM);
  sigaddset(&deflt, SIGINT);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &deflt);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], &fa, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  REQUIRE_MESSAGE(rc == 0, "posix_spawn " << argv[0] << ": " << rc);
  pid_ = pid;
}

Child::~Child() {
  if (!reaped_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    int st = 0;
    waitpid(pid_, &st, 0);
  }
}

void Child::signal(int sig) {
  if (!reaped_) kill(pid_, sig);
}

std::optional<int> Child::wait(std::chrono::milliseconds timeout) {
  const auto end = Clock::now() + timeout;
  while (true) {
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      if (WIFEXITED(st)) return WEXITSTATUS(st);
      if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
      return -1;
    }
    if (Clock::now() >= end) return std::nullopt;
    std::this_thread::sleep_for(10ms);
  }
}

std::string Child::out() const {
  std::ifstream in(out_file_, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Child::err() const {
  std::ifstream in(err_file_, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "dxnorm-itest-XXXXXX").string();
  char* p = mkdtemp(tmpl.data());
  REQUIRE(p != nullptr);
  path_ = p;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& name, const std::string& content) const {
  std::string p = path_ + "/" + name;
  std::ofstream out(p, std::ios::binary);
  out << content;
  REQUIRE(out.good());
  return p;
}

std::string child_config_yaml(const std::string& bootstrap, const std::string& group, const std::string& log_level,
                              int auto_commit_interval_ms) {
  return "kafka:\n"
         "  properties:\n"
         "    bootstrap.servers: \"" + bootstrap + "\"\n"
         "    reconnect.backoff.max.ms: \"500\"\n"
         "  consumer:\n"
         "    group.id: " + group + "\n"
         "    session.timeout.ms: \"6000\"\n"
         "    heartbeat.interval.ms: \"1000\"\n"
         "    auto.commit.interval.ms: \"" + std::to_string(auto_commit_interval_ms) + "\"\n"
         "  producer:\n"
         "    linger.ms: \"5\"\n"
         "    max.in.flight.requests.per.connection: \"1\"\n"
         "inputs:\n"
         "  - topic: hl7v2.in\n"
         "    format: hl7v2\n"
         "outputs:\n"
         "  bundle-topic: fhir.bundle\n"
         "  dead-letter-topic: dxnorm.dead-letter\n"
         "mappings: " + mappings_dir() + "\n"
         "workers: 2\n"
         "http:\n"
         "  address: 127.0.0.1\n"
         "  port: 0\n"
         "log:\n"
         "  level: " + log_level + "\n";
}

std::string dxnorm_binary() { return DXNORM_BINARY; }

int http_port_of(const std::string& run_stdout) {
  const std::string tag = "http: http://127.0.0.1:";
  auto p = run_stdout.find(tag);
  if (p == std::string::npos) return 0;
  return std::atoi(run_stdout.c_str() + p + tag.size());
}

std::optional<std::string> http_get(int port, const std::string& path, int* status) {
  try {
    Poco::Net::HTTPClientSession s("127.0.0.1", static_cast<Poco::UInt16>(port));
    s.setTimeout(Poco::Timespan(2, 0));
    Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_GET, path, Poco::Net::HTTPMessage::HTTP_1_1);
    s.sendRequest(req);
    Poco::Net::HTTPResponse resp;
    std::istream& in = s.receiveResponse(resp);
    std::stringstream ss;
    ss << in.rdbuf();
    if (status) *status = static_cast<int>(resp.getStatus());
    return ss.str();
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace dxnorm::itest
