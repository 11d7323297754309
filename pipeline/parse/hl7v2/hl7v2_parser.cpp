// One-pass ER7 parser: delimiters from MSH, segments and field spans as
// offsets, then the group tree from the message-structure definitions.
//
// Tolerance policy (what we accept, and what we say about it):
//   - leading UTF-8 BOM and blank lines, CR / LF / CRLF segment ends: silent;
//   - MSH-2 with repeated characters (`^~\\&`): first distinct characters
//     used, HL7_ENCODING_CHARS_IRREGULAR warning;
//   - segment ids that are not 3 upper-case letters/digits: kept, warning;
//   - segments the structure has no place for (Z-segments, out-of-order or
//     unknown ones): kept in the current group with placed=false, info;
//   - unknown message structure: flat root group, info.
// Everything else that makes the message unreadable is an Error value.
#include "pipeline/parse/hl7v2/hl7v2_parser.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <unordered_map>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "pipeline/parse/hl7v2/hl7v2_value.h"

namespace dxnorm::hl7v2 {
namespace {

constexpr std::size_t kMaxIssues = 100;  // beyond this, one HL7_ISSUES_TRUNCATED issue
constexpr int kMaxFrames = 24;           // group nesting of the matcher (definitions allow 16)

Error parse_error(const char* code, std::string location, std::string message) {
  return make_error(StatusCode::kInvalidInput, Stage::kParse, code, std::move(location), std::move(message));
}

bool is_alnum(unsigned char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

// A delimiter must be visible ASCII punctuation.
bool valid_delimiter(unsigned char c) { return c > 0x20 && c < 0x7F && !is_alnum(c); }

// Characters of a segment id: upper-case letters and digits.
constexpr std::array<bool, 256> kIdChar = [] {
  std::array<bool, 256> t{};
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = true;
  return t;
}();

bool is_segment_id(std::string_view s) {
  return s.size() == 3 && kIdChar[static_cast<unsigned char>(s[0])] && kIdChar[static_cast<unsigned char>(s[1])] &&
         kIdChar[static_cast<unsigned char>(s[2])];
}

// The special bytes of 64 bytes at p, bit i for p[i]: `fs`, the field
// separator; `ctl`, C0 control characters (CR, LF, TAB, ESC, binary).
// The scanner takes every separator of a block from these masks: this is
// most of the parse time.
struct BlockMasks {
  std::uint64_t fs;
  std::uint64_t ctl;
};

[[gnu::always_inline]] inline BlockMasks special_masks64(const char* p, char fs) noexcept {
  BlockMasks m{0, 0};
#if defined(__SSE2__)
  const __m128i vfs = _mm_set1_epi8(fs);
  const __m128i v1f = _mm_set1_epi8(0x1F);
  // Written out for the four 16-byte parts: a loop is not unrolled at -O2,
  // and a helper lambda made GCC 12 bounce every load through the stack.
  const __m128i v0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i v1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16));
  const __m128i v2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 32));
  const __m128i v3 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 48));
  const auto fs_bits = [&](__m128i v) -> std::uint64_t {
    return static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, vfs)));
  };
  const auto ctl_bits = [&](__m128i v) -> std::uint64_t {
    return static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(v, v1f), v1f)));
  };
  m.fs = fs_bits(v0) | fs_bits(v1) << 16 | fs_bits(v2) << 32 | fs_bits(v3) << 48;
  m.ctl = ctl_bits(v0) | ctl_bits(v1) << 16 | ctl_bits(v2) << 32 | ctl_bits(v3) << 48;
#else
  for (unsigned i = 0; i < 64; ++i) {
    const unsigned char c = static_cast<unsigned char>(p[i]);
    if (c == static_cast<unsigned char>(fs)) m.fs |= std::uint64_t{1} << i;
    if (c < 0x20) m.ctl |= std::uint64_t{1} << i;
  }
#endif
  return m;
}

