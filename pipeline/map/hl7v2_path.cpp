#include "pipeline/map/hl7v2_path.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <functional>
#include <memory>
#include <span>

#include "pipeline/map/group_tree.h"
#include "pipeline/parse/hl7v2/hl7v2_message.h"
#include "pipeline/parse/hl7v2/hl7v2_value.h"
#include "pipeline/parse/hl7v2/message_structure.h"

namespace dxnorm::map {

using hl7v2::Group;
using hl7v2::GroupNode;
using hl7v2::Message;

bool is_segment_name(std::string_view n) noexcept {
  if (n.size() != 3) return false;
  if (n[0] < 'A' || n[0] > 'Z') return false;
  for (int i = 1; i < 3; ++i)
    if (!((n[i] >= 'A' && n[i] <= 'Z') || (n[i] >= '0' && n[i] <= '9'))) return false;
  return true;
}

namespace {

bool is_group_name(std::string_view n) noexcept {
  if (n.empty() || is_segment_name(n)) return false;
  for (char c : n)
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return n[0] >= 'A' && n[0] <= 'Z';
}

struct Lexer {
  std::string_view s;
  std::size_t i = 0;
  bool eof() const { return i >= s.size(); }
  char peek() const { return eof() ? '\0' : s[i]; }
  bool number(int& out) {
    std::size_t start = i;
    while (!eof() && s[i] >= '0' && s[i] <= '9') ++i;
    if (start == i || i - start > 4) return false;
    std::from_chars(s.data() + start, s.data() + i, out);
    return out > 0;
  }
  // "(n)" or "(*)"; returns false on malformed.
  bool index(int& n, bool& all) {
    if (peek() != '(') return true;
    ++i;
    if (peek() == '*') {
      all = true;
      ++i;
    } else if (!number(n)) {
      return false;
    }
    if (peek() != ')') return false;
    ++i;
    return true;
  }
};

}  // namespace

static bool parse_path_text(std::string_view text, Hl7Path& out, std::string& error);

bool parse_hl7_path(std::string_view text, Hl7Path& out, std::string& error) {
  if (!parse_path_text(text, out, error)) return false;
  out.finish_compile();
  return true;
}

void Hl7Path::finish_compile() noexcept {
  shape = Shape::kGeneral;
  if (relative) {
    if (!rel.empty() && rel.size() <= 2 && rel[0] <= 0xffff && (rel.size() < 2 || rel[1] <= 0xffff)) {
      shape = Shape::kRelative;
      rel1 = static_cast<std::uint16_t>(rel[0]);
      rel2 = static_cast<std::uint16_t>(rel.size() > 1 ? rel[1] : 0);
    }
    return;
  }
  // The conditions of read_general's direct branch, less what it decides at
  // run time: a whole segment (field 0) and MSH-1/2 (no parts) stay general.
  if (segment.size() == 3 && groups.empty() && !seg_all && seg_occurrence == 0 && !rep_all && field > 0 &&
      field <= 0xffff && rep <= 0xffff && comp <= 0xffff && sub <= 0xffff && !(segment == "MSH" && field <= 2)) {
    shape = Shape::kNearest;
    at_field = static_cast<std::uint16_t>(field);
    at_rep = static_cast<std::uint16_t>(rep > 0 ? rep : 1);
    at_comp = static_cast<std::uint16_t>(comp);
    at_sub = static_cast<std::uint16_t>(comp ? sub : 0);
    read_bits = ReadTracker::field_bit(0) | ReadTracker::field_bit(static_cast<unsigned>(field));
  }
}

static bool parse_path_text(std::string_view text, Hl7Path& out, std::string& error) {
  out = Hl7Path{};
  out.text = std::string(text);
  out.multi = false;
  Lexer lx{text};
  if (text.empty()) {
    error = "empty path";
    return false;
  }
  if (text[0] == '.') {
    out.relative = true;
    if (text.size() == 1) return true;
    while (!lx.eof()) {
      if (lx.peek() != '.') {
        error = "expected '.' followed by a component number in relative path";
        return false;
      }
      ++lx.i;
      int n = 0;
      if (!lx.number(n)) {
        error = "expected a component number (1-9999) after '.'";
        return false;
      }
      out.rel.push_back(n);
    }
    if (out.rel.size() > 2) {
      error = "a relative path has at most two levels (.component.subcomponent)";
      return false;
    }
    return true;
  }
  // Dotted names: groups..., then maybe a segment.
  while (true) {
    std::size_t start = lx.i;
    while (!lx.eof() && (std::isupper(static_cast<unsigned char>(lx.peek())) ||
                         std::isdigit(static_cast<unsigned char>(lx.peek())) || lx.peek() == '_'))
      ++lx.i;
    std::string_view name = text.substr(start, lx.i - start);
    if (name.empty()) {
      error = "expected a segment (PID) or group (ORDER_OBSERVATION) name";
      return false;
    }
    if (is_segment_name(name)) {
      out.segment = std::string(name);
      out.segment_code = hl7v2::segment_key(name);
      break;
    }
    if (!is_group_name(name)) {
      error = "'" + std::string(name) + "' is neither a segment id nor a group name";
      return false;
    }
    out.groups.emplace_back(name);
    if (lx.eof()) return true;
    if (lx.peek() != '.') {
      error = "expected '.' after group name " + std::string(name);
      return false;
    }
    ++lx.i;
  }
  if (!lx.index(out.seg_occurrence, out.seg_all)) {
    error = "malformed segment occurrence: write SEG(2) or SEG(*)";
    return false;
  }
  if (lx.eof()) return true;
  if (lx.peek() != '-') {
    error = "expected '-' and a field number after segment " + out.segment;
    return false;
  }
  ++lx.i;
  if (!lx.number(out.field)) {
    error = "expected a field number (1-9999) after '-'";
    return false;
  }
  if (!lx.index(out.rep, out.rep_all)) {
    error = "malformed repetition: write FIELD(2) or FIELD(*)";
    return false;
  }
  if (lx.peek() == '.') {
    ++lx.i;
    if (!lx.number(out.comp)) {
      error = "expected a component number after '.'";
      return false;
    }
    if (lx.peek() == '.') {
      ++lx.i;
      if (!lx.number(out.sub)) {
        error = "expected a subcomponent number after '.'";
        return false;
      }
    }
  }
  if (!lx.eof()) {
    error = "unexpected '" + std::string(text.substr(lx.i)) + "' at end of path";
    return false;
  }
  if (out.segment == "MSH" && out.field <= 2 && (out.comp || out.rep)) {
    error = "MSH-1 and MSH-2 are the delimiters and have no components";
    return false;
  }
  return true;
}

static bool def_has(const hl7v2::GroupDef& g, std::string_view seg, std::string_view group, int depth) {
  if (depth > 32) return false;
  for (const auto& item : g.items) {
    if (!seg.empty() && item.segment == seg) return true;
    if (item.group) {
      if (!group.empty() && item.group->name == group) return true;
      if (def_has(*item.group, seg, group, depth + 1)) return true;
    }
  }
  return false;
}

bool structure_has_segment(const hl7v2::GroupDef& root, std::string_view segment) {
  return def_has(root, segment, {}, 0);
}
bool structure_has_group(const hl7v2::GroupDef& root, std::string_view group) {
  return root.name == group || def_has(root, {}, group, 0);
}

namespace {

const Message& msg(const EvalContext& ctx) { return static_cast<const Message&>(*ctx.doc); }

// hl7v2::segment_key() of segment s's name, as the parser stored it.
std::uint32_t seg_key(const EvalContext& ctx, std::int32_t s) {
  return msg(ctx).segments()[static_cast<std::size_t>(s)].key;
}
using hl7v2::kMshKey;

// The text before the first of up to three separators (the first repetition,
// component and subcomponent at once); one pass over a short field.
inline std::string_view cut_at_any(std::string_view s, const char* limit, char a, char b, char c) noexcept {
  return s.substr(0, static_cast<std::size_t>(hl7v2::find_any_of(s.data(), s.data() + s.size(), limit, a, b, c) - s.data()));
}

// How far a scan of `v` may read: the end of the message text when `v` is a
// view of it (block reads past v's end stay inside the buffer), else v's end.
inline const char* scan_limit(const EvalContext& ctx, std::string_view v) noexcept {
  const std::string_view t = msg(ctx).text();
  const auto in = [&](const char* p) { return std::less_equal<>{}(t.data(), p) && std::less_equal<>{}(p, t.data() + t.size()); };
  return in(v.data()) && in(v.data() + v.size()) ? t.data() + t.size() : v.data() + v.size();
}

// Segments named `name` below `g` in message order (fn(index) returns false
// to stop), leaving out `skip` and its same-named siblings: other instances
// (another order, another observation) are never "nearer".
// `key`: hl7v2::segment_key() of the name (paths name 3-character ids).
template <class Fn>
bool for_each_segment_in(const EvalContext& ctx, const Group& g, std::uint32_t key, Fn&& fn,
                         const Group* skip = nullptr) {
  return for_each_leaf(
      g, [&](const SourceGroup&, std::int32_t s) { return seg_key(ctx, s) != key || fn(s); }, skip,
      /*skip_same_kind=*/true);
}

// Direct children of `g` named `name` (groups or segments); `key`:
// hl7v2::segment_key(name) (paths name segments by 3-character ids).
template <class Fn>
void for_each_child(const EvalContext& ctx, const Group& g, std::string_view name, std::uint32_t key, Fn&& fn) {
  for (const GroupNode& n : g.children) {
    if (n.group) {
      if (n.group->name == name) fn(Cursor{n.group, -1});
    } else if (n.segment >= 0 && seg_key(ctx, n.segment) == key) {
      fn(Cursor{&g, n.segment});
    }
  }
}

// In a LeafLookup name: the entry is nearest_outside()'s, not
// nearest_segment_in_tree()'s (segment codes use the low 24 bits).
constexpr std::uint32_t kOutward = std::uint32_t{1} << 31;

// The walk of nearest_segment_in_tree() past group g's own subtree: each
// ancestor's subtree, without g's kind (other instances are never nearer).
// That is the same for every sibling of g's kind (the OBR of an order for
// each of its OBSERVATIONs), so it is cached once, under the first of them.
std::int32_t nearest_outside(const Hl7Path& p, const Group& g, EvalContext& ctx) {
  if (!g.parent) return -1;
  const Group* first = &g;
  for (const GroupNode& n : g.parent->children)
    if (n.group && same_group_name(n.group->name, g.name)) {
      first = n.group;
      break;
    }
  const std::uint32_t key = p.segment_code | kOutward;
  LeafLookup* memo = ctx.leaf_lookup(first, key);
  if (memo->generation == ctx.generation && memo->group == first && memo->name == key) return memo->leaf;
  std::int32_t found = -1;
  const Group* from = &g;
  for (const Group* a = g.parent; a; from = a, a = a->parent) {
    for_each_segment_in(
        ctx, *a, p.segment_code,
        [&](std::int32_t s) {
          found = s;
          return false;
        },
        from);
    if (found >= 0) break;
  }
  memo->group = first;
  memo->name = key;
  memo->generation = ctx.generation;
  memo->leaf = found;
  return found;
}

// nearest_segment() past its first test: the scope group's subtree, then
// each ancestor's, cached per (group, name) for the message: reads of OBR or
// MSH from every OBSERVATION look once per OBSERVATION, and walk past its
// own subtree once for all of them (nearest_outside()).
[[gnu::noinline]] std::int32_t nearest_segment_in_tree(const Hl7Path& p, const Scope& scope, EvalContext& ctx) {
  const Group* g = scope_group(scope, ctx);
  LeafLookup* memo = ctx.leaf_lookup(g, p.segment_code);
  if (memo->generation == ctx.generation && memo->group == g && memo->name == p.segment_code) return memo->leaf;
  std::int32_t found = -1;
  for_each_segment_in(ctx, *g, p.segment_code, [&](std::int32_t s) {
    found = s;
    return false;
  });
  if (found < 0) found = nearest_outside(p, *g, ctx);
  memo->group = g;
  memo->name = p.segment_code;
  memo->generation = ctx.generation;
  memo->leaf = found;
  return found;
}

// nearest_segment() when it needs no walk: the scope's current segment, or
// the scope group's first child. kWalkTree otherwise.
constexpr std::int32_t kWalkTree = -2;
[[gnu::always_inline]] inline std::int32_t nearest_segment_at_hand(const Hl7Path& p, const Scope& scope,
                                                                   const EvalContext& ctx) {
  if (scope.cursor.segment >= 0 && seg_key(ctx, scope.cursor.segment) == p.segment_code)
    return scope.cursor.segment;
  // The first leaf of the scope group's subtree in document order is its
  // first child when that is a segment: an OBX read in its OBSERVATION, an
  // ORC in its order. The same answer as the walk, without the cache's hashing.
  const Group* g = scope_group(scope, ctx);
  if (!g->children.empty()) {
    const GroupNode& n0 = g->children.front();
    if (!n0.group && n0.segment >= 0 && seg_key(ctx, n0.segment) == p.segment_code) return n0.segment;
  }
  return kWalkTree;
}

// The nearest segment named p.segment for a path without groups (the scope's
// current segment, else its group's subtree, then each ancestor's), or -1.
[[gnu::always_inline]] inline std::int32_t nearest_segment(const Hl7Path& p, const Scope& scope, EvalContext& ctx) {
  const std::int32_t s = nearest_segment_at_hand(p, scope, ctx);
  return s != kWalkTree ? s : nearest_segment_in_tree(p, scope, ctx);
}

// Segments a read-path denotes, in message order.
void resolve_segments(const Hl7Path& p, const Scope& scope, EvalContext& ctx, bool all,
                      std::vector<std::int32_t>& out) {
  const Group* g = scope_group(scope, ctx);
  bool want_all = all || p.seg_all || p.seg_occurrence > 0;
  if (p.groups.empty() && !want_all) {
    if (std::int32_t s = nearest_segment(p, scope, ctx); s >= 0) out.push_back(s);
    return;
  }
  if (p.groups.empty() && !p.seg_all && p.seg_occurrence == 0 && scope.cursor.segment >= 0 &&
      seg_key(ctx, scope.cursor.segment) == p.segment_code) {
    out.push_back(scope.cursor.segment);
    return;
  }
  if (p.groups.empty()) {
    // Nearest: the scope group's subtree, then each ancestor's (without
    // searching the subtree we came from again).
    const Group* from = nullptr;
    for (const Group* a = g; a; from = a, a = a->parent) {
      for_each_segment_in(
          ctx, *a, p.segment_code,
          [&](std::int32_t s) {
            out.push_back(s);
            return want_all;
          },
          from);
      if (!out.empty()) break;
    }
  } else {
    thread_local std::vector<const Group*> roots;  // not re-entered: no eval inside
    for (const Group* a = g; a; a = a->parent) {
      roots.clear();
      match_groups(*a, p.groups, 0, roots);
      for (const Group* r : roots) {
        for_each_segment_in(ctx, *r, p.segment_code, [&](std::int32_t s) {
          out.push_back(s);
          return want_all;
        });
        if (!out.empty() && !want_all) break;
      }
      if (!out.empty()) break;
    }
  }
  if (p.seg_occurrence > 0) {
    if (static_cast<std::size_t>(p.seg_occurrence) <= out.size()) {
      std::int32_t s = out[static_cast<std::size_t>(p.seg_occurrence) - 1];
      out.clear();
      out.push_back(s);
    } else {
      out.clear();
    }
  }
}

// The value of leaf text at c: `""` is an explicit null; escapes are
// resolved when `may_escape` (false: the caller knows there is none, or the
// text is MSH-1/2); trailing spaces are padding in fixed-width feeds, leading
// ones are kept. Fields written one by one: `v = Value{}` goes through a stack
// temporary whose partial stores stall the copy (store forwarding).
[[gnu::always_inline]] inline void leaf_value(EvalContext& ctx, const Cursor& c, std::string_view leaf, bool may_escape,
                                              Value& v) {
  v.cursor = c;
  v.has_cursor = true;
  if (hl7v2::is_explicit_null(leaf)) {
    v.text = {};
    v.explicit_null = true;
    return;
  }
  v.explicit_null = false;
  if (may_escape) {
    const auto& d = msg(ctx).delimiters();
    if (leaf.find(d.escape) != std::string_view::npos) {
      std::string_view u = hl7v2::unescape(leaf, d, ctx.scratch);
      leaf = (u.data() == leaf.data()) ? u : ctx.arena.copy(u);
    }
  }
  while (!leaf.empty() && leaf.back() == ' ') leaf.remove_suffix(1);
  v.text = leaf;
}

// The text of a value at a cursor: first leaf, unescaped (into `v`).
void make_value(EvalContext& ctx, const Cursor& c, std::string_view raw, Value& v) {
  if (c.field <= 2 && c.segment >= 0 && seg_key(ctx, c.segment) == kMshKey) {
    leaf_value(ctx, c, raw, false, v);  // the delimiters themselves
    return;
  }
  // First leaf: descend to the first repetition / component / subcomponent not chosen.
  std::string_view leaf = raw;
  if (c.field != 0) {
    const auto& d = msg(ctx).delimiters();
    const char* limit = scan_limit(ctx, leaf);
    if (c.rep == 0 && c.comp == 0 && c.sub == 0) leaf = cut_at_any(leaf, limit, d.repetition, d.component, d.subcomponent);
    else if (c.comp == 0 && c.sub == 0) leaf = cut_at_any(leaf, limit, d.component, d.subcomponent, d.subcomponent);
    else if (c.sub == 0) leaf = cut_at_any(leaf, limit, d.subcomponent, d.subcomponent, d.subcomponent);
  }
  leaf_value(ctx, c, leaf, true, v);
}

// Repetitions already split in this message: a mapping reads several
// components of one repetition (OBX-6.1, .2, .3; a CWE's twenty), and each
// read would otherwise scan the field again. Repetition 1, which nearly every
// read takes, is kept by the field's index in Message::field_spans(), without
// hashing; other repetitions in a direct-mapped table. Entries are stamped with
// EvalContext::generation: a new message invalidates them without a sweep.
struct PartCache final : FormatScratch {
  struct FirstRep {
    std::uint32_t generation = 0;
    hl7v2::RepParts parts;
  };
  // Repetition 1 of field span i at first_rep[i], i < first_rep_size; grown
  // to the message's span count (at most kMaxFirstRep) by the first read that
  // finds it short. Spans past the cap go to the hashed table like other
  // repetitions: a message of millions of empty fields must not make this
  // hold ~100 bytes for each. (Not a vector: its size() is a division by
  // sizeof(FirstRep) on every read.)
  static constexpr std::size_t kMaxFirstRep = 4096;
  std::unique_ptr<FirstRep[]> first_rep;
  std::size_t first_rep_size = 0;

