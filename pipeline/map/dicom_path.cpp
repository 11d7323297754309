#include "pipeline/map/dicom_path.h"

#include "pipeline/map/group_tree.h"

#include <map>
#include <memory>

#include "pipeline/parse/dicom/dicom_dictionary.h"
#include "pipeline/parse/dicom/dicom_document.h"

namespace dxnorm::map {

using dicom::DicomDocument;
using JValue = rapidjson::Value;

namespace {

constexpr std::uint16_t kItem = 1;   // Cursor::sub: node is a sequence item (a dataset object)
constexpr std::uint16_t kValue = 2;  // Cursor::sub: node is one value (string or PN object)

bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_alnum(char c) { return is_upper(c) || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'); }

PnPart pn_part(std::string_view n) {
  if (n == "Alphabetic") return PnPart::kAlphabetic;
  if (n == "Ideographic") return PnPart::kIdeographic;
  if (n == "Phonetic") return PnPart::kPhonetic;
  if (n == "Family") return PnPart::kFamily;
  if (n == "Given") return PnPart::kGiven;
  if (n == "Middle") return PnPart::kMiddle;
  if (n == "Prefix") return PnPart::kPrefix;
  if (n == "Suffix") return PnPart::kSuffix;
  return PnPart::kNone;
}

// "(n)" / "(*)" after a name.
bool parse_index(std::string_view& s, int& index, bool& all) {
  if (s.empty() || s[0] != '(') return true;
  std::size_t close = s.find(')');
  if (close == std::string_view::npos) return false;
  std::string_view in = s.substr(1, close - 1);
  if (in == "*") {
    all = true;
  } else {
    if (in.empty() || in.size() > 6) return false;
    int n = 0;
    for (char c : in) {
      if (c < '0' || c > '9') return false;
      n = n * 10 + (c - '0');
    }
    if (n <= 0) return false;
    index = n;
  }
  s.remove_prefix(close + 1);
  return true;
}

}  // namespace

bool parse_dicom_path(std::string_view text, DicomPath& out, std::string& error) {
  out = DicomPath{};
  out.text = std::string(text);
  if (text.empty()) {
    error = "empty path";
    return false;
  }
  std::string_view s = text;
  if (s[0] == '.') {
    out.relative = true;
    if (s.size() == 1) return true;
    s.remove_prefix(1);
  }
  bool first = true;
  while (true) {
    std::size_t n = 0;
    while (n < s.size() && (is_alnum(s[n]) || s[n] == '_')) ++n;
    std::string_view name = s.substr(0, n);
    s.remove_prefix(n);
    if (name.empty()) {
      error = "expected a keyword (StudyInstanceUID), a tag (0020000D), SERIES or DATASET";
      return false;
    }
    int index = 0;
    bool all = false;
    if (!parse_index(s, index, all)) {
      error = "malformed index after " + std::string(name) + ": write (2) or (*)";
      return false;
    }
    bool last = s.empty();
    if (name == "SERIES") {
      if (out.relative || !out.groups.empty() || out.dataset || !out.steps.empty()) {
        error = "SERIES can only start a path";
        return false;
      }
      out.groups.emplace_back(name);
      out.group_index = index;
      out.group_all = all;
    } else if (name == "DATASET") {
      if (out.relative || out.dataset || !out.steps.empty()) {
        error = "DATASET can only follow SERIES at the start of a path";
        return false;
      }
      out.dataset = true;
      out.dataset_index = index;
      out.dataset_all = all;
    } else if (PnPart part = pn_part(name); part != PnPart::kNone) {
      if (!last) {
        error = "a person name component (" + std::string(name) + ") ends a path";
        return false;
      }
      if (!out.steps.empty() && !out.steps.back().vr.empty() && out.steps.back().vr != "PN") {
        error = std::string(name) + " is a person name component, but the attribute before it is " + out.steps.back().vr;
        return false;
      }
      if (out.steps.empty() && !out.relative) {
        error = std::string(name) + " needs a PN attribute before it (PatientName." + std::string(name) + ")";
        return false;
      }
      if (index || all) {
        error = "a person name component takes no index";
        return false;
      }
      out.pn = part;
    } else {
      DicomStep step;
      step.index = index;
      step.all = all;
      bool hex8 = name.size() == 8;
      for (char c : name) hex8 = hex8 && is_hex(c);
      if (hex8 && !is_upper(name[0])) {
        step.tag = *dicom::parse_tag(name);
        if (const auto* def = dicom::find_tag(step.tag)) step.vr = def->vr;
      } else if (const auto* def = dicom::find_keyword(name)) {
        step.tag = def->tag;
        step.vr = def->vr;
      } else if (hex8) {
        step.tag = *dicom::parse_tag(name);
        if (const auto* d = dicom::find_tag(step.tag)) step.vr = d->vr;
      } else {
        error = "unknown DICOM keyword '" + std::string(name) +
                "' (keywords are listed in schemas/dicom/attributes.txt; a tag such as 0020000D works for any attribute)";
        return false;
      }
      if (!out.steps.empty() && !out.steps.back().vr.empty() && out.steps.back().vr != "SQ") {
        error = "attribute before " + std::string(name) + " is not a sequence (SQ)";
        return false;
      }
      out.steps.push_back(std::move(step));
    }
    if (s.empty()) break;
    if (s[0] != '.') {
      error = "unexpected '" + std::string(s) + "' in path";
      return false;
    }
    s.remove_prefix(1);
    first = false;
  }
  (void)first;
  return true;
}

namespace {

const DicomDocument& doc_of(const EvalContext& ctx) { return static_cast<const DicomDocument&>(*ctx.doc); }

struct Hit {
  const SourceGroup* group;
  std::int32_t leaf;
  const JValue* node;
  std::uint32_t tag;  // top-level attribute
  std::uint16_t rep;
  std::uint16_t kind;
};



class Walker {
 public:
  Walker(const DicomPath& p, EvalContext& ctx, bool all, std::vector<Hit>& out)
      : p_(p), ctx_(ctx), doc_(doc_of(ctx)), all_(all), out_(out) {}