// Errors of the segment scan, out of line: building their text must not
// weigh on the loop that takes the separators.
[[gnu::cold, gnu::noinline]] Error binary_error(std::uint32_t ordinal, unsigned char c) {
  return parse_error("HL7_BINARY", "segment " + std::to_string(ordinal),
                     std::string("control character 0x") + "0123456789ABCDEF"[c >> 4] + "0123456789ABCDEF"[c & 0xF] +
                         " in message text");
}

[[gnu::cold, gnu::noinline]] Error too_large_error(std::uint32_t ordinal, std::size_t limit, const char* what) {
  return parse_error("HL7_TOO_LARGE", "segment " + std::to_string(ordinal),
                     "more than " + std::to_string(limit) + " " + what);
}

// Occurrence counting by segment name without allocating: 3-character ids
// are packed into a 32-bit key in a small open-addressing table; anything
// else (or a table that fills up) goes to a lazily created map.
class OccurrenceCounter {
 public:
  std::uint32_t next(std::string_view name) {
    if (name.size() <= 3 && used_ < kSlots / 2) {
      const std::uint32_t key = short_key(name);
      std::size_t h = (key * 2654435761u) >> (32 - kBits);
      for (;; h = (h + 1) & (kSlots - 1)) {
        if (keys_[h] == key) return ++counts_[h];
        if (keys_[h] == 0) {
          keys_[h] = key;
          ++used_;
          return counts_[h] = 1;
        }
      }
    }
    if (!overflow_) overflow_ = std::make_unique<std::unordered_map<std::string_view, std::uint32_t>>();
    // Short names that arrive after the table filled must not restart at 1.
    std::uint32_t base = 0;
    if (name.size() <= 3) base = lookup(name);
    auto [it, inserted] = overflow_->try_emplace(name, base);
    return ++it->second;
  }

 private:
  static constexpr int kBits = 7;  // 64 distinct names before the map; messages use ~20
  static constexpr std::size_t kSlots = std::size_t{1} << kBits;
  // A name of up to 3 characters as a nonzero key: marker bit, length, bytes.
  static std::uint32_t short_key(std::string_view name) {
    if (name.size() == 3) return 0x83000000u | segment_key(name);
    std::uint32_t key = 0x80000000u | static_cast<std::uint32_t>(name.size()) << 24;
    for (std::size_t i = 0; i < name.size(); ++i) {
      key |= static_cast<std::uint32_t>(static_cast<unsigned char>(name[i])) << (8 * i);
    }
    return key;
  }
  std::uint32_t lookup(std::string_view name) const {
    const std::uint32_t key = short_key(name);
    std::size_t h = (key * 2654435761u) >> (32 - kBits);
    for (std::size_t n = 0; n < kSlots; ++n, h = (h + 1) & (kSlots - 1)) {
      if (keys_[h] == key) return counts_[h];
      if (keys_[h] == 0) return 0;
    }
    return 0;
  }
  std::array<std::uint32_t, kSlots> keys_{};
  std::array<std::uint32_t, kSlots> counts_{};
  std::size_t used_ = 0;
  std::unique_ptr<std::unordered_map<std::string_view, std::uint32_t>> overflow_;
};

void add_issue(Issues& issues, Severity sev, const char* code, std::string location, std::string message) {
  if (issues.size() < kMaxIssues) {
    issues.push_back(Issue{sev, code, std::move(location), std::move(message)});
  } else if (issues.size() == kMaxIssues) {
    issues.push_back(Issue{Severity::kWarning, "HL7_ISSUES_TRUNCATED", "",
                           "more than " + std::to_string(kMaxIssues) + " parser issues; the rest are not listed"});
  }
}

std::string seg_location(const Segment& s) {
  return std::string(s.name) + "(" + std::to_string(s.occurrence) + ")";
}