  static constexpr std::size_t kOtherReps = 256;  // the index is the top 8 bits of a hash
  struct OtherRep {
    std::uint32_t generation = 0;
    std::uint64_t key = ~std::uint64_t{0};  // (span, repetition) packed: one compare per probe
    hl7v2::RepParts parts;
  };
  std::vector<OtherRep> other_reps = std::vector<OtherRep>(kOtherReps);
};

// PartCache's FormatScratch::owner.
constexpr char kPartCacheOwner = 0;

// ctx's PartCache, made on first use (or when another format's scratch is there).
[[gnu::noinline]] void make_part_cache(EvalContext& ctx) {
  ctx.format_scratch = std::make_unique<PartCache>();
  ctx.format_scratch->owner = &kPartCacheOwner;
}
inline PartCache& part_cache(EvalContext& ctx) {
  if (!ctx.format_scratch || ctx.format_scratch->owner != &kPartCacheOwner) make_part_cache(ctx);
  return static_cast<PartCache&>(*ctx.format_scratch);
}

// part_value() for what the table does not answer, or a repetition with an
// escape character.
// (c by value, as split_value's.)
[[gnu::noinline]] bool part_value_scanned(EvalContext& ctx, Cursor c, const hl7v2::RepParts& rp, Value& v) {
  std::string_view leaf;
  if (!rp.part_and_leaf(c.comp, c.sub, leaf)) return false;
  leaf_value(ctx, c, leaf, rp.escape, v);
  return true;
}

// The value of part (c.comp, c.sub) of a split repetition, as make_value()
// makes it from raw_at(c); false when that part is empty (v untouched then).
// Hazard: the common case makes no call (see read_first()); keep calls out
// of it.
[[gnu::always_inline]] inline bool part_value(EvalContext& ctx, const Cursor& c, const hl7v2::RepParts& rp, Value& v) {
  std::string_view leaf;
  const hl7v2::RepParts::Table t = rp.table_leaf(c.comp, c.sub, leaf);
  if (t == hl7v2::RepParts::Table::kEmpty) return false;
  if (t == hl7v2::RepParts::Table::kScan || rp.escape) return part_value_scanned(ctx, c, rp, v);
  leaf_value(ctx, c, leaf, false, v);
  return true;
}

// cached_value() when the cache does not hold the repetition yet: split it
// (field span `span` of c's segment) and remember it.
// c by value: a reference would keep the callers' cursor in memory, where
// it is written field by field and read back whole by leaf_value() (a
// store-forwarding stall on every read); by value it stays in registers.
[[gnu::noinline]] bool split_value(EvalContext& ctx, Cursor c, std::size_t span, Value& v) {
  const Message& m = msg(ctx);
  if (span >= m.field_spans().size()) return false;  // as Message::field()
  PartCache& cache = part_cache(ctx);
  const auto [begin, end] = m.field_spans()[span];
  const std::string_view raw(m.text().data() + begin, end - begin);  // the parser's spans lie in the text
  hl7v2::RepParts* parts;
  if (c.rep == 1 && span < PartCache::kMaxFirstRep) {
    if (span >= cache.first_rep_size) {
      // (Entries of this message already split are dropped: split again.)
      cache.first_rep_size = std::min(m.field_spans().size(), PartCache::kMaxFirstRep);
      cache.first_rep = std::make_unique<PartCache::FirstRep[]>(cache.first_rep_size);
    }
    PartCache::FirstRep& e = cache.first_rep[span];
    e.generation = ctx.generation;
    parts = &e.parts;
  } else {
    const std::uint64_t key = span | std::uint64_t{c.rep} << 32;
    // The top bits of a multiplicative hash of the packed key (the low bits
    // of such a product depend on the low bits of the key only).
    PartCache::OtherRep& e = cache.other_reps[(key * 0x9E3779B97F4A7C15ull) >> 56];
    if (e.key == key && e.generation == ctx.generation) return part_value(ctx, c, e.parts, v);
    e.key = key;
    e.generation = ctx.generation;
    parts = &e.parts;
  }
  hl7v2::split_repetition(raw, m.delimiters(), c.rep, m.text().data() + m.text().size(), *parts);
  return part_value(ctx, c, *parts, v);
}

// make_value(raw_at(c)) through the part cache, for a cursor at a
// repetition, component or subcomponent of a field (not MSH-1/2; c.rep >= 1);
// false when that part is empty (nothing written to v then).
[[gnu::always_inline]] inline bool cached_value(EvalContext& ctx, const Cursor& c, Value& v) {
  const auto& seg = msg(ctx).segments()[static_cast<std::size_t>(c.segment)];
  if (c.field > seg.field_count) return false;  // absent: Message::field() is empty
  const std::size_t span = seg.first_field + c.field - 1u;
  const FormatScratch* scratch = ctx.format_scratch.get();
  if (c.rep == 1 && scratch && scratch->owner == &kPartCacheOwner) {
    const auto& cache = static_cast<const PartCache&>(*scratch);
    if (span < cache.first_rep_size && cache.first_rep[span].generation == ctx.generation)
      return part_value(ctx, c, cache.first_rep[span].parts, v);
  }
  return split_value(ctx, c, span, v);
}

void push_value(EvalContext& ctx, const Cursor& c, std::string_view raw) {
  ctx.stack.emplace_back();
  make_value(ctx, c, raw, ctx.stack.back());
}

std::string_view raw_at(const EvalContext& ctx, const Cursor& c) {
  const Message& m = msg(ctx);
  if (c.segment < 0) return {};
  const auto& seg = m.segments()[static_cast<std::size_t>(c.segment)];
  if (c.field == 0) return seg.raw;
  std::string_view raw = m.field(seg, c.field);
  if (c.field <= 2 && seg.key == kMshKey) return raw;
  const auto& d = m.delimiters();
  if (c.comp == 0) {  // a subcomponent straight below a field or repetition: rare, spelt out
    if (c.rep) raw = hl7v2::repetition(raw, d, c.rep);
    if (c.sub) raw = hl7v2::subcomponent(raw, d, c.sub);
    return raw;
  }
  return hl7v2::part_at(raw, d, c.rep ? c.rep : 1, c.comp, c.sub, scan_limit(ctx, raw));
}

// The value path p reads in segment s when one value is wanted (the first
// repetition unless p names one); false when there is none.
[[gnu::always_inline]] inline bool field_value(const Hl7Path& p, std::int32_t s, EvalContext& ctx, Value& out) {
  const Message& m = msg(ctx);
  const auto& seg = m.segments()[static_cast<std::size_t>(s)];
  ctx.reads.mark(s, 0);
  if (p.field == 0) {
    out.text = seg.raw;
    out.cursor = Cursor{nullptr, s};
    out.has_cursor = true;
    out.explicit_null = false;
    return true;
  }
  ctx.reads.mark(s, static_cast<unsigned>(p.field));
  std::string_view raw = m.field(seg, p.field);
  if (raw.empty()) return false;
  Cursor c;
  c.segment = s;
  c.field = static_cast<std::uint16_t>(p.field);
  if (p.field <= 2 && seg.key == kMshKey) {
    make_value(ctx, c, raw, out);
    return true;
  }
  c.rep = static_cast<std::uint16_t>(p.rep > 0 ? p.rep : 1);
  c.comp = static_cast<std::uint16_t>(p.comp);
  c.sub = static_cast<std::uint16_t>(p.comp ? p.sub : 0);
  return cached_value(ctx, c, out);
}

// The repetitions of segment s's field that path p visits with every
// repetition wanted (p names no repetition; not field 0): fn(cursor, raw)
// for each non-empty one, at p's component / subcomponent when it names
// them; MSH-1/2 as one whole. Marks the segment and field read; returns how
// many fn saw. Shared by reads (values) and $each (cursors only).
template <class Fn>
std::size_t for_each_field_rep(const Hl7Path& p, std::int32_t s, EvalContext& ctx, Fn&& fn) {
  const Message& m = msg(ctx);
  const auto& seg = m.segments()[static_cast<std::size_t>(s)];
  ctx.reads.mark(s, 0);
  ctx.reads.mark(s, static_cast<unsigned>(p.field));
  std::string_view raw = m.field(seg, p.field);
  if (raw.empty()) return 0;
  const auto& d = m.delimiters();
  Cursor c;
  c.segment = s;
  c.field = static_cast<std::uint16_t>(p.field);
  if (p.field <= 2 && seg.key == kMshKey) {
    fn(c, raw);
    return 1;
  }
  auto one_rep = [&](std::uint16_t rep, std::string_view rep_raw) -> std::size_t {
    Cursor rc = c;
    rc.rep = rep;
    std::string_view r = rep_raw;
    if (p.comp) {
      rc.comp = static_cast<std::uint16_t>(p.comp);
      r = hl7v2::component(r, d, static_cast<std::size_t>(p.comp));
      if (p.sub) {
        rc.sub = static_cast<std::uint16_t>(p.sub);
        r = hl7v2::subcomponent(r, d, static_cast<std::size_t>(p.sub));
      }
    }
    if (r.empty()) return 0;
    fn(rc, r);
    return 1;
  };
  // Repetitions found by memchr (one separator; fields are short, and
  // find_any_of's setup costs more than memchr's), not byte by byte.
  std::size_t n = 0;
  std::uint16_t rep = 1;
  const char* const e = raw.data() + raw.size();
  for (const char* start = raw.data();;) {
    const void* hit = std::memchr(start, d.repetition, static_cast<std::size_t>(e - start));
    const char* q = hit ? static_cast<const char*>(hit) : e;
    n += one_rep(rep, std::string_view(start, static_cast<std::size_t>(q - start)));
    ++rep;
    if (q == e || rep == 0xffff) break;
    start = q + 1;
  }
  return n;
}

// Push the field-level values of one segment for path p.
std::size_t push_field_values(const Hl7Path& p, std::int32_t s, EvalContext& ctx, bool all_reps) {
  if (p.rep > 0 || !(all_reps || p.rep_all) || p.field == 0) {
    ctx.stack.emplace_back();
    if (field_value(p, s, ctx, ctx.stack.back())) return 1;
    ctx.stack.pop_back();
    return 0;
  }
  return for_each_field_rep(p, s, ctx, [&](const Cursor& c, std::string_view raw) { push_value(ctx, c, raw); });
}

// The cursor a relative path reaches from `base`; false below a subcomponent.
bool relative_cursor(const Hl7Path& p, Cursor& c) {
  for (int part : p.rel) {
    if (c.field == 0) return false;
    if (c.rep == 0) c.rep = 1;
    if (c.comp == 0) {
      c.comp = static_cast<std::uint16_t>(part);
    } else if (c.sub == 0) {
      c.sub = static_cast<std::uint16_t>(part);
    } else {
      return false;  // below subcomponent: nothing
    }
  }
  return true;
}

}  // namespace

std::size_t Hl7Path::eval(const Scope& scope, EvalContext& ctx, bool all) const {
  const Hl7Path& p = *this;
  if (p.relative) {
    ctx.stack.emplace_back();
    if (read_first(scope, ctx, ctx.stack.back())) return 1;
    ctx.stack.pop_back();
    return 0;
  }
  if (p.groups_only()) return 0;  // groups have no value
  thread_local std::vector<std::int32_t> segs;
  segs.clear();
  resolve_segments(p, scope, ctx, all, segs);
  std::size_t n = 0;
  for (std::int32_t s : segs) {
    n += push_field_values(p, s, ctx, all);
    if (n && !all) break;
  }
  return n;
}

namespace {

// read_first() of a Shape::kNearest path once its segment s is known.
[[gnu::always_inline]] inline bool read_nearest_in(const Hl7Path& p, std::int32_t s, EvalContext& ctx, Value& out) {
  ctx.reads.mark_bits(s, p.read_bits);
  Cursor c;
  c.segment = s;
  c.field = p.at_field;
  c.rep = p.at_rep;
  c.comp = p.at_comp;
  c.sub = p.at_sub;
  return cached_value(ctx, c, out);
}

// read_first() of a Shape::kNearest path whose segment needs the walk.
[[gnu::noinline]] bool read_nearest_in_tree(const Hl7Path& p, const Scope& scope, EvalContext& ctx, Value& out) {
  const std::int32_t s = nearest_segment_in_tree(p, scope, ctx);
  return s >= 0 && read_nearest_in(p, s, ctx, out);
}

}  // namespace

bool Hl7Path::read_first(const Scope& scope, EvalContext& ctx, Value& out) const {
  // The two common shapes, as read_general() reads them (same values, same
  // cursors, same read marks), with what compile() could decide decided.
  // Hazard: the common case (a hit in the part cache, a part the table
  // answers, no escape) makes no call; the rest is in noinline helpers.
  // Inlining one of them here brings the register saves and spills of its
  // calls back onto every read.
  if (shape == Shape::kNearest) {
    const std::int32_t s = nearest_segment_at_hand(*this, scope, ctx);
    if (s == kWalkTree) return read_nearest_in_tree(*this, scope, ctx, out);
    return read_nearest_in(*this, s, ctx, out);
  }
  if (shape == Shape::kRelative) {
    // Field by field, not as one copy, so that c stays in registers (see
    // split_value()).
    Cursor c;
    c.group = scope.cursor.group;
    c.segment = scope.cursor.segment;
    c.node = scope.cursor.node;
    c.field = scope.cursor.field;
    c.rep = scope.cursor.rep;
    c.comp = scope.cursor.comp;
    c.sub = scope.cursor.sub;
    if (c.segment < 0) return false;
    ctx.reads.mark(c.segment, c.field);
    // relative_cursor() for one or two levels.
    if (c.field == 0) return false;
    if (c.rep == 0) c.rep = 1;
    if (c.comp == 0) {
      c.comp = rel1;
      if (rel2) {
        if (c.sub != 0) return false;
        c.sub = rel2;
      }
    } else if (c.sub == 0 && !rel2) {
      c.sub = rel1;
    } else {
      return false;
    }
    if (c.field <= 2 && seg_key(ctx, c.segment) == kMshKey) return read_general(scope, ctx, out);
    return cached_value(ctx, c, out);
  }
  return read_general(scope, ctx, out);
}

bool Hl7Path::read_general(const Scope& scope, EvalContext& ctx, Value& out) const {
  const Hl7Path& p = *this;
  if (p.relative) {
    const Cursor& base = scope.cursor;
    if (base.segment < 0) return false;
    Cursor c = base;
    ctx.reads.mark(c.segment, c.field);
    if (p.rel.empty()) {
      make_value(ctx, c, raw_at(ctx, c), out);
      return true;
    }
    // Descend: from a repetition, .N is a component; from a component, a subcomponent.
    if (!relative_cursor(p, c)) return false;
    if (!(c.field <= 2 && seg_key(ctx, c.segment) == kMshKey)) return cached_value(ctx, c, out);
    std::string_view raw = raw_at(ctx, c);
    if (raw.empty()) return false;
    make_value(ctx, c, raw, out);
    return true;
  }
  if (p.groups_only()) return false;
  if (p.groups.empty() && !p.seg_all && p.seg_occurrence == 0 && !p.rep_all) {
    const std::int32_t s = nearest_segment(p, scope, ctx);
    return s >= 0 && field_value(p, s, ctx, out);
  }
  // Group-qualified or numbered segments: the generic resolution; its one
  // value (empty or not), as for the fast path above.
  const std::size_t base = ctx.stack.size();
  const std::size_t n = eval(scope, ctx, false);
  if (n) out = ctx.stack[base];
  ctx.stack.resize(base);
  return n > 0;
}

namespace {

// iterate() of a path naming a segment, in group x.
void iterate_in(const Hl7Path& p, const Group& x, EvalContext& ctx, std::vector<Cursor>& out) {
  std::uint32_t occ = 0;
  for_each_child(ctx, x, p.segment, p.segment_code, [&](Cursor c) {
    ++occ;
    if (p.seg_occurrence && occ != static_cast<std::uint32_t>(p.seg_occurrence)) return;
    ctx.reads.mark(c.segment, 0);
    if (p.field == 0) {
      out.push_back(c);
      return;
    }
    if (p.rep == 0) {
      // Only the cursors of what push_field_values() would push: no values made.
      for_each_field_rep(p, c.segment, ctx, [&](Cursor fc, std::string_view) {
        fc.group = &x;
        out.push_back(fc);
      });
      return;
    }
    std::size_t base = ctx.stack.size();
    std::size_t n = push_field_values(p, c.segment, ctx, true);
    for (std::size_t i = 0; i < n; ++i) {
      Cursor fc = ctx.stack[base + i].cursor;
      fc.group = &x;
      out.push_back(fc);
    }
    ctx.stack.resize(base);
  });
}

}  // namespace

void Hl7Path::iterate(const Scope& scope, EvalContext& ctx, std::vector<Cursor>& out) const {
  const Hl7Path& p = *this;
  const Group* g = scope_group(scope, ctx);
  if (p.relative) {
    // Iterate repetitions (or the value itself) of the current field.
    std::size_t base = ctx.stack.size();
    std::size_t n = p.eval(scope, ctx, true);
    for (std::size_t i = 0; i < n; ++i) {
      Cursor c = ctx.stack[base + i].cursor;
      c.group = g;
      out.push_back(c);
    }
    ctx.stack.resize(base);
    return;
  }
  // Group levels first: direct children at each level; from the scope
  // group, and if the first name is not a child there, outward (so that
  // `for: ORDER_OBSERVATION` works from inside a PATIENT_RESULT).
  if (p.groups.empty()) {
    if (p.segment.empty()) out.push_back(Cursor{g, -1});  // (the parser makes no such path)
    else iterate_in(p, *g, ctx, out);
    return;
  }
  bool matched = false;
  for (const Group* a = g; a && !matched; a = a->parent)
    for_each_group_match(*a, p.groups, 0, [&](const Group& x) {
      matched = true;
      if (p.segment.empty()) out.push_back(Cursor{&x, -1});
      else iterate_in(p, x, ctx, out);
    });
}

static void describe_cursor(const Cursor& c, const hl7v2::Message& m, std::string& out) {
  if (c.segment < 0) {
    out += c.group ? std::string(c.group->name) : std::string("message");
    if (c.group && c.group->index) {
      out += '(';
      out += std::to_string(c.group->index);
      out += ')';
    }
    return;
  }
  const auto& seg = m.segments()[static_cast<std::size_t>(c.segment)];
  out += seg.name;
  out += '(';
  out += std::to_string(seg.occurrence);
  out += ')';
  if (!c.field) return;
  out += '-';
  out += std::to_string(c.field);
  if (c.rep > 1) {
    out += '(';
    out += std::to_string(c.rep);
    out += ')';
  }
  if (c.comp) {
    out += '.';
    out += std::to_string(c.comp);
  }
  if (c.sub) {
    out += '.';
    out += std::to_string(c.sub);
  }
}

namespace {

// Fields that carry no clinical content of their own, left out of the
// unmapped report: the delimiters, what routing and ids already consumed
// (MSH-9 type, MSH-10 control id, MSH-12 version) and Set IDs (sequence
// numbers of repeating segments).
bool not_content(std::string_view seg, std::uint32_t f) {
  if (seg == "MSH") return f <= 2 || f == 9 || f == 10 || f == 12;
  if (f != 1) return false;
  static constexpr std::string_view kSetId[] = {"PID", "OBR", "OBX", "NTE", "SPM", "NK1", "AL1", "DG1",
                                                "IN1", "PR1", "TQ1", "ZDS", "PRT", "GT1", "ROL"};
  for (auto n : kSetId)
    if (seg == n) return true;
  return false;
}

class Hl7v2Format final : public SourceFormat {
 public:
  std::string_view name() const noexcept override { return "hl7v2"; }