  // Apply steps[k..] to `obj` (a dataset or an item). Returns true when something was found.
  bool walk(const SourceGroup* g, std::int32_t leaf, const JValue& obj, std::size_t k, std::uint32_t top_tag,
            bool top) {
    if (k == p_.steps.size()) return false;
    const DicomStep& st = p_.steps[k];
    std::size_t idx = 0;
    const JValue* a = dicom::find_attribute(obj, st.tag, &idx);
    if (top) {
      top_tag = st.tag;
      ctx_.reads.mark(leaf, 0);
      if (a) ctx_.reads.mark_part(doc_.attribute_ordinal(static_cast<std::size_t>(leaf), idx));
    }
    if (!a) return false;
    auto v = a->FindMember("Value");
    if (v == a->MemberEnd() || !v->value.IsArray()) return false;
    const auto& arr = v->value.GetArray();
    bool last = k + 1 == p_.steps.size();
    bool every = st.all || (last && all_);
    bool found = false;
    std::uint16_t rep = 0;
    for (const JValue& x : arr) {
      ++rep;
      if (st.index && rep != st.index) continue;
      if (x.IsNull()) continue;
      if (last) {
        out_.push_back(Hit{g, leaf, &x, top_tag, rep, x.IsObject() && st.vr == "SQ" ? kItem : kValue});
        found = true;
      } else {
        if (!x.IsObject()) continue;
        found = walk(g, leaf, x, k + 1, top_tag, false) || found;
      }
      if (found && !every) break;
      if (st.index) break;
    }
    return found;
  }

