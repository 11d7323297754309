// Code table lookups through the open-addressing index give what the
// entries map gives: every key (short, exactly eight bytes, long keys that
// share their first eight bytes), case folding, and codes not in the table.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "pipeline/map/code_tables.h"
#include "tests/unit/map/map_test_util.h"

using namespace dxnorm::map;
using namespace dxnorm::map::test;

TEST_CASE("code table index: the same answers as the entries map") {
  MapDir dir;
  std::string sens = "table: sens\nunmapped: drop\nentries:\n";
  std::string fold = "table: fold\nunmapped: drop\ncase-sensitive: false\nentries:\n";
  std::vector<std::string> keys = {"A", "N", "H", "LN", "UCUM", "12345678", "123456789", "12345678X", "12345678Y",
                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "ABCDEFGHIJKLMNOPQRSTUVWXYz", "2.16.840.1.113883.6.1"};
  for (int i = 0; i < 40; ++i) keys.push_back("K" + std::to_string(i * 7919));
  for (std::size_t i = 0; i < keys.size(); ++i) {
    sens += "  \"" + keys[i] + "\": c" + std::to_string(i) + "\n";
    if (keys[i] != "ABCDEFGHIJKLMNOPQRSTUVWXYz") fold += "  \"" + keys[i] + "\": c" + std::to_string(i) + "\n";
  }
  dir.write("codes/sens.yaml", sens);
  dir.write("codes/fold.yaml", fold);
  dir.write("codes/empty.yaml", "table: empty\nunmapped: drop\nentries: {}\n");
  dir.load_tables();
  const CodeTable* s = dir.tables.find("sens");
  const CodeTable* f = dir.tables.find("fold");
  const CodeTable* e = dir.tables.find("empty");
  REQUIRE(s);
  REQUIRE(f);
  REQUIRE(s->index.size() >= 2 * s->entries.size());
  std::vector<std::string> probes = keys;
  for (const auto& k : keys) {
    std::string lower = k, upper = k;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    probes.push_back(lower);
    probes.push_back(upper);
    probes.push_back(k + " ");
    probes.push_back(k.substr(0, k.size() - 1));
  }
  probes.push_back("");
  probes.push_back(std::string(100, 'A'));
  for (const auto& p : probes) {
    for (const CodeTable* t : {s, f}) {
      CodeTable plain;  // the same entries without an index: entries.find()
      plain.case_sensitive = t->case_sensitive;
      plain.entries = t->entries;
      const CodeEntry* a = t->find(p);
      const CodeEntry* b = plain.find(p);
      INFO("table ", t->name, " code '", p, "'");
      REQUIRE((a == nullptr) == (b == nullptr));
      if (a) CHECK(a->code == b->code);
    }
    if (e) CHECK(e->find(p) == nullptr);
  }
  CHECK(s->find("12345678X")->code == "c7");
  CHECK(f->find("abcdefghijklmnopqrstuvwxyz")->code == "c9");
  CHECK(f->find("ln")->code == "c3");
  CHECK(s->find("ln") == nullptr);
}