  std::size_t path_token(std::string_view s) const noexcept override {
    if (s.empty()) return 0;
    char c = s[0];
    if (!(c >= 'A' && c <= 'Z') && c != '.') return 0;
    std::size_t i = 0;
    while (i < s.size()) {
      char d = s[i];
      if ((d >= 'A' && d <= 'Z') || (d >= '0' && d <= '9') || d == '_' || d == '.' || d == '-') {
        ++i;
      } else if (d == '(') {
        // An index "(n)" or "(*)" belongs to the path; any other '(' does not.
        std::size_t n = index_suffix_length(s, i);
        if (n == 0) break;
        i += n;
      } else {
        break;
      }
    }
    return i;
  }

  std::unique_ptr<SourcePath> compile_path(std::string_view text, const PathContext& pc,
                                           std::string& error) const override {
    auto p = std::make_unique<Hl7Path>();
    if (!parse_hl7_path(text, *p, error)) return nullptr;
    p->multi = p->rep_all || p->seg_all;
    p->single = !p->multi;
    p->names_leaf = !p->segment.empty();
    if (const auto* structure = static_cast<const hl7v2::GroupDef*>(pc.structure)) {
      for (const auto& g : p->groups)
        if (!structure_has_group(*structure, g)) {
          error = "group " + g + " does not exist in message structure " + structure->name;
          return nullptr;
        }
      if (!p->segment.empty() && p->segment[0] != 'Z' && !structure_has_segment(*structure, p->segment)) {
        error = "segment " + p->segment + " cannot occur in message structure " + structure->name;
        return nullptr;
      }
    }
    return p;
  }

