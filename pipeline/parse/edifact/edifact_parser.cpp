// EDIFACT envelope reading and message parsing (see edifact_message.h).
#include <algorithm>
#include <cstdio>

#include "pipeline/parse/edifact/edifact_message.h"
#include "pipeline/parse/edifact/segment_groups.h"

namespace dxnorm::edifact {

// ---- values ----

std::string_view component(std::string_view e, const Delimiters& d, std::size_t n) noexcept {
  if (n == 0) return {};
  std::size_t idx = 1, start = 0;
  for (std::size_t i = 0; i < e.size(); ++i) {
    if (e[i] == d.release) {
      ++i;
      continue;
    }
    if (e[i] == d.component) {
      if (idx == n) return e.substr(start, i - start);
      ++idx;
      start = i + 1;
    }
  }
  return idx == n ? e.substr(start) : std::string_view{};
}

std::size_t component_count(std::string_view e, const Delimiters& d) noexcept {
  if (e.empty()) return 0;
  std::size_t n = 1;
  for (std::size_t i = 0; i < e.size(); ++i) {
    if (e[i] == d.release) ++i;
    else if (e[i] == d.component) ++n;
  }
  return n;
}

std::string_view unescape(std::string_view raw, const Delimiters& d, std::string& scratch) {
  if (raw.find(d.release) == std::string_view::npos) return raw;
  scratch.clear();
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == d.release && i + 1 < raw.size()) ++i;
    else if (raw[i] == d.release) break;  // a dangling release character releases nothing
    scratch.push_back(raw[i]);
  }
  return scratch;
}

std::string escape(std::string_view text, const Delimiters& d) {
  std::string r;
  r.reserve(text.size());
  for (char c : text) {
    if (c == d.release || c == d.component || c == d.element || c == d.segment) r.push_back(d.release);
    r.push_back(c);
  }
  return r;
}

namespace {

struct Tok {
  std::string_view name, raw, full;  // raw: without terminator; full: with it
  std::size_t begin = 0;
};

// Splits `text` into segments. Line breaks between segments are ignored;
// a missing terminator after the last segment is tolerated (`unterminated`).
void tokenize(std::string_view text, const Delimiters& d, std::vector<Tok>& out, bool& unterminated) {
  unterminated = false;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == '\r' || text[i] == '\n')) ++i;
    if (i >= text.size()) break;
    std::size_t start = i;
    while (i < text.size() && text[i] != d.segment) {
      if (text[i] == d.release) ++i;
      ++i;
    }
    std::size_t end = std::min(i, text.size());
    Tok t;
    t.begin = start;
    t.raw = text.substr(start, end - start);
    if (i < text.size()) {
      t.full = text.substr(start, end - start + 1);
      ++i;
    } else {
      t.full = t.raw;
      unterminated = true;
    }
    std::size_t e = t.raw.find(d.element);
    t.name = t.raw.substr(0, e);
    // Trailing line breaks inside a bare tag ("UNT+1+1\n").
    while (!t.raw.empty() && (t.raw.back() == '\n' || t.raw.back() == '\r')) t.raw.remove_suffix(1);
    if (e == std::string_view::npos) t.name = t.raw;
    out.push_back(t);
  }
}

// Data element n (1-based), raw.
std::string_view element_of(std::string_view raw, const Delimiters& d, std::size_t n) {
  std::size_t idx = 0, start = 0;
  for (std::size_t i = 0; i <= raw.size(); ++i) {
    if (i + 1 < raw.size() && raw[i] == d.release) {  // a release at the very end releases nothing
      ++i;
      continue;
    }
    if (i == raw.size() || raw[i] == d.element) {
      if (idx == n) return raw.substr(start, i - start);
      ++idx;
      start = i + 1;
    }
  }
  return {};
}

bool valid_tag(std::string_view n) {
  if (n.size() != 3) return false;
  for (char c : n)
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
  return n[0] >= 'A' && n[0] <= 'Z';
}

bool service_char_ok(char c) {
  return !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '\r' || c == '\n');
}

