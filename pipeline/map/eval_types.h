// Values, scopes and the per-message evaluation context of the mapping engine.
//
// Contract: everything here lives for one message. Strings are views into the
// input buffer or into the context's Arena; both outlive the output document
// built from them (the document copies strings into its own pool).
// Hot path: an EvalContext is reused across messages by one worker thread, so
// its vectors and arena keep their capacity and steady state allocates nothing.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/core/issue.h"

#include "pipeline/core/source_tree.h"

namespace dxnorm::map {

// Bump allocator for strings built while mapping (unescaped text, dates,
// concatenations). reset() keeps the first block.
class Arena {
 public:
  std::string_view copy(std::string_view s);
  char* alloc(std::size_t n);
  void reset() noexcept;

 private:
  struct Block {
    std::unique_ptr<char[]> data;
    std::size_t size = 0, used = 0;
  };
  std::vector<Block> blocks_;
  std::size_t current_ = 0;
};

// A position in the source document: a group, optionally a leaf (segment) in
// it, and format coordinates inside the leaf. For HL7 v2: field / repetition
// / component / subcomponent, 0 meaning "whole" at that level. Formats that
// navigate a tree inside a leaf (DICOM JSON) use `node`.
struct Cursor {
  const SourceGroup* group = nullptr;
  std::int32_t segment = -1;
  const void* node = nullptr;
  std::uint16_t field = 0;
  std::uint16_t rep = 0;
  std::uint16_t comp = 0;
  std::uint16_t sub = 0;
};

struct Value {
  std::string_view text;   // the value as read (unescaped); empty = absent
  Cursor cursor;           // where it came from (for relative paths and traces)
  bool has_cursor = false;
  bool explicit_null = false;  // HL7 `""`
};

// Where in the message the evaluation stands ($each / resource `for`).
struct Scope {
  Cursor cursor;
  const Scope* parent = nullptr;
  std::uint32_t index = 0;  // 1-based position within the $each that made it
};

// Tracks which segments and fields any rule read, for the unmapped report.
class ReadTracker {
 public:
  void reset(std::size_t segments);
  void mark(std::int32_t segment, unsigned field) noexcept {
    if (segment < 0 || static_cast<std::size_t>(segment) >= seen_.size()) return;
    seen_[segment] |= field < 63 ? (std::uint64_t{1} << field) : (std::uint64_t{1} << 63);
  }
  // Bits of field_bit() (with bit 0 for the segment), at once.
  static constexpr std::uint64_t field_bit(unsigned field) noexcept {
    return field < 63 ? (std::uint64_t{1} << field) : (std::uint64_t{1} << 63);
  }
  void mark_bits(std::int32_t segment, std::uint64_t bits) noexcept {
    if (segment < 0 || static_cast<std::size_t>(segment) >= seen_.size()) return;
    seen_[segment] |= bits;
  }
  bool segment_read(std::size_t s) const noexcept { return seen_[s] != 0; }
  bool field_read(std::size_t s, unsigned field) const noexcept {
    return (seen_[s] & (field < 63 ? (std::uint64_t{1} << field) : (std::uint64_t{1} << 63))) != 0;
  }
  // Formats whose leaves hold more parts than 63 numbered fields (DICOM
  // datasets) mark parts by a document-wide ordinal instead.
  void mark_part(std::size_t ordinal) {
    if (ordinal >= parts_.size()) parts_.resize(ordinal + 1, 0);
    parts_[ordinal] = 1;
  }
  bool part_read(std::size_t ordinal) const noexcept { return ordinal < parts_.size() && parts_[ordinal]; }

 private:
  std::vector<std::uint64_t> seen_;  // bit 0: segment itself; bit f: field f
  std::vector<std::uint8_t> parts_;  // by ordinal (mark_part); capacity kept across messages
};

class MappingEngine;
class SourceFormat;

// Results of whole expressions already evaluated in this message, by
// (expression, cursor). Mappings read the same field in the same scope many
// times (a unit system tested for value, low and high...): this makes the
// repeats cost a lookup. Entries are invalidated by bumping `generation`
// per message; texts point into the input or the arena, both alive for the
// message.
struct MemoEntry {
  const void* expr = nullptr;
  Cursor cursor;
  std::uint32_t generation = 0;
  Value first;
};

// An expression's identity in the memo with the part of its slot hash that
// depends on it alone, computed once (EvalContext::memo_slot()).
struct MemoKey {
  const void* expr = nullptr;
  std::size_t mix = 0;  // expr * 0x9E3779B97F4A7C15
  std::size_t add = 0;  // 0x7f4a7c15 + (mix << 6) + (mix >> 2)
  static MemoKey of(const void* expr) noexcept {
    MemoKey k;
    k.expr = expr;
    k.mix = reinterpret_cast<std::uintptr_t>(expr) * 0x9E3779B97F4A7C15ull;
    k.add = 0x7f4a7c15u + (k.mix << 6) + (k.mix >> 2);
    return k;
  }
};

// Nearest-leaf lookups already done in this message: (scope group, leaf
// name code) -> leaf index, or -1 for "none". A path read outside its own
// group (OBR-22 or MSH-4 from each OBSERVATION) walks the tree once per
// group, not once per read. Invalidated by EvalContext::generation.
struct LeafLookup {
  const void* group = nullptr;
  std::uint32_t name = 0;
  std::uint32_t generation = 0;
  std::int32_t leaf = -1;
};

// Per-message state a source format keeps between reads (HL7 v2: split
// repetitions). Created by the format on first use, reused across messages.
struct FormatScratch {
  virtual ~FormatScratch() = default;
  const void* owner = nullptr;  // the format that made it
};

struct EvalContext {
  std::unique_ptr<FormatScratch> format_scratch;
  static constexpr std::size_t kLeafLookups = 256;
  std::vector<LeafLookup> leaf_lookups = std::vector<LeafLookup>(kLeafLookups);
  LeafLookup* leaf_lookup(const void* group, std::uint32_t name) noexcept {
    // The name's product in 64 bits: in 32, the slot depended on the name's
    // low byte only, and the names of one group's lookups (OBR, ORC, OBX)
    // share it, evicting each other.
    std::size_t h = reinterpret_cast<std::uintptr_t>(group) * 0x9E3779B97F4A7C15ull ^ std::size_t{name} * 0x85ebca6bu;
    return &leaf_lookups[(h ^ (h >> 31)) & (kLeafLookups - 1)];
  }