// The segment and field scan of Hl7v2Parser::parse, in its own class and
// functions (not inlined) so that the loop over separators keeps its state
// in registers: the end of a segment, which touches the rest, is a call.
//
// Block by block: two masks hold the field separators and the control
// characters of 64 bytes. The separators before the block's next control
// character are taken in a loop of their own (most blocks have none), then
// that control character. A CR or LF ends a segment; so does the end of the
// text, as a CR after the last byte of a padded copy of the last (partial)
// block. An empty line is a segment with no fields and a blank name, which is
// dropped: leading, doubled and trailing line ends are silent. Spans are
// written into the room of the span pool (a field costs a store, not a
// push_back; the pool grows ahead of a block) and counted before any return,
// so on an error they are complete up to it.
class SegmentScanner {
 public:
  SegmentScanner(std::vector<Segment>& segments, Issues& issues, const ParserPolicy& policy)
      : segments_(segments), issues_(issues), policy_(policy) {}

  // `text` starts with "MSH" and its field separator; `spans` is the span
  // pool, `span_count` receives the number of spans written, error or not.
  [[gnu::noinline]] Status scan(std::string_view text, std::vector<std::pair<std::uint32_t, std::uint32_t>>& spans,
                                std::size_t& span_count) {
    using Span = std::pair<std::uint32_t, std::uint32_t>;
    constexpr std::size_t kBlock = 64;
    const char fs = text[3];
    const char* const base = text.data();
    const std::size_t size = text.size();
    Span* room = spans.data();
    Span* room_end = room + spans.size();
    Span* w = room;                    // the next span
    std::uint32_t seg_start = 0;       // offset of the current segment
    std::uint32_t field_start = 0;     // offset of the current field
    std::uint32_t name_end = kNoName;  // until the first field separator of the segment
    char tail[kBlock] = {};
    for (std::size_t pos = 0;; pos += kBlock) {
      const std::size_t left = size - pos;
      const char* block = base + pos;
      if (left < kBlock) {
        std::memcpy(tail, block, left);
        tail[left] = '\r';
        block = tail;
      }
      BlockMasks m = special_masks64(block, fs);
      if (left < kBlock) {
        const std::uint64_t keep = (std::uint64_t{2} << left) - 1;  // all bits when left is 63
        m.fs &= keep;
        m.ctl &= keep;
      }
      if (static_cast<std::size_t>(room_end - w) < kBlock) {  // a block adds at most one span per byte
        const std::size_t n = static_cast<std::size_t>(w - room);
        spans.resize(std::max<std::size_t>(2 * spans.size(), n + 256));
        room = spans.data();
        room_end = room + spans.size();
        w = room + n;
      }
      for (;;) {
        const std::uint64_t stop = m.ctl & (0 - m.ctl);  // the next control character; 0: none
        std::uint64_t f = m.fs & (stop - 1);               // the separators before it
        m.fs ^= f;
        while (f != 0) {
          const std::uint32_t at = static_cast<std::uint32_t>(pos + static_cast<unsigned>(__builtin_ctzll(f)));
          f &= f - 1;
          if (name_end != kNoName) {
            *w++ = {field_start, at};
          } else {
            name_end = at;
            if (w == room) *w++ = {at, at + 1};  // MSH-1 is the separator itself
          }
          field_start = at + 1;
        }
        if (stop == 0) break;
        m.ctl ^= stop;
        const unsigned i = static_cast<unsigned>(__builtin_ctzll(stop));
        const std::uint32_t at = static_cast<std::uint32_t>(pos + i);
        const char c = block[i];
        if (c == '\t' || c == 0x1B) continue;  // TAB, ESC (ISO 2022 switches): ordinary text
        if (name_end != kNoName) {
          *w++ = {field_start, at};
        } else {
          name_end = at;
        }
        const std::size_t n = static_cast<std::size_t>(w - room);
        span_count = n;
        if (c != '\r' && c != '\n') return binary_error(ordinal_, static_cast<unsigned char>(c));
        if (const SegmentEnd e = end_segment(base, seg_start, name_end, at, n); e != SegmentEnd::kKept) {
          if (e == SegmentEnd::kTooManyFields) return too_large_error(ordinal_, policy_.max_fields, "fields");
          return too_large_error(ordinal_, policy_.max_segments, "segments");
        }
        seg_start = field_start = at + 1;
        name_end = kNoName;
      }
      if (left < kBlock) return ok_status();
    }
  }