  const void* resolve_structure(const std::vector<std::string>& messages, std::string& structure,
                                std::string& error) const override {
    const auto& reg = hl7v2::StructureRegistry::builtin();
    if (structure.empty())
      for (const auto& msg : messages) {
        auto caret = msg.find('^');
        if (caret == std::string::npos) continue;
        structure = reg.resolve(msg.substr(0, caret), msg.substr(caret + 1), "");
        if (!structure.empty()) break;
      }
    if (structure.empty()) return nullptr;
    const hl7v2::GroupDef* def = reg.find(structure);
    if (!def) error = "unknown message structure '" + structure + "'";
    return def;
  }

  void describe(const Cursor& c, const SourceDocument& doc, std::string& out) const override {
    describe_cursor(c, static_cast<const Message&>(doc), out);
  }

  void report_unmapped(const SourceDocument& doc, const ReadTracker& reads, Issues& out,
                       bool fields) const override {
    const auto& m = static_cast<const Message&>(doc);
    auto segs = m.segments();
    for (std::size_t s = 0; s < segs.size(); ++s) {
      if (!fields && reads.segment_read(s)) continue;
      const auto& seg = segs[s];
      std::string loc(seg.name);
      loc += '(' + std::to_string(seg.occurrence) + ')';
      if (!reads.segment_read(s)) {
        out.push_back(Issue{Severity::kInfo, "UNMAPPED_SEGMENT", loc, "no mapping rule read this segment"});
        continue;
      }
      if (!fields) continue;
      for (std::uint32_t f = 1; f <= seg.field_count; ++f) {
        if (not_content(seg.name, f)) continue;
        if (m.field(seg, static_cast<int>(f)).empty()) continue;
        if (reads.field_read(s, f)) continue;
        out.push_back(Issue{Severity::kInfo, "UNMAPPED_FIELD", loc + "-" + std::to_string(f),
                            "no mapping rule read this field"});
      }
    }
  }

  std::string_view leaf_field(const SourceDocument& doc, std::int32_t leaf, int field) const override {
    const auto& m = static_cast<const Message&>(doc);
    if (leaf < 0 || static_cast<std::size_t>(leaf) >= m.segments().size() || field <= 0) return {};
    const auto& d = m.delimiters();
    return hl7v2::component(hl7v2::repetition(m.field(m.segments()[static_cast<std::size_t>(leaf)], field), d, 1), d, 1);
  }
};

const Hl7v2Format kHl7v2Format;

}  // namespace

const SourceFormat& hl7v2_format() { return kHl7v2Format; }

}  // namespace dxnorm::map