  // Small enough to stay in L1 with the rest of the hot data; direct mapped
  // (a collision evicts, it never returns a wrong value: the key is compared).
  static constexpr std::size_t kMemoSize = 256;
  std::vector<MemoEntry> memo = std::vector<MemoEntry>(kMemoSize);
  std::uint32_t generation = 1;
  // Hazard: which slot a key takes decides which entries evict each other,
  // and a hit does not repeat the warnings of its first evaluation: a
  // different hash or size changes the warnings a message gets.
  MemoEntry* memo_slot(const MemoKey& k, const Cursor& c) noexcept {
    std::size_t h = k.mix ^ (reinterpret_cast<std::uintptr_t>(c.group) + k.add);
    h ^= reinterpret_cast<std::uintptr_t>(c.node) * 0xc2b2ae35u;
    // The slot reads bits 0-7 and 29-36 of h only, and sums carry upward:
    // the component and subcomponent (once added at bits 40 and 52) could
    // not move it, so they are left out (same() still compares them).
    h ^= static_cast<std::size_t>(c.segment) * 0x85ebca6bu + (static_cast<std::size_t>(c.field) << 16) +
         (static_cast<std::size_t>(c.rep) << 24);
    return &memo[(h ^ (h >> 29)) & (kMemoSize - 1)];
  }
  static bool same(const Cursor& a, const Cursor& b) noexcept {
    return a.group == b.group && a.segment == b.segment && a.node == b.node && a.field == b.field &&
           a.rep == b.rep && a.comp == b.comp && a.sub == b.sub;
  }

  // Date conversions done in this message, by (target, source text): a lab
  // message repeats one timestamp in every OBX (OBX-14, OBR-22 for each
  // result). Successes only: a failure is converted (and warned) each time.
  // Texts live in the input or the arena, both alive for the message.
  struct DateMemo {
    std::uint32_t generation = 0;
    int target = -1;
    std::string_view in, out;
  };
  static constexpr std::size_t kDateMemos = 32;
  std::vector<DateMemo> dates = std::vector<DateMemo>(kDateMemos);
  DateMemo* date_memo(int target, std::string_view in) noexcept {
    std::uint64_t head = 0, tail = 0;
    if (in.size() >= 8) {  // timestamps: fixed-size loads, no memcpy call
      std::memcpy(&head, in.data(), 8);
      std::memcpy(&tail, in.data() + in.size() - 8, 8);
    } else {
      std::memcpy(&head, in.data(), in.size());
      std::memcpy(&tail, in.data(), in.size());
    }
    std::uint64_t h = (head * 0x9E3779B97F4A7C15ull) ^ (tail * 0xC2B2AE3D27D4EB4Full) ^ (in.size() << 3) ^ static_cast<std::uint64_t>(target);
    return &dates[(h ^ (h >> 29)) & (kDateMemos - 1)];
  }

  const SourceDocument* doc = nullptr;
  const SourceFormat* format = nullptr;
  Arena arena;
  std::vector<Value> stack;  // expression results (see Expr::eval)
  std::string scratch;
  Issues* issues = nullptr;
  ReadTracker reads;
  std::string location;      // scratch for building locations
  std::string convert;       // scratch for conversions

  // A rule that must stop the message (code table with `unmapped: error`,
  // a required value missing...). The first failure wins; the engine turns it
  // into an Error (stage map, dead letter).
  bool failed = false;
  std::string fail_code, fail_location, fail_message;
  void fail(std::string code, std::string location, std::string message) {
    if (failed) return;
    failed = true;
    fail_code = std::move(code);
    fail_location = std::move(location);
    fail_message = std::move(message);
  }
  void warn(std::string code, std::string location, std::string message) {
    if (issues) issues->push_back(Issue{Severity::kWarning, std::move(code), std::move(location), std::move(message)});
  }
};

}  // namespace dxnorm::map