Error env_error(std::string code, std::string location, std::string message) {
  return make_error(StatusCode::kInvalidInput, Stage::kParse, std::move(code), std::move(location), std::move(message));
}

std::string msg_loc(std::uint32_t index, std::uint32_t segment, std::string_view what) {
  std::string s = "message " + std::to_string(index);
  if (segment) s += ", segment " + std::to_string(segment);
  if (!what.empty()) {
    s += " (";
    s += what;
    s += ')';
  }
  return s;
}

bool parse_uint(std::string_view s, std::uint64_t& out) {
  if (s.empty() || s.size() > 18) return false;
  out = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return true;
}

// Reads UNA (if any) at the start of `text`; returns the offset after it.
Result<std::size_t> read_una(std::string_view text, InterchangeHeader& h, Issues& issues) {
  if (text.substr(0, 3) != "UNA") return std::size_t{0};
  // Standard: UNA + 6 characters. Some senders omit the reserved (space)
  // character: UNA + 5 characters, then UNB/UNH.
  auto starts_segment = [&](std::size_t at) {
    return text.substr(at, 3) == "UNB" || text.substr(at, 3) == "UNH";
  };
  Delimiters d;
  std::size_t len = 0;
  if (text.size() >= 9 && (starts_segment(9) || text.size() == 9 ||
                           (text.size() > 9 && (text[9] == '\r' || text[9] == '\n')))) {
    d.component = text[3];
    d.element = text[4];
    d.decimal = text[5];
    d.release = text[6];
    d.reserved = text[7];
    d.segment = text[8];
    len = 9;
  } else if (text.size() >= 8 && (starts_segment(8) || (text.size() > 8 && (text[8] == '\r' || text[8] == '\n')))) {
    d.component = text[3];
    d.element = text[4];
    d.decimal = text[5];
    d.release = text[6];
    d.reserved = ' ';
    d.segment = text[7];
    len = 8;
    issues.push_back(Issue{Severity::kWarning, "EDIFACT_UNA_SHORT", "UNA",
                           "UNA has 5 service characters instead of 6; read without the reserved character"});
  } else {
    return env_error("EDIFACT_BAD_UNA", "UNA", "UNA must be followed by 6 service characters (e.g. UNA:+.? ')");
  }
  char cs[] = {d.component, d.element, d.decimal, d.release, d.segment};
  for (char c : cs)
    if (!service_char_ok(c))
      return env_error("EDIFACT_BAD_UNA", "UNA", std::string("UNA service character '") + c + "' is a letter, digit or line break");
  char distinct[] = {d.component, d.element, d.release, d.segment};
  for (int a = 0; a < 4; ++a)
    for (int b = a + 1; b < 4; ++b)
      if (distinct[a] == distinct[b])
        return env_error("EDIFACT_BAD_UNA", "UNA",
                         std::string("UNA uses '") + distinct[a] + "' for two different separators");
  h.delims = d;
  h.has_una = true;
  h.una = text.substr(0, len);
  return len;
}

}  // namespace