 private:
  static constexpr std::uint32_t kNoName = std::numeric_limits<std::uint32_t>::max();

  enum class SegmentEnd { kKept, kTooManyFields, kTooManySegments };

  // The segment [seg_start, at) with its name ending at name_end and its
  // fields in spans [first_field_, n) is complete: keep it, unless it is a
  // blank line (also kKept).
  [[gnu::noinline]] SegmentEnd end_segment(const char* base, std::uint32_t seg_start, std::uint32_t name_end,
                                           std::uint32_t at, std::size_t n) {
    if (n > policy_.max_fields) return SegmentEnd::kTooManyFields;
    const std::string_view name(base + seg_start, name_end - seg_start);
    const std::uint32_t field_count = static_cast<std::uint32_t>(n - first_field_);
    if (field_count == 0 && name.find_first_not_of(" \t") == std::string_view::npos) return SegmentEnd::kKept;  // blank line
    if (segments_.size() >= policy_.max_segments) return SegmentEnd::kTooManySegments;
    const std::uint32_t key = segment_key(name);
    segments_.push_back(Segment{name, std::string_view(base + seg_start, at - seg_start),
                                static_cast<std::uint32_t>(first_field_), field_count, ordinal_,
                                occurrences_.next(name), key});
    if (!is_segment_id(name)) {
      add_issue(issues_, Severity::kWarning, "HL7_SEGMENT_ID_INVALID", "segment " + std::to_string(ordinal_),
                "segment id is not 3 upper-case letters or digits; segment kept, not placed");
    } else if (ordinal_ > 1 && key == kMshKey && !extra_msh_) {
      extra_msh_ = true;
      add_issue(issues_, Severity::kWarning, "HL7_MULTIPLE_MESSAGES", "segment " + std::to_string(ordinal_),
                "a second MSH inside one message; split input with split_messages() first");
    }
    first_field_ = n;
    ordinal_ = static_cast<std::uint32_t>(segments_.size()) + 1;
    return SegmentEnd::kKept;
  }

  std::vector<Segment>& segments_;
  Issues& issues_;
  const ParserPolicy& policy_;
  OccurrenceCounter occurrences_;
  std::size_t first_field_ = 0;  // index in spans of the current segment's field 1
  std::uint32_t ordinal_ = 1;    // of the current segment, if it is kept
  bool extra_msh_ = false;
};

}  // namespace

// Builds the group tree of a parsed message (friend of Message).
//
// Tolerant matching, as HAPI does it: for each segment, look at/after the
// current position of the innermost open group; an item there either is the
// segment or is a group whose first segment can be it (then a new child group
// is opened). If nothing fits, close that group and try its parent, up to the
// root. A segment that fits nowhere stays in the innermost group, unplaced.
// Required items may be skipped (vendors omit them); positions never move
// backwards within a group instance.
class StructureMatcher {
 public:
  StructureMatcher(Message& m, const GroupDef* root_def, std::string_view structure_name)
      : m_(m), root_def_(root_def), structure_name_(structure_name) {}

