#include "pipeline/map/edifact_path.h"

#include "pipeline/map/group_tree.h"

#include <charconv>
#include <memory>

#include "pipeline/parse/edifact/edifact_message.h"
#include "pipeline/parse/edifact/segment_groups.h"

namespace dxnorm::map {

using edifact::EdifactMessage;

namespace {

bool is_upper_alnum(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

bool is_segment_tag(std::string_view n) {
  return n.size() == 3 && n[0] >= 'A' && n[0] <= 'Z' && is_upper_alnum(n[1]) && is_upper_alnum(n[2]);
}

bool read_number(std::string_view s, std::size_t& i, int& out) {
  std::size_t start = i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  if (start == i || i - start > 4) return false;
  std::from_chars(s.data() + start, s.data() + i, out);
  return out > 0;
}

// "S06" -> "SG6"; other names unchanged.
std::string group_name(std::string_view n) {
  std::string g = edifact::marker_group(n);
  return g.empty() ? std::string(n) : g;
}

}  // namespace

bool parse_edifact_path(std::string_view text, EdifactPath& out, std::string& error) {
  out = EdifactPath{};
  out.text = std::string(text);
  if (text.empty()) {
    error = "empty path";
    return false;
  }
  std::size_t i = 0;
  if (text[0] == '.') {
    out.relative = true;
    if (text.size() == 1) return true;
    i = 1;
    if (text.substr(1) == "*") {
      out.comp_all = true;
      out.multi = true;
      return true;
    }
    if (!read_number(text, i, out.comp) || i != text.size()) {
      error = "a relative path is '.', '.N' (component N) or '.*' (every component)";
      return false;
    }
    return true;
  }
  while (true) {
    std::size_t start = i;
    while (i < text.size() && (is_upper_alnum(text[i]) || text[i] == '_')) ++i;
    std::string_view name = text.substr(start, i - start);
    if (name.empty() || !(name[0] >= 'A' && name[0] <= 'Z')) {
      error = "expected a segment tag (RFF) or a group name (SG18)";
      return false;
    }
    bool more_groups = i < text.size() && text[i] == '.';
    if (more_groups) {
      out.groups.push_back(group_name(name));
      ++i;
      continue;
    }
    bool sg_name = name.size() >= 3 && name[0] == 'S' && name[1] == 'G' &&
                   name.find_first_not_of("0123456789", 2) == std::string_view::npos;
    if (sg_name || !is_segment_tag(name) || (!edifact::marker_group(name).empty() && i == text.size())) {
      // A group name at the end (SG18), or a marker alone (S20 = group SG20).
      if (i != text.size()) {
        error = "'" + std::string(name) + "' is a group: only '.' may follow it";
        return false;
      }
      out.groups.push_back(group_name(name));
      return true;
    }
    out.segment = std::string(name);
    break;
  }
  if (i < text.size() && text[i] == '[') {
    std::size_t close = text.find(']', i);
    if (close == std::string_view::npos || close == i + 1) {
      error = "malformed qualifier: write SEG[QUALIFIER], e.g. RFF[SRI]";
      return false;
    }
    out.qualifier = std::string(text.substr(i + 1, close - i - 1));
    for (char c : out.qualifier)
      if (!is_upper_alnum(c)) {
        error = "a qualifier holds letters and digits only: '" + out.qualifier + "'";
        return false;
      }
    i = close + 1;
  }
  if (i < text.size() && text[i] == '(') {
    ++i;
    if (i < text.size() && text[i] == '*') {
      out.seg_all = true;
      ++i;
    } else if (!read_number(text, i, out.seg_occurrence)) {
      error = "malformed occurrence: write SEG(2) or SEG(*)";
      return false;
    }
    if (i >= text.size() || text[i] != ')') {
      error = "malformed occurrence: write SEG(2) or SEG(*)";
      return false;
    }
    ++i;
  }
  if (i == text.size()) return true;
  if (text[i] != '-') {
    error = "expected '-' and a data element number after segment " + out.segment;
    return false;
  }
  ++i;
  if (!read_number(text, i, out.element)) {
    error = "expected a data element number (1-9999) after '-'";
    return false;
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    if (i < text.size() && text[i] == '*') {
      out.comp_all = true;
      ++i;
    } else if (!read_number(text, i, out.comp)) {
      error = "expected a component number or '*' after '.'";
      return false;
    }
  }
  if (i != text.size()) {
    error = "unexpected '" + std::string(text.substr(i)) + "' at end of path";
    return false;
  }
  return true;
}

namespace {

const EdifactMessage& msg(const EvalContext& ctx) { return static_cast<const EdifactMessage&>(*ctx.doc); }

const edifact::Segment& seg(const EvalContext& ctx, std::int32_t s) {
  return msg(ctx).segments()[static_cast<std::size_t>(s)];
}

bool qualifier_matches(const EdifactPath& p, const EvalContext& ctx, std::int32_t s) {
  if (p.qualifier.empty()) return true;
  const auto& m = msg(ctx);
  std::string_view q = edifact::component(m.element(seg(ctx, s), 1), m.delimiters(), 1);
  return q == p.qualifier;
}

bool matches(const EdifactPath& p, const EvalContext& ctx, std::int32_t s) {
  return seg(ctx, s).name == p.segment && qualifier_matches(p, ctx, s);
}

// Segments matching p below `g`, in document order, leaving out `skip`.
template <class Fn>
bool for_each_in(const EdifactPath& p, const EvalContext& ctx, const SourceGroup& g, Fn&& fn,
                 const SourceGroup* skip = nullptr) {
  return for_each_leaf(
      g, [&](const SourceGroup&, std::int32_t s) { return !matches(p, ctx, s) || fn(s); }, skip);
}

// Like match_groups, but the first name may be a descendant at any depth
// (SG7 lies inside SG6): `SG7.PNA` needs no `SG6.` in front.
void match_groups_deep(const SourceGroup& from, const std::vector<std::string>& names,
                       std::vector<const SourceGroup*>& out, int depth = 0) {
  if (names.empty() || depth > 16) return;
  for (const SourceNode& n : from.children) {
    if (!n.group) continue;
    if (n.group->name == names[0]) match_groups(*n.group, names, 1, out);
    else match_groups_deep(*n.group, names, out, depth + 1);
  }
}

// Groups a dotted list denotes from `a`: when `a` itself (the scope group or
// an ancestor) has the first name, it is that very instance (`SG18.RSL` read
// in an SG18 means this investigation's RSL, never a sibling's); otherwise
// its children by name.
void match_from(const SourceGroup& a, const std::vector<std::string>& names, std::vector<const SourceGroup*>& out) {
  if (!names.empty() && a.name == names[0] && a.parent) match_groups(a, names, 1, out);
  else match_groups_deep(a, names, out);
}


void resolve(const EdifactPath& p, const Scope& scope, EvalContext& ctx, bool all, std::vector<std::int32_t>& out) {
  const SourceGroup* g = scope_group(scope, ctx);
  if (p.groups.empty() && !p.seg_all && p.seg_occurrence == 0 && scope.cursor.segment >= 0 &&
      matches(p, ctx, scope.cursor.segment)) {
    out.push_back(scope.cursor.segment);
    return;
  }
  bool want_all = all || p.seg_all || p.seg_occurrence > 0;
  if (p.groups.empty()) {
    const SourceGroup* from = nullptr;
    for (const SourceGroup* a = g; a; from = a, a = a->parent) {
      for_each_in(
          p, ctx, *a,
          [&](std::int32_t s) {
            out.push_back(s);
            return want_all;
          },
          from);
      if (!out.empty()) break;
    }
  } else {
    std::vector<const SourceGroup*> roots;
    for (const SourceGroup* a = g; a; a = a->parent) {
      roots.clear();
      match_from(*a, p.groups, roots);
      for (const SourceGroup* r : roots) {
        for_each_in(p, ctx, *r, [&](std::int32_t s) {
          out.push_back(s);
          return want_all;
        });
        if (!out.empty() && !want_all) break;
      }
      // `SG18.X` read inside an SG18 stops at this SG18, found or not.
      if (!out.empty() || (a->parent && a->name == p.groups[0])) break;
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

void push_text(EvalContext& ctx, const Cursor& c, std::string_view raw) {
  Value v;
  v.cursor = c;
  v.has_cursor = true;
  std::string_view u = edifact::unescape(raw, msg(ctx).delimiters(), ctx.scratch);
  v.text = (u.data() == raw.data()) ? u : ctx.arena.copy(u);
  while (!v.text.empty() && v.text.back() == ' ') v.text.remove_suffix(1);
  if (v.text.empty()) return;
  ctx.stack.push_back(v);
}

// Values of element `element` of segment s: one component, the first, or all.
std::size_t push_element(EvalContext& ctx, std::int32_t s, int element, int comp, bool comp_all) {
  const auto& m = msg(ctx);
  const auto& d = m.delimiters();
  ctx.reads.mark(s, 0);
  if (element == 0) {
    Value v;
    v.text = seg(ctx, s).raw;
    v.cursor = Cursor{nullptr, s};
    v.has_cursor = true;
    ctx.stack.push_back(v);
    return 1;
  }
  ctx.reads.mark(s, static_cast<unsigned>(element));
  std::string_view raw = m.element(seg(ctx, s), static_cast<std::size_t>(element));
  if (raw.empty()) return 0;
  Cursor c;
  c.segment = s;
  c.field = static_cast<std::uint16_t>(element);
  std::size_t before = ctx.stack.size();
  if (comp_all) {
    std::size_t n = edifact::component_count(raw, d);
    for (std::size_t k = 1; k <= n && k < 0xffff; ++k) {
      c.comp = static_cast<std::uint16_t>(k);
      push_text(ctx, c, edifact::component(raw, d, k));
    }
  } else {
    c.comp = static_cast<std::uint16_t>(comp);
    push_text(ctx, c, edifact::component(raw, d, comp ? static_cast<std::size_t>(comp) : 1));
  }
  return ctx.stack.size() - before;
}

}  // namespace

std::size_t EdifactPath::eval(const Scope& scope, EvalContext& ctx, bool all) const {
  if (relative) {
    const Cursor& base = scope.cursor;
    if (base.segment < 0 || base.field == 0) return 0;
    if (comp == 0 && !comp_all) {
      // "." : the current value as it stands.
      return push_element(ctx, base.segment, base.field, base.comp, false);
    }
    if (base.comp != 0) return 0;  // below a component: nothing
    return push_element(ctx, base.segment, base.field, comp, comp_all);
  }
  if (groups_only()) return 0;
  std::vector<std::int32_t> segs;
  resolve(*this, scope, ctx, all, segs);
  std::size_t n = 0;
  for (std::int32_t s : segs) {
    if (!qualifier.empty()) ctx.reads.mark(s, 1);
    n += push_element(ctx, s, element, comp, comp_all);
    if (n && !all) break;
  }
  return n;
}

void EdifactPath::iterate(const Scope& scope, EvalContext& ctx, std::vector<Cursor>& out) const {
  const SourceGroup* g = scope_group(scope, ctx);
  if (relative) {
    std::size_t base = ctx.stack.size();
    std::size_t n = eval(scope, ctx, true);
    for (std::size_t i = 0; i < n; ++i) {
      Cursor c = ctx.stack[base + i].cursor;
      c.group = g;
      out.push_back(c);
    }
    ctx.stack.resize(base);
    return;
  }
  std::vector<const SourceGroup*> groups;
  if (this->groups.empty()) {
    groups.push_back(g);
  } else {
    // Children first (`$each: SG20` in an SG18), else outward; `SG18.X` in
    // an SG18 means this SG18 and goes no further.
    // A group kind that lives inside this scope's kind (SG20 inside SG18)
    // but is absent from this instance is absent: never a sibling's.
    auto kind_holds = [&](const SourceGroup* a) {
      if (!a->parent) return false;
      for (const SourceNode& sib : a->parent->children) {
        if (!sib.group || sib.group == a || sib.group->name != a->name) continue;
        for (const SourceNode& c : sib.group->children)
          if (c.group && c.group->name == this->groups[0]) return true;
      }
      return false;
    };
    for (const SourceGroup* a = g; a && groups.empty(); a = a->parent) {
      match_from(*a, this->groups, groups);
      if (a->parent && (a->name == this->groups[0] || kind_holds(a))) break;
    }
  }
  if (segment.empty()) {
    for (const SourceGroup* x : groups) out.push_back(Cursor{x, -1});
    return;
  }
  for (const SourceGroup* x : groups) {
    std::uint32_t occ = 0;
    for (const SourceNode& n : x->children) {
      if (n.group || n.segment < 0 || !matches(*this, ctx, n.segment)) continue;
      ++occ;
      if (seg_occurrence && occ != static_cast<std::uint32_t>(seg_occurrence)) continue;
      ctx.reads.mark(n.segment, 0);
      if (!qualifier.empty()) ctx.reads.mark(n.segment, 1);
      if (element == 0) {
        out.push_back(Cursor{x, n.segment});
        continue;
      }
      std::size_t base = ctx.stack.size();
      std::size_t k = push_element(ctx, n.segment, element, comp, comp_all);
      for (std::size_t i = 0; i < k; ++i) {
        Cursor fc = ctx.stack[base + i].cursor;
        fc.group = x;
        out.push_back(fc);
      }
      ctx.stack.resize(base);
    }
  }
}

namespace {

void describe_group(const SourceGroup* g, std::string& out) {
  out += g->name;
  if (g->index > 1) {
    out += '(';
    out += std::to_string(g->index);
    out += ')';
  }
}

void describe_segment(const EdifactMessage& m, std::int32_t s, std::string& out) {
  const auto& sg = m.segments()[static_cast<std::size_t>(s)];
  if (sg.group && sg.group->parent) {
    describe_group(sg.group, out);
    out += ' ';
  }
  out += sg.name;
  std::string_view q = edifact::component(m.element(sg, 1), m.delimiters(), 1);
  if (!q.empty() && q.size() <= 3 && sg.name != "UNH" && sg.name != "UNT") {
    out += '+';
    out += q;
  }
}

bool is_envelope_or_marker(std::string_view name) {
  return name == "UNH" || name == "UNT" || !edifact::marker_group(name).empty();
}

class EdifactFormat final : public SourceFormat {
 public:
  std::string_view name() const noexcept override { return "edifact"; }

  std::size_t path_token(std::string_view s) const noexcept override {
    if (s.empty()) return 0;
    char c = s[0];
    if (!(c >= 'A' && c <= 'Z') && c != '.') return 0;
    if (c == '.' && (s.size() < 2 || !(s[1] == '*' || (s[1] >= '0' && s[1] <= '9')))) return c == '.' ? 1 : 0;
    std::size_t i = 0;
    while (i < s.size()) {
      char d = s[i];
      if (is_upper_alnum(d) || d == '_' || d == '.' || d == '-') {
        ++i;
      } else if (d == '*' && i > 0 && s[i - 1] == '.') {
        ++i;
      } else if (d == '[') {
        std::size_t j = i + 1;
        while (j < s.size() && is_upper_alnum(s[j])) ++j;
        if (j > i + 1 && j < s.size() && s[j] == ']') i = j + 1;
        else break;
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
    auto p = std::make_unique<EdifactPath>();
    if (!parse_edifact_path(text, *p, error)) return nullptr;
    p->multi = p->multi || p->seg_all || p->comp_all;
    p->names_leaf = !p->segment.empty();
    if (const auto* groups = static_cast<const edifact::MessageGroups*>(pc.structure)) {
      for (const auto& g : p->groups)
        if (!groups->find(g)) {
          error = "group " + g + " does not exist in " + groups->message_type + " (schemas/edifact/message-groups.yaml)";
          return nullptr;
        }
    }
    return p;
  }

  const void* resolve_structure(const std::vector<std::string>& messages, std::string& structure,
                                std::string& error) const override {
    if (structure.empty())
      for (const auto& m : messages) {
        structure = m.substr(0, m.find('^'));
        if (!structure.empty()) break;
      }
    if (structure.empty()) return nullptr;
    const edifact::MessageGroups* g = edifact::builtin_groups(structure);
    if (!g) error = "no segment groups defined for EDIFACT message '" + structure + "' (schemas/edifact/message-groups.yaml)";
    return g;
  }

  void describe(const Cursor& c, const SourceDocument& doc, std::string& out) const override {
    const auto& m = static_cast<const EdifactMessage&>(doc);
    if (c.segment < 0) {
      if (c.group) describe_group(c.group, out);
      else out += "message";
      return;
    }
    describe_segment(m, c.segment, out);
    if (!c.field) return;
    out += '-';
    out += std::to_string(c.field);
    if (c.comp) {
      out += '.';
      out += std::to_string(c.comp);
    }
  }

  void report_unmapped(const SourceDocument& doc, const ReadTracker& reads, Issues& out,
                       bool fields) const override {
    const auto& m = static_cast<const EdifactMessage&>(doc);
    const auto& segs = m.segments();
    for (std::size_t s = 0; s < segs.size(); ++s) {
      const auto& sg = segs[s];
      if (is_envelope_or_marker(sg.name)) continue;
      std::string loc;
      describe_segment(m, static_cast<std::int32_t>(s), loc);
      if (!reads.segment_read(s)) {
        out.push_back(Issue{Severity::kInfo, "UNMAPPED_SEGMENT", loc, "no mapping rule read this segment"});
        continue;
      }
      if (!fields) continue;
      for (std::uint32_t e = 1; e <= sg.element_count; ++e) {
        if (m.element(sg, e).empty() || reads.field_read(s, e)) continue;
        out.push_back(Issue{Severity::kInfo, "UNMAPPED_FIELD", loc + "-" + std::to_string(e),
                            "no mapping rule read this data element"});
      }
    }
  }

  std::string_view leaf_field(const SourceDocument& doc, std::int32_t leaf, int field) const override {
    const auto& m = static_cast<const EdifactMessage&>(doc);
    if (leaf < 0 || static_cast<std::size_t>(leaf) >= m.segments().size() || field <= 0) return {};
    return edifact::component(m.element(m.segments()[static_cast<std::size_t>(leaf)], static_cast<std::size_t>(field)),
                              m.delimiters(), 1);
  }
};

const EdifactFormat kEdifactFormat;

}  // namespace

const SourceFormat& edifact_format() { return kEdifactFormat; }

}  // namespace dxnorm::map