Result<Interchange> read_interchange(std::string_view input, InterchangeHeader* header_on_error) {
  Interchange ic;
  InterchangeHeader& h = ic.header;
  auto fail = [&](Error e) -> Result<Interchange> {
    if (header_on_error) *header_on_error = h;
    return e;
  };
  std::size_t i = 0;
  if (input.substr(0, 3) == "\xEF\xBB\xBF") i = 3;
  while (i < input.size() && (input[i] == ' ' || input[i] == '\r' || input[i] == '\n' || input[i] == '\t')) ++i;
  std::string_view text = input.substr(i);
  if (text.empty()) return fail(env_error("EDIFACT_EMPTY", "", "the input holds no EDIFACT"));
  auto una = read_una(text, h, ic.issues);
  if (!una.ok()) return fail(std::move(una).error());
  std::size_t body_at = *una;
  std::string_view body = text.substr(body_at);
  const Delimiters& d = h.delims;
  std::vector<Tok> toks;
  bool unterminated = false;
  tokenize(body, d, toks, unterminated);
  if (toks.empty()) return fail(env_error("EDIFACT_EMPTY", "", "the input holds no segments after UNA"));
  std::size_t t = 0;
  if (toks[0].name == "UNB") {
    h.has_unb = true;
    h.unb = toks[0].full;
    std::string_view r = toks[0].raw;
    h.syntax = element_of(r, d, 1);
    h.sender = component(element_of(r, d, 2), d, 1);
    h.sender_qualifier = component(element_of(r, d, 2), d, 2);
    h.recipient = component(element_of(r, d, 3), d, 1);
    h.recipient_qualifier = component(element_of(r, d, 3), d, 2);
    h.reference = component(element_of(r, d, 5), d, 1);
    h.application = component(element_of(r, d, 7), d, 1);
    h.ack_requested = element_of(r, d, 9) == "1";
    h.test = element_of(r, d, 11) == "1";
    if (h.sender.empty() || h.recipient.empty() || h.reference.empty())
      return fail(env_error("EDIFACT_BAD_UNB", "UNB", "UNB needs a sender (2), a recipient (3) and a control reference (5)"));
    t = 1;
  } else if (toks[0].name != "UNH") {
    return fail(env_error("EDIFACT_NO_HEADER", "segment 1",
                          "an interchange starts with UNA, UNB or UNH, not '" + std::string(toks[0].name.substr(0, 8)) + "'"));
  }
  bool saw_unz = false;
  while (t < toks.size()) {
    const Tok& tk = toks[t];
    if (tk.name == "UNZ") {
      saw_unz = true;
      std::uint64_t n = 0;
      std::string_view count = element_of(tk.raw, d, 1), ref = element_of(tk.raw, d, 2);
      if (!parse_uint(count, n) || n != ic.messages.size())
        return fail(env_error("EDIFACT_MESSAGE_COUNT", "UNZ",
                              "UNZ says " + std::string(count) + " messages, the interchange holds " +
                                  std::to_string(ic.messages.size())));
      if (h.has_unb && ref != h.reference)
        return fail(env_error("EDIFACT_REFERENCE_MISMATCH", "UNZ",
                              "UNZ reference '" + std::string(ref) + "' does not match UNB reference '" +
                                  std::string(h.reference) + "'"));
      if (!h.has_unb)
        ic.issues.push_back(Issue{Severity::kWarning, "EDIFACT_UNZ_WITHOUT_UNB", "UNZ", "UNZ without UNB; ignored"});
      if (t + 1 < toks.size())
        return fail(env_error("EDIFACT_AFTER_UNZ", "UNZ", "segments after UNZ (" + std::string(toks[t + 1].name.substr(0, 8)) + ")"));
      break;
    }
    std::uint32_t index = static_cast<std::uint32_t>(ic.messages.size() + 1);
    if (tk.name != "UNH")
      return fail(env_error("EDIFACT_UNEXPECTED_SEGMENT", msg_loc(index, 0, tk.name.substr(0, 8)),
                            "expected UNH or UNZ between messages"));
    MessageSpan m;
    m.index = index;
    m.reference = element_of(tk.raw, d, 1);
    m.type = component(element_of(tk.raw, d, 2), d, 1);
    if (m.reference.empty())
      return fail(env_error("EDIFACT_BAD_UNH", msg_loc(index, 1, "UNH"), "UNH without a message reference (1)"));
    std::size_t first = t;
    ++t;
    while (t < toks.size() && toks[t].name != "UNT" && toks[t].name != "UNH" && toks[t].name != "UNZ") ++t;
    if (t >= toks.size() || toks[t].name != "UNT")
      return fail(env_error("EDIFACT_TRUNCATED", msg_loc(index, static_cast<std::uint32_t>(t - first + 1), ""),
                            "message " + std::to_string(index) + " has no UNT (truncated or a UNH inside it)"));
    const Tok& unt = toks[t];
    std::uint32_t segs = static_cast<std::uint32_t>(t - first + 1);
    std::uint64_t n = 0;
    std::string_view count = element_of(unt.raw, d, 1), ref = element_of(unt.raw, d, 2);
    if (!parse_uint(count, n) || n != segs)
      return fail(env_error("EDIFACT_SEGMENT_COUNT", msg_loc(index, segs, "UNT"),
                            "UNT says " + std::string(count) + " segments, the message has " + std::to_string(segs)));
    if (ref != m.reference)
      return fail(env_error("EDIFACT_REFERENCE_MISMATCH", msg_loc(index, segs, "UNT"),
                            "UNT reference '" + std::string(ref) + "' does not match UNH reference '" +
                                std::string(m.reference) + "'"));
    std::size_t b = toks[first].begin, e = unt.begin + unt.full.size();
    m.text = body.substr(b, e - b);
    for (const auto& prev : ic.messages)
      if (prev.reference == m.reference)
        ic.issues.push_back(Issue{Severity::kWarning, "EDIFACT_DUPLICATE_REFERENCE", msg_loc(index, 1, "UNH"),
                                  "message reference " + std::string(m.reference) + " used twice in the interchange"});
    ic.messages.push_back(m);
    ++t;
  }
  if (ic.messages.empty()) return fail(env_error("EDIFACT_NO_MESSAGES", "", "the interchange holds no UNH...UNT message"));
  if (h.has_unb && !saw_unz)
    return fail(env_error("EDIFACT_TRUNCATED", "UNZ", "the interchange has no UNZ (truncated)"));
  if (unterminated && h.has_unb)
    ic.issues.push_back(Issue{Severity::kWarning, "EDIFACT_UNTERMINATED", "", "the last segment has no terminator"});
  return ic;
}

