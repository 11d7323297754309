// libFuzzer entry for the EDIFACT reader: read_interchange (envelope checks),
// parse of every message it found and parse_single of the raw input, then
// every element and component of every segment unescaped, and the NHSACK
// built for the interchange (accepted, rejected and envelope-error forms).
// Invariants checked beyond "no crash": every view lies inside the input,
// the group tree holds each segment exactly once with consistent parents,
// UNT segment counts match what was parsed, and the NHSACK reads back as one
// well-formed interchange of one message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "pipeline/parse/edifact/edifact_message.h"
#include "pipeline/parse/edifact/nhsack.h"

namespace {

using namespace dxnorm::edifact;

void check(bool ok) {
  if (!ok) std::abort();
}

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

std::size_t walk_group(const dxnorm::SourceGroup& g, int depth) {
  check(depth < 64);
  std::size_t segments = 0;
  for (const dxnorm::SourceNode& node : g.children) {
    if (node.group != nullptr) {
      check(node.segment == -1 && node.group->parent == &g);
      segments += walk_group(*node.group, depth + 1);
    } else {
      check(node.segment >= 0);
      ++segments;
    }
  }
  return segments;
}

void read_all(const EdifactMessage& m, std::string_view input) {
  const Delimiters& d = m.delimiters();
  std::string scratch;
  volatile std::size_t sink = 0;
  for (const Segment& seg : m.segments()) {
    check(inside(seg.raw, input));
    check(seg.group != nullptr);
    for (std::size_t e = 1; e <= seg.element_count + 1; ++e) {
      const std::string_view el = m.element(seg, e);
      check(inside(el, seg.raw));
      const std::size_t n = component_count(el, d);
      for (std::size_t c = 1; c <= n + 1 && c <= 40; ++c) {
        const std::string_view comp = component(el, d, c);
        check(inside(comp, el));
        const std::string_view u = unescape(comp, d, scratch);
        check(u.size() <= comp.size());
        sink = sink + u.size();
      }
    }
  }
  check(walk_group(m.root(), 0) == m.segments().size());
  check(m.leaf_count() == m.segments().size());
  (void)sink;
}

// The NHSACK must itself be a sound interchange of exactly one message.
void check_ack(const InterchangeHeader& h, const std::vector<AckMessageResult>& results, const std::string& error,
               bool unreadable) {
  const NhsAck ack = build_nhsack(h, results, error, unreadable, 1700000000);
  auto back = read_interchange(ack.text);
  check(back.ok());
  check(back->messages.size() == 1);
  EdifactParser p;
  EdifactMessage m;
  check(p.parse(back->messages.front().text, back->header, 1, m).ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  static EdifactParser parser;
  static EdifactMessage reused;
  {
    EdifactMessage m;
    if (parser.parse_single(input, m).ok()) read_all(m, input);
  }
  InterchangeHeader on_error;
  auto ic = read_interchange(input, &on_error);
  if (!ic.ok()) {
    check(!ic.error().error_code.empty());
    if (can_acknowledge(on_error)) check_ack(on_error, {}, ic.error().error_code + ": " + ic.error().message, false);
    return 0;
  }
  std::vector<AckMessageResult> results;
  for (const MessageSpan& span : ic->messages) {
    check(inside(span.text, input));
    check(inside(span.reference, input));
    const bool ok = parser.parse(span.text, ic->header, span.index, reused).ok();
    if (ok) {
      read_all(reused, input);
      check(reused.segments().back().name == "UNT");
    }
    AckMessageResult r;
    r.reference = std::string(span.reference);
    r.accepted = ok;
    if (!ok) r.reason = "parse EDIFACT: rejected ?'+:";
    results.push_back(std::move(r));
  }
  if (can_acknowledge(ic->header)) check_ack(ic->header, results, "", false);
  return 0;
}