 private:
  const DicomPath& p_;
  EvalContext& ctx_;
  const DicomDocument& doc_;
  bool all_;
  std::vector<Hit>& out_;
};

// Datasets a non-relative path starts from, in document order.
void start_datasets(const DicomPath& p, const Scope& scope, EvalContext& ctx,
                    std::vector<std::pair<const SourceGroup*, std::int32_t>>& out, bool iterate) {
  const SourceGroup* g = scope_group(scope, ctx);
  std::vector<const SourceGroup*> groups;
  if (!p.groups.empty()) {
    for (const SourceGroup* a = g; a && groups.empty(); a = a->parent) {
      if (a->name == "SERIES" && a == g) {  // already in a series: itself
        groups.push_back(a);
        break;
      }
      std::uint32_t k = 0;
      for (const SourceNode& n : a->children)
        if (n.group && n.group->name == "SERIES") {
          ++k;
          if (p.group_index && k != static_cast<std::uint32_t>(p.group_index)) continue;
          groups.push_back(n.group);
          if (!p.group_all && !iterate && !p.group_index) break;
        }
    }
  } else {
    groups.push_back(g);
  }
  for (const SourceGroup* x : groups) {
    if (p.dataset) {
      // DATASET: direct children when iterating, the whole subtree when reading (DATASET(*).X).
      std::uint32_t k = 0;
      auto take = [&](const SourceGroup& owner, std::int32_t leaf) {
        ++k;
        if (p.dataset_index && k != static_cast<std::uint32_t>(p.dataset_index)) return true;
        out.emplace_back(&owner, leaf);
        return p.dataset_all || (iterate && !p.dataset_index);
      };
      if (iterate && p.steps.empty()) {
        for (const SourceNode& n : x->children)
          if (n.segment >= 0 && !take(*x, n.segment)) break;
      } else {
        for_each_leaf(*x, take);
      }
    } else if (!p.groups.empty()) {
      for_each_leaf(*x, [&](const SourceGroup& owner, std::int32_t leaf) {
        out.emplace_back(&owner, leaf);
        return true;
      });
    }
  }
}

void resolve(const DicomPath& p, const Scope& scope, EvalContext& ctx, bool all, std::vector<Hit>& hits,
             bool iterate) {
  const DicomDocument& doc = doc_of(ctx);
  Walker w(p, ctx, all, hits);
  const Cursor& c = scope.cursor;
  if (p.relative) {
    if (c.segment < 0) return;
    if (c.sub == kValue) {
      if (p.steps.empty() && c.node) hits.push_back(Hit{c.group, c.segment, static_cast<const JValue*>(c.node),
                                                        static_cast<std::uint32_t>(c.field) << 16 | c.comp, c.rep, kValue});
      return;
    }
    const JValue& obj = c.sub == kItem && c.node ? *static_cast<const JValue*>(c.node)
                                                  : doc.dataset(static_cast<std::size_t>(c.segment));
    w.walk(c.group, c.segment, obj, 0, static_cast<std::uint32_t>(c.field) << 16 | c.comp, c.sub != kItem);
    return;
  }
  if (p.steps.empty()) return;
  if (p.groups.empty() && !p.dataset) {
    if (c.segment >= 0) {  // a dataset scope reads its own dataset only
      w.walk(c.group, c.segment, doc.dataset(static_cast<std::size_t>(c.segment)), 0, 0, true);
      return;
    }
    // The first dataset below the scope group that has it. Never outward: a
    // series' SeriesDescription must not come from a sibling series.
    for_each_leaf(*scope_group(scope, ctx), [&](const SourceGroup& owner, std::int32_t leaf) {
      return !w.walk(&owner, leaf, doc.dataset(static_cast<std::size_t>(leaf)), 0, 0, true);
    });
    return;
  }
  thread_local std::vector<std::pair<const SourceGroup*, std::int32_t>> starts;
  starts.clear();
  start_datasets(p, scope, ctx, starts, iterate);
  bool every = all || p.dataset_all || p.group_all;
  const SourceGroup* done_group = nullptr;
  for (auto [g, leaf] : starts) {
    // Without DATASET(*), one hit per group (SERIES(*).X: X of each series).
    if (!p.dataset && g == done_group) continue;
    bool found = w.walk(g, leaf, doc.dataset(static_cast<std::size_t>(leaf)), 0, 0, true);
    if (found) done_group = g;
    if (found && !every) return;
  }
}

std::string_view pn_text(const JValue& v, PnPart part) {
  if (v.IsString()) {
    std::string_view s(v.GetString(), v.GetStringLength());
    if (part == PnPart::kNone) return dicom::trim_padding(s);
    std::string_view group = s;
    int want = part == PnPart::kFamily ? 1 : part == PnPart::kGiven ? 2 : part == PnPart::kMiddle ? 3
               : part == PnPart::kPrefix ? 4 : part == PnPart::kSuffix ? 5 : 0;
    if (!want) return dicom::trim_padding(group);
    for (int i = 1; i < want; ++i) {
      auto caret = group.find('^');
      if (caret == std::string_view::npos) return {};
      group.remove_prefix(caret + 1);
    }
    return dicom::trim_padding(group.substr(0, group.find('^')));
  }
  if (!v.IsObject()) return {};
  const char* name = part == PnPart::kIdeographic ? "Ideographic" : part == PnPart::kPhonetic ? "Phonetic" : "Alphabetic";
  auto m = v.FindMember(name);
  if (m == v.MemberEnd() || !m->value.IsString()) return {};
  std::string_view group(m->value.GetString(), m->value.GetStringLength());
  int want = part == PnPart::kFamily ? 1 : part == PnPart::kGiven ? 2 : part == PnPart::kMiddle ? 3
             : part == PnPart::kPrefix ? 4 : part == PnPart::kSuffix ? 5 : 0;
  if (!want) return dicom::trim_padding(group);
  for (int i = 1; i < want; ++i) {
    auto caret = group.find('^');
    if (caret == std::string_view::npos) return {};
    group.remove_prefix(caret + 1);
  }
  return dicom::trim_padding(group.substr(0, group.find('^')));
}

Cursor cursor_of(const Hit& h) {
  Cursor c;
  c.group = h.group;
  c.segment = h.leaf;
  c.node = h.node;
  c.field = static_cast<std::uint16_t>(h.tag >> 16);
  c.comp = static_cast<std::uint16_t>(h.tag & 0xFFFF);
  c.rep = h.rep;
  c.sub = h.kind;
  return c;
}

}  // namespace

std::size_t DicomPath::eval(const Scope& scope, EvalContext& ctx, bool all) const {
  thread_local std::vector<Hit> hits;
  std::size_t base_hits = hits.size();  // not re-entered, but keep it safe
  resolve(*this, scope, ctx, all, hits, false);
  std::size_t n = 0;
  for (std::size_t i = base_hits; i < hits.size(); ++i) {
    const Hit& h = hits[i];
    if (h.kind != kValue) continue;  // a sequence item has no text
    std::string_view t = pn_text(*h.node, pn);
    if (t.empty()) continue;
    Value v;
    v.text = t;
    v.cursor = cursor_of(h);
    v.has_cursor = true;
    ctx.stack.push_back(v);
    ++n;
    if (!all) break;
  }
  hits.resize(base_hits);
  return n;
}

void DicomPath::iterate(const Scope& scope, EvalContext& ctx, std::vector<Cursor>& out) const {
  if (!relative && steps.empty()) {
    const SourceGroup* g = scope_group(scope, ctx);
    if (!dataset) {  // SERIES: the series groups
      for (const SourceGroup* a = g; a; a = a->parent) {
        std::uint32_t k = 0;
        for (const SourceNode& n : a->children)
          if (n.group && n.group->name == "SERIES") {
            ++k;
            if (group_index && k != static_cast<std::uint32_t>(group_index)) continue;
            out.push_back(Cursor{n.group, -1});
          }
        if (!out.empty() || a->name == "SERIES") break;
      }
      return;
    }
    thread_local std::vector<std::pair<const SourceGroup*, std::int32_t>> starts;
    starts.clear();
    start_datasets(*this, scope, ctx, starts, true);
    for (auto [grp, leaf] : starts) {
      ctx.reads.mark(leaf, 0);
      out.push_back(Cursor{grp, leaf});
    }
    return;
  }
  thread_local std::vector<Hit> hits;
  hits.clear();
  resolve(*this, scope, ctx, true, hits, true);
  for (const Hit& h : hits) out.push_back(cursor_of(h));
}

namespace {

class DicomJsonFormat final : public SourceFormat {
 public:
  std::string_view name() const noexcept override { return "dicom-json"; }