Status EdifactParser::parse_single(std::string_view text, EdifactMessage& out) {
  auto ic = read_interchange(text);
  if (!ic.ok()) return std::move(ic).error();
  if (ic->messages.size() != 1)
    return env_error("EDIFACT_NOT_ONE_MESSAGE", "",
                     "expected one message, the interchange holds " + std::to_string(ic->messages.size()));
  Status st = parse(ic->messages.front().text, ic->header, 1, out);
  if (st.ok()) out.issues_.insert(out.issues_.begin(), ic->issues.begin(), ic->issues.end());
  return st;
}

Status EdifactParser::parse(std::string_view text, const InterchangeHeader& ctx, std::uint32_t index,
                            EdifactMessage& m) {
  m.delims_ = ctx.delims;
  m.segments_.clear();
  m.elements_.clear();
  m.groups_.clear();
  m.issues_.clear();
  m.names_.clear();
  m.interchange_ref_ = ctx.reference;
  m.sender_ = ctx.sender;
  m.recipient_ = ctx.recipient;
  const Delimiters& d = m.delims_;
  thread_local std::vector<Tok> toks;
  toks.clear();
  bool unterminated = false;
  tokenize(text, d, toks, unterminated);
  if (toks.empty() || toks.front().name != "UNH")
    return env_error("EDIFACT_NO_UNH", msg_loc(index, 1, ""), "a message starts with UNH");
  const Tok& unh = toks.front();
  m.reference_ = element_of(unh.raw, d, 1);
  std::string_view s009 = element_of(unh.raw, d, 2);
  m.type_ = component(s009, d, 1);
  m.association_ = component(s009, d, 5);
  if (m.type_.empty()) return env_error("EDIFACT_BAD_UNH", msg_loc(index, 1, "UNH"), "UNH without a message type (2.1)");
  m.identity_.clear();
  if (!ctx.reference.empty()) {
    m.identity_.append(ctx.reference).append("/").append(m.reference_);
  } else {
    // A bare message: its reference is usually "1"; name it by its content (FNV-1a).
    std::uint64_t hsh = 1469598103934665603ull;
    for (unsigned char c : text) hsh = (hsh ^ c) * 1099511628211ull;
    char buf[24];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(hsh));
    m.identity_.append(m.reference_).append("/").append(buf);
  }

  m.groups_.emplace_back();
  SourceGroup* root = &m.groups_.front();
  root->name = m.type_;
  const MessageGroups* defs = builtin_groups(m.type_);
  std::vector<SourceGroup*> stack{root};
  auto group_def_name = [&](const SourceGroup* g) { return g->name; };
  thread_local std::vector<std::pair<std::string_view, std::uint32_t>> occ;
  occ.clear();
  std::string_view previous;
  for (std::size_t k = 0; k < toks.size(); ++k) {
    const Tok& tk = toks[k];
    std::uint32_t number = static_cast<std::uint32_t>(k + 1);
    if (!valid_tag(tk.name)) {
      std::string where = stack.back() == root ? std::string() : std::string(stack.back()->name) + " ";
      return env_error("EDIFACT_BAD_SEGMENT", msg_loc(index, number, where + std::string(tk.name.substr(0, 8))),
                       "'" + std::string(tk.name.substr(0, 8)) + "' is not a segment tag (3 letters or digits)");
    }
    if (tk.name == "UNH" && k > 0)
      return env_error("EDIFACT_TRUNCATED", msg_loc(index, number, "UNH"), "UNH inside a message");
    // Group openers.
    const GroupDef* def = defs ? defs->opener(tk.name, previous) : nullptr;
    std::string generic;
    if (!def && tk.name != "UNH" && tk.name != "UNT") generic = marker_group(tk.name);
    if (tk.name == "UNT") stack.resize(1);
    if (def || !generic.empty()) {
      std::string_view gname;
      std::string_view parent;
      if (def) {
        gname = def->name;
        parent = def->parent;
      } else {
        m.names_.push_back(generic);
        gname = m.names_.back();
        m.issues_.push_back(Issue{Severity::kInfo, "EDIFACT_UNDECLARED_GROUP", msg_loc(index, number, tk.name),
                                  "marker " + std::string(tk.name) + " opens " + generic + " at message level (not in schemas/edifact)"});
      }
      // Close groups until the parent is on top.
      if (parent.empty()) {
        stack.resize(1);
      } else {
        std::size_t keep = stack.size();
        while (keep > 1 && group_def_name(stack[keep - 1]) != parent) --keep;
        if (keep == 1) {
          m.issues_.push_back(Issue{Severity::kWarning, "EDIFACT_GROUP_MISPLACED", msg_loc(index, number, tk.name),
                                    std::string(gname) + " outside its parent group " + std::string(parent) +
                                        "; placed at message level"});
        }
        stack.resize(keep);
      }
      SourceGroup* p = stack.back();
      m.groups_.emplace_back();
      SourceGroup& g = m.groups_.back();
      g.def = def;
      g.name = gname;
      g.parent = p;
      std::uint32_t same = 1;
      for (const auto& c : p->children)
        if (c.group && c.group->name == gname) ++same;
      g.index = same;
      p->children.push_back(SourceNode{&g, -1, true});
      stack.push_back(&g);
    }
    Segment s;
    s.name = tk.name;
    s.raw = tk.raw;
    s.number = number;
    s.occurrence = 1;
    for (auto& [n, c] : occ)
      if (n == tk.name) s.occurrence = ++c;
    if (s.occurrence == 1) occ.emplace_back(tk.name, 1);
    s.first_element = static_cast<std::uint32_t>(m.elements_.size());
    // Elements after the tag.
    std::size_t e = tk.raw.find(d.element);
    if (e != std::string_view::npos) {
      std::string_view rest = tk.raw.substr(e + 1);
      std::size_t start = 0;
      for (std::size_t j = 0; j <= rest.size(); ++j) {
        if (j + 1 < rest.size() && rest[j] == d.release) {
          ++j;
          continue;
        }
        if (j >= rest.size() || rest[j] == d.element) {
          m.elements_.push_back(rest.substr(start, std::min(j, rest.size()) - start));
          start = j + 1;
        }
      }
    }
    s.element_count = static_cast<std::uint32_t>(m.elements_.size() - s.first_element);
    s.group = stack.back();
    stack.back()->children.push_back(SourceNode{nullptr, static_cast<std::int32_t>(m.segments_.size()), true});
    m.segments_.push_back(s);
    previous = tk.name;
  }
  if (m.segments_.back().name != "UNT")
    return env_error("EDIFACT_TRUNCATED", msg_loc(index, static_cast<std::uint32_t>(m.segments_.size()), ""),
                     "the message has no UNT (truncated)");
  return ok_status();
}

}  // namespace dxnorm::edifact