  // false: the group pool ran out; the caller grows it and runs again.
  bool run() {
    Group& root = m_.groups_[0];
    root.def = root_def_;
    root.name = root_def_ ? std::string_view(root_def_->name) : std::string_view("MESSAGE");
    root.parent = nullptr;
    root.index = 1;
    root.children.clear();
    m_.groups_used_ = 1;
    if (root_def_ == nullptr) {
      for (std::size_t i = 0; i < m_.segments_.size(); ++i) {
        root.children.push_back(GroupNode{nullptr, static_cast<std::int32_t>(i), true});
      }
      return true;
    }
    depth_ = 1;
    stack_[0] = Frame{&root, root_def_, 0, false, 0};
    for (std::size_t i = 0; i < m_.segments_.size(); ++i) {
      place(static_cast<std::int32_t>(i));
      if (exhausted_) return false;
    }
    return true;
  }

 private:
  struct Frame {
    Group* group;
    const GroupDef* def;
    std::uint32_t pos;   // current item
    bool used;           // the current item holds at least one instance
    std::uint32_t reps;  // instances of the current item so far
  };

  // An instance of the group can start with the segment: its key is in the
  // group's first set (the loader's closure of "an item up to the first
  // required one is the segment, or a group that can start with it").
  static bool can_start(const GroupDef& def, std::uint32_t key) {
    for (const std::uint32_t k : def.first) {
      if (k == key) return true;
    }
    return false;
  }

  void place(std::int32_t seg_index) {
    const Segment& seg = m_.segments_[static_cast<std::size_t>(seg_index)];
    const bool valid_id = is_segment_id(seg.name);
    if (valid_id) {
      const std::uint32_t key = seg.key;  // the scanner stored segment_key(seg.name)
      for (int d = depth_ - 1; d >= 0; --d) {
        if (try_frame(d, key, seg_index)) return;
      }
    }
    Group* current = stack_[depth_ - 1].group;
    current->children.push_back(GroupNode{nullptr, seg_index, false});
    if (valid_id) {  // invalid ids were reported by the scanner already
      add_issue(m_.issues_, Severity::kInfo, "HL7_SEGMENT_UNPLACED", seg_location(seg),
                "segment " + std::string(seg.name) + " could not be placed in " + std::string(structure_name_) +
                    " structure; kept in group " + std::string(current->name));
    }
  }

  static bool fits(const StructureItem& item, std::uint32_t key) {
    return item.group == nullptr ? item.key == key : can_start(*item.group, key);
  }

  // Places the segment at or after the current item of frame d, opening the
  // groups it starts (one frame each, down to the segment item); false when
  // nothing there fits. A loop, not a recursion, over the opened groups.
  bool try_frame(int d, std::uint32_t key, std::int32_t seg_index) {
    for (;;) {
      Frame& f = stack_[d];
      const StructureItem* const items = f.def->items.data();
      const auto count = static_cast<std::uint32_t>(f.def->items.size());
      std::uint32_t i = f.pos;
      bool again = false;  // another instance of the current item
      if (f.used && i < count) {
        again = items[i].repeating && fits(items[i], key);
        if (!again) ++i;
      }
      if (!again) {
        while (i < count && !fits(items[i], key)) ++i;
        if (i == count) return false;
      }
      const StructureItem& item = items[i];
      depth_ = d + 1;  // close the groups below this one
      f.reps = again ? f.reps + 1 : 1;
      f.pos = i;
      f.used = true;
      if (item.group == nullptr) {
        f.group->children.push_back(GroupNode{nullptr, seg_index, true});
        return true;
      }
      if (m_.groups_used_ >= m_.groups_.size() || depth_ >= kMaxFrames) {
        exhausted_ = m_.groups_used_ >= m_.groups_.size();
        if (!exhausted_) f.group->children.push_back(GroupNode{nullptr, seg_index, false});
        return true;
      }
      Group& g = m_.groups_[m_.groups_used_++];
      g.def = item.group;
      g.name = item.group->name;
      g.parent = f.group;
      g.index = f.reps;
      g.children.clear();
      f.group->children.push_back(GroupNode{&g, -1, true});
      stack_[depth_++] = Frame{&g, item.group, 0, false, 0};
      d = depth_ - 1;
    }
  }