  std::size_t path_token(std::string_view s) const noexcept override {
    if (s.empty()) return 0;
    char c = s[0];
    if (c >= '0' && c <= '9') {
      // A tag is 8 hex digits; anything else starting with a digit is a number.
      if (s.size() < 8) return 0;
      for (int i = 0; i < 8; ++i)
        if (!is_hex(s[static_cast<std::size_t>(i)])) return 0;
      if (s.size() > 8 && (is_alnum(s[8]) || s[8] == '_')) return 0;
    } else if (!is_upper(c) && c != '.') {
      return 0;
    } else if (c == '.' && s.size() > 1 && s[1] >= '0' && s[1] <= '9') {
      return 0;  // ".5" is a number
    }
    std::size_t i = 0;
    while (i < s.size()) {
      char d = s[i];
      if (is_alnum(d) || d == '_' || d == '.') {
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

  std::unique_ptr<SourcePath> compile_path(std::string_view text, const PathContext&,
                                           std::string& error) const override {
    auto p = std::make_unique<DicomPath>();
    if (!parse_dicom_path(text, *p, error)) return nullptr;
    p->multi = p->group_all || p->dataset_all;
    for (const auto& s : p->steps) p->multi = p->multi || s.all;
    p->names_leaf = p->dataset;
    return p;
  }

  const void* resolve_structure(const std::vector<std::string>&, std::string&, std::string&) const override {
    return nullptr;
  }

  void describe(const Cursor& c, const SourceDocument& d, std::string& out) const override {
    if (c.segment < 0) {
      out += c.group ? std::string(c.group->name) : std::string("message");
      if (c.group && c.group->parent) out += "(" + std::to_string(c.group->index) + ")";
      return;
    }
    bool tag = c.field || c.comp;
    if (d.leaf_count() > 1 || !tag) {
      out += "dataset " + std::to_string(c.segment + 1);
      if (tag) out += ' ';
    }
    if (tag) out += dicom::format_tag(static_cast<std::uint32_t>(c.field) << 16 | c.comp);
    if (tag && c.rep > 1) out += "[" + std::to_string(c.rep) + "]";
  }

  void report_unmapped(const SourceDocument& d, const ReadTracker& reads, Issues& out,
                       bool fields) const override {
    const auto& doc = static_cast<const DicomDocument&>(d);
    std::map<std::uint32_t, std::size_t> unread;  // tag -> datasets where present and unread
    for (std::size_t leaf = 0; leaf < doc.leaf_count(); ++leaf) {
      if (!reads.segment_read(leaf)) {
        out.push_back(Issue{Severity::kInfo, "UNMAPPED_SEGMENT", "dataset " + std::to_string(leaf + 1),
                            "no mapping rule read this dataset"});
        continue;
      }
      if (!fields) continue;
      const JValue& ds = doc.dataset(leaf);
      std::size_t i = 0;
      for (auto m = ds.MemberBegin(); m != ds.MemberEnd(); ++m, ++i) {
        if (reads.part_read(doc.attribute_ordinal(leaf, i))) continue;
        auto tag = dicom::parse_tag(std::string_view(m->name.GetString(), m->name.GetStringLength()));
        if (!tag) continue;
        auto v = m->value.FindMember("Value");
        bool has_data = (v != m->value.MemberEnd() && v->value.IsArray() && !v->value.Empty()) ||
                        m->value.HasMember("BulkDataURI") || m->value.HasMember("InlineBinary");
        if (has_data) ++unread[*tag];
      }
    }
    for (const auto& [tag, count] : unread) {
      std::string loc = dicom::format_tag(tag);
      if (const auto* def = dicom::find_tag(tag)) loc += " " + def->keyword;
      out.push_back(Issue{Severity::kInfo, "UNMAPPED_FIELD", loc,
                          "no mapping rule read this attribute (in " + std::to_string(count) + " of " +
                              std::to_string(doc.leaf_count()) + " datasets)"});
    }
  }

  std::string_view leaf_field(const SourceDocument&, std::int32_t, int) const override { return {}; }
};

const DicomJsonFormat kDicomJsonFormat;

}  // namespace

const SourceFormat& dicom_json_format() { return kDicomJsonFormat; }

}  // namespace dxnorm::map
