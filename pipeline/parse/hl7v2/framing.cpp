// split_messages(): from a received record or file to single ER7 messages.
//
// Layers, outside in: UTF-8 BOM, MLLP frames (VT payload FS CR), batch
// envelopes (FHS [BHS MSH... BTS]... FTS), messages (each starts at MSH).
// Envelope segments are consumed here; the parser never sees them.
//
// Policy: recoverable oddities are issues (FS without CR, an unterminated
// frame, text outside any message, BTS/FTS counts that do not match); input
// whose message boundaries cannot be trusted is an Error (no MSH at all; a
// batch or file header inside a message).
#include <cstring>
#include <optional>
#include <string>

#include "pipeline/parse/hl7v2/hl7v2_parser.h"

namespace dxnorm::hl7v2 {
namespace {

constexpr char kVT = 0x0B;  // MLLP start block
constexpr char kFS = 0x1C;  // MLLP end block

Error split_error(const char* code, std::string location, std::string message) {
  return make_error(StatusCode::kInvalidInput, Stage::kParse, code, std::move(location), std::move(message));
}

bool is_alnum(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

// Line starts with segment id `id` (followed by a separator or nothing).
bool starts_segment(std::string_view line, const char* id) {
  return line.size() >= 3 && std::memcmp(line.data(), id, 3) == 0 && (line.size() == 3 || !is_alnum(line[3]));
}

// First field of an envelope trailer (BTS-1, FTS-1) as a count; -1 when
// absent or not a number.
long trailer_count(std::string_view line) {
  if (line.size() < 5) return -1;
  const char sep = line[3];
  std::string_view f = line.substr(4);
  f = f.substr(0, f.find(sep));
  while (!f.empty() && f.front() == ' ') f.remove_prefix(1);
  while (!f.empty() && f.back() == ' ') f.remove_suffix(1);
  if (f.empty() || f.size() > 9) return -1;
  long v = 0;
  for (char c : f) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

class Splitter {
 public:
  explicit Splitter(SplitResult& out) : out_(out) {}

  // Splits one payload (no MLLP bytes). Returns an error for broken envelopes.
  std::optional<Error> split(std::string_view payload) {
    std::size_t pos = 0;
    const std::size_t n = payload.size();
    while (pos < n) {
      if (payload[pos] == '\r' || payload[pos] == '\n') {
        ++pos;
        continue;
      }
      std::size_t end = pos;
      while (end < n && payload[end] != '\r' && payload[end] != '\n') ++end;
      const std::string_view line = payload.substr(pos, end - pos);
      pos = end;
      if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
      ++segment_no_;
      if (starts_segment(line, "MSH")) {
        close_message();
        msg_begin_ = line.data();
        msg_end_ = line.data() + line.size();
      } else if (starts_segment(line, "BHS") || starts_segment(line, "FHS")) {
        const bool bhs = line[0] == 'B';
        if (msg_begin_ != nullptr) {
          return split_error("HL7_BAD_BATCH", "segment " + std::to_string(segment_no_),
                             std::string(bhs ? "BHS" : "FHS") + " inside a message (envelope header nested in a message)");
        }
        if (bhs) {
          if (in_batch_) unterminated("BHS");
          in_batch_ = true;
          batch_messages_ = 0;
          ++file_batches_;
        } else {
          if (in_file_) unterminated("FHS");
          if (in_batch_) unterminated("BHS");
          in_batch_ = false;
          in_file_ = true;
          file_batches_ = 0;
          file_messages_ = 0;
        }
      } else if (starts_segment(line, "BTS")) {
        close_message();
        if (!in_batch_) {
          issue(Severity::kWarning, "HL7_BATCH_UNMATCHED", "BTS without a preceding BHS");
        } else if (const long c = trailer_count(line); c >= 0 && static_cast<std::size_t>(c) != batch_messages_) {
          issue(Severity::kWarning, "HL7_BATCH_COUNT_MISMATCH",
                "BTS-1 says " + std::to_string(c) + " messages, the batch holds " + std::to_string(batch_messages_),
                "BTS-1");
        }
        in_batch_ = false;
      } else if (starts_segment(line, "FTS")) {
        close_message();
        if (in_batch_) unterminated("BHS");
        in_batch_ = false;
        if (!in_file_) {
          issue(Severity::kWarning, "HL7_BATCH_UNMATCHED", "FTS without a preceding FHS");
        } else if (const long c = trailer_count(line); c >= 0) {
          // FTS-1 counts batches; a file of bare messages (no BHS) is one
          // implicit batch, as python-hl7 and HAPI read it.
          const std::size_t actual = file_batches_ > 0 ? file_batches_ : (file_messages_ > 0 ? 1 : 0);
          if (static_cast<std::size_t>(c) != actual) {
            issue(Severity::kWarning, "HL7_BATCH_COUNT_MISMATCH",
                  "FTS-1 says " + std::to_string(c) + " batches, the file holds " + std::to_string(actual), "FTS-1");
          }
        }
        in_file_ = false;
      } else if (msg_begin_ != nullptr) {
        msg_end_ = line.data() + line.size();
      } else {
        if (outside_ == 0) first_outside_ = segment_no_;
        ++outside_;
      }
    }
    close_message();
    return std::nullopt;
  }

  void finish() {
    if (in_batch_) unterminated("BHS");
    if (in_file_) unterminated("FHS");
    if (outside_ > 0) {
      issue(Severity::kWarning, "HL7_TEXT_OUTSIDE_MESSAGE",
            std::to_string(outside_) + " segment(s) outside any message (no MSH before them) were ignored",
            "segment " + std::to_string(first_outside_));
    }
  }

  void issue(Severity sev, const char* code, std::string message, std::string location = {}) {
    out_.issues.push_back(Issue{sev, code, std::move(location), std::move(message)});
  }

 private:
  void close_message() {
    if (msg_begin_ == nullptr) return;
    out_.messages.emplace_back(msg_begin_, static_cast<std::size_t>(msg_end_ - msg_begin_));
    msg_begin_ = msg_end_ = nullptr;
    ++batch_messages_;
    ++file_messages_;
  }
  void unterminated(const char* header) {
    issue(Severity::kWarning, "HL7_BATCH_UNTERMINATED",
          std::string(header) + " without its trailer (" + (header[0] == 'B' ? "BTS" : "FTS") + ")");
  }

  SplitResult& out_;
  const char* msg_begin_ = nullptr;
  const char* msg_end_ = nullptr;
  bool in_batch_ = false, in_file_ = false;
  std::size_t batch_messages_ = 0, file_batches_ = 0, file_messages_ = 0;
  std::size_t segment_no_ = 0, outside_ = 0, first_outside_ = 0;
};

bool is_space(char c) { return c == '\r' || c == '\n' || c == ' ' || c == '\t'; }

}  // namespace

Result<SplitResult> split_messages(std::string_view input) {
  SplitResult result;
  Splitter splitter(result);
  if (input.size() >= 3 && std::memcmp(input.data(), "\xEF\xBB\xBF", 3) == 0) input.remove_prefix(3);

  const bool mllp = input.find(kVT) != std::string_view::npos;
  if (!mllp) {
    if (auto err = splitter.split(input)) return std::move(*err);
  } else {
    std::size_t pos = 0;
    const std::size_t n = input.size();
    while (pos < n) {
      if (is_space(input[pos])) {
        ++pos;
        continue;
      }
      if (input[pos] != kVT) {
        const std::size_t next = input.find(kVT, pos);
        splitter.issue(Severity::kWarning, "HL7_TEXT_OUTSIDE_MESSAGE", "bytes outside MLLP frames were ignored",
                       "byte " + std::to_string(pos));
        pos = next == std::string_view::npos ? n : next;
        continue;
      }
      const std::size_t start = pos + 1;
      const std::size_t fs = input.find(kFS, start);
      const std::size_t vt = input.find(kVT, start);
      std::string_view payload;
      if (fs == std::string_view::npos || (vt != std::string_view::npos && vt < fs)) {
        const std::size_t stop = vt == std::string_view::npos ? n : vt;
        splitter.issue(Severity::kWarning, "HL7_TRUNCATED", "MLLP frame has no end block (FS); message may be truncated",
                       "byte " + std::to_string(pos));
        payload = input.substr(start, stop - start);
        pos = stop;
      } else {
        payload = input.substr(start, fs - start);
        pos = fs + 1;
        if (pos < n && input[pos] == '\r') {
          ++pos;
        } else {
          splitter.issue(Severity::kWarning, "HL7_MLLP_NO_CR", "MLLP end block FS not followed by CR",
                         "byte " + std::to_string(fs));
        }
      }
      if (payload.size() >= 3 && std::memcmp(payload.data(), "\xEF\xBB\xBF", 3) == 0) payload.remove_prefix(3);
      if (auto err = splitter.split(payload)) return std::move(*err);
    }
  }
  splitter.finish();
  if (result.messages.empty()) {
    return split_error("HL7_NO_MSH", "input", "no MSH segment found: input holds no HL7 v2 message");
  }
  return result;
}

}  // namespace dxnorm::hl7v2