  Message& m_;
  const GroupDef* root_def_;
  std::string_view structure_name_;
  std::array<Frame, kMaxFrames> stack_{};
  int depth_ = 0;
  bool exhausted_ = false;
};

Hl7v2Parser::Hl7v2Parser(const StructureRegistry& structures, ParserPolicy policy)
    : structures_(structures), policy_(policy) {}

Status Hl7v2Parser::parse(std::string_view text, Message& out) const {
  out.clear();
  if (text.size() > policy_.max_message_bytes || text.size() >= std::numeric_limits<std::uint32_t>::max()) {
    return parse_error("HL7_TOO_LARGE", "", "message of " + std::to_string(text.size()) + " bytes exceeds the limit of " +
                                                 std::to_string(policy_.max_message_bytes));
  }
  if (text.size() >= 3 && std::memcmp(text.data(), "\xEF\xBB\xBF", 3) == 0) text.remove_prefix(3);
  while (!text.empty() && (text.front() == '\r' || text.front() == '\n' || text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  out.text_ = text;
  if (text.size() < 3 || std::memcmp(text.data(), "MSH", 3) != 0) {
    return parse_error("HL7_NO_MSH", "segment 1", "message does not start with an MSH segment");
  }
  if (text.size() < 5 || text[4] == '\r' || text[4] == '\n') {
    return parse_error("HL7_TRUNCATED", "MSH-2", "message ends before the encoding characters");
  }

  // --- Delimiters (MSH-1, MSH-2) ---------------------------------------
  Delimiters& d = out.delims_;
  d.field = text[3];
  if (!valid_delimiter(static_cast<unsigned char>(d.field))) {
    return parse_error("HL7_BAD_DELIMITERS", "MSH-1", "field separator is not a visible punctuation character");
  }
  std::size_t enc_end = 4;
  while (enc_end < text.size() && enc_end < 16 && text[enc_end] != d.field && text[enc_end] != '\r' &&
         text[enc_end] != '\n') {
    ++enc_end;
  }
  const std::string_view enc = text.substr(4, enc_end - 4);
  char distinct[6] = {};
  std::size_t n_distinct = 0;
  bool repeated = false;
  for (char c : enc) {
    if (!valid_delimiter(static_cast<unsigned char>(c)) || c == d.field) {
      return parse_error("HL7_BAD_DELIMITERS", "MSH-2",
                         "encoding characters must be visible punctuation, distinct from the field separator");
    }
    if (std::find(distinct, distinct + n_distinct, c) != distinct + n_distinct) {
      repeated = true;
      continue;
    }
    if (n_distinct == 5) {
      return parse_error("HL7_BAD_DELIMITERS", "MSH-2", "more than 5 encoding characters");
    }
    distinct[n_distinct++] = c;
  }
  if (enc_end < text.size() && text[enc_end] != d.field && text[enc_end] != '\r' && text[enc_end] != '\n') {
    return parse_error("HL7_BAD_DELIMITERS", "MSH-2", "encoding characters not followed by the field separator");
  }
  if (n_distinct == 0) return parse_error("HL7_BAD_DELIMITERS", "MSH-2", "no encoding characters");
  d.component = distinct[0];
  d.repetition = distinct[1];
  d.escape = distinct[2];
  d.subcomponent = distinct[3];
  d.truncation = distinct[4];
  if (repeated) {
    add_issue(out.issues_, Severity::kWarning, "HL7_ENCODING_CHARS_IRREGULAR", "MSH-2",
              "encoding characters contain repeats (e.g. a doubled escape character); the first distinct ones are used");
  }
  if (n_distinct < 4) {
    add_issue(out.issues_, Severity::kWarning, "HL7_ENCODING_CHARS_MISSING", "MSH-2",
              "fewer than 4 encoding characters; the missing delimiters are treated as absent");
  }

  // --- Segments and field spans, one pass ---------------------------------
  {
    SegmentScanner scanner(out.segments_, out.issues_, policy_);
    if (Status st = scanner.scan(text, out.field_spans_, out.field_span_count_); !st.ok()) return st;
  }

  // --- Header values (MSH-9, MSH-10, MSH-12) ------------------------------
  const Segment& msh = out.segments_.front();
  if (msh.field_count < 9) {
    return parse_error("HL7_TRUNCATED", "MSH-9", "MSH ends before the message type (MSH-9)");
  }
  const std::string_view msh9 = out.field(msh, 9);
  out.message_type_ = nth_part(msh9, d.component, 1);
  out.trigger_event_ = nth_part(msh9, d.component, 2);
  const std::string_view msh9_3 = nth_part(msh9, d.component, 3);
  out.control_id_ = out.field(msh, 10);
  out.version_ = nth_part(out.field(msh, 12), d.component, 1);
  if (out.message_type_.empty()) {
    add_issue(out.issues_, Severity::kWarning, "HL7_MESSAGE_TYPE_MISSING", "MSH-9", "MSH-9 has no message type");
  }

  // --- Group tree ---------------------------------------------------------
  const std::string resolved = structures_.resolve(out.message_type_, out.trigger_event_, msh9_3);
  const GroupDef* def = resolved.empty() ? nullptr : structures_.find(resolved);
  out.structure_id_ = def ? std::string_view(def->name) : msh9_3;
  if (def == nullptr) {
    add_issue(out.issues_, Severity::kInfo, "HL7_STRUCTURE_UNKNOWN", "MSH-9",
              "no message structure defined for " + std::string(out.message_type_.substr(0, 8)) + "^" +
                  std::string(out.trigger_event_.substr(0, 8)) + "; segments kept flat in the root group");
  }
  // Group pointers point into groups_, so the pool is sized before matching
  // and never grows during one run; if it turns out too small, grow it and
  // match again from scratch (rare: most messages have fewer groups than
  // segments).
  const std::size_t issues_before = out.issues_.size();
  std::size_t pool = std::max<std::size_t>(out.groups_.size(), out.segments_.size() / 2 + 8);
  for (;;) {
    if (out.groups_.size() < pool) out.groups_.resize(pool);
    StructureMatcher matcher(out, def, out.structure_id_.empty() ? std::string_view("unknown") : out.structure_id_);
    if (matcher.run()) break;
    out.issues_.resize(issues_before);
    for (std::size_t i = 0; i < out.groups_used_; ++i) out.groups_[i].children.clear();
    pool *= 2;
  }
  return ok_status();
}

// --- Message ---------------------------------------------------------------

void Message::clear() {
  text_ = {};
  delims_ = Delimiters{};
  segments_.clear();
  field_span_count_ = 0;
  if (groups_.empty()) groups_.resize(1);
  for (std::size_t i = 0; i < groups_used_ && i < groups_.size(); ++i) groups_[i].children.clear();
  groups_used_ = 1;
  Group& root = groups_.front();
  root.def = nullptr;
  root.name = {};
  root.parent = nullptr;
  root.index = 0;
  message_type_ = trigger_event_ = structure_id_ = control_id_ = version_ = {};
  issues_.clear();
}

const Segment* Message::find_segment(const Group& g, std::string_view name) const noexcept {
  for (const GroupNode& node : g.children) {
    const Segment* s = segment_of(node);
    if (s != nullptr && s->name == name) return s;
  }
  return nullptr;
}

std::string Message::path(const Group& g) const {
  if (g.parent == nullptr) return "/";
  std::string out;
  for (const Group* p = &g; p != nullptr && p->parent != nullptr; p = p->parent) {
    out.insert(0, "/" + std::string(p->name) + "(" + std::to_string(p->index) + ")");
  }
  return out;
}

}  // namespace dxnorm::hl7v2
