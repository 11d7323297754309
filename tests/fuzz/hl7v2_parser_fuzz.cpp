// libFuzzer entry: split_messages + parse + read every field, repetition,
// component and subcomponent of every segment and unescape each leaf.
// Invariants checked beyond "no crash": every view lies inside the input,
// group tree pointers are consistent, and parse is repeatable into a reused
// Message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "pipeline/parse/hl7v2/hl7v2_parser.h"
#include "pipeline/parse/hl7v2/hl7v2_value.h"

namespace {

using namespace dxnorm::hl7v2;

void check(bool ok) {
  if (!ok) std::abort();
}

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

std::size_t walk_group(const Message& m, const Group& g, int depth) {
  check(depth < 64);
  std::size_t segments = 0;
  for (const GroupNode& node : g.children) {
    if (node.group != nullptr) {
      check(node.segment == -1 && node.group->parent == &g);
      segments += walk_group(m, *node.group, depth + 1);
    } else {
      check(m.segment_of(node) != nullptr);
      ++segments;
    }
  }
  return segments;
}

void read_all(const Message& m, std::string_view input) {
  const Delimiters& d = m.delimiters();
  std::string scratch;
  volatile std::size_t sink = 0;
  for (const Segment& seg : m.segments()) {
    check(inside(seg.raw, input));
    for (int f = 1; f <= static_cast<int>(seg.field_count) + 1; ++f) {
      const std::string_view field = m.field(seg, f);
      check(inside(field, seg.raw));
      const std::size_t reps = count_parts(field, d.repetition);
      for (std::size_t r = 1; r <= reps && r <= 50; ++r) {
        const std::string_view rep = repetition(field, d, r);
        // The split repetition (what mappings read through) agrees with the
        // nested splitters, reading up to the end of the message text.
        RepParts parts;
        split_repetition(field, d, r, m.text().data() + m.text().size(), parts);
        check(parts.part(0, 0) == rep);
        for (std::size_t c = 1; c <= count_parts(rep, d.component) + 1 && c <= 40; ++c) {
          const std::string_view comp = component(rep, d, c);
          check(parts.part(c, 0) == comp);
          check(parts.leaf(c, 0) == subcomponent(comp, d, 1));
          std::string_view fused;
          check(parts.part_and_leaf(c, 0, fused) == !comp.empty());
          for (std::size_t s = 1; s <= 3; ++s) check(parts.part(c, s) == subcomponent(comp, d, s));
        }
        for (std::size_t c = 1; c <= count_parts(rep, d.component) && c <= 30; ++c) {
          const std::string_view comp = component(rep, d, c);
          for (std::size_t s = 1; s <= count_parts(comp, d.subcomponent) && s <= 20; ++s) {
            const std::string_view sub = subcomponent(comp, d, s);
            check(inside(sub, field));
            sink = sink + unescape(sub, d, scratch).size() + is_explicit_null(sub);
          }
          sink = sink + unescape(comp, d, scratch).size();
        }
      }
    }
  }
  check(walk_group(m, m.root(), 0) == m.segments().size());
  for (const Group& g : m.groups()) sink = sink + m.path(g).size();
  (void)sink;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  static const Hl7v2Parser parser;
  static Message reused;
  // The raw input as one message (parse must cope with framing bytes too).
  {
    Message m;
    if (parser.parse(input, m).ok()) read_all(m, input);
  }
  auto split = split_messages(input);
  if (!split.ok()) {
    check(!split.error().error_code.empty());
    return 0;
  }
  for (std::string_view msg : split->messages) {
    check(inside(msg, input));
    if (parser.parse(msg, reused).ok()) read_all(reused, input);
  }
  return 0;
}
