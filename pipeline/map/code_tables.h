// Code tables kept as data (mappings/codes/*.yaml): a local or v2 code ->
// a FHIR code, with a declared behaviour for codes the table does not know.
//
//   table: v2-0078-interpretation
//   source-system: http://terminology.hl7.org/CodeSystem/v2-0078
//   target-system: http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation
//   unmapped: keep-original      # keep-original | default | drop | error
//   default: {code: UNK, display: Unknown}   # with unmapped: default
//   case-sensitive: false
//   entries:
//     H: {code: H, display: High}
//     "N": N                      # shorthand: target code only
//
// Immutable after loading; shared by all workers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pipeline/map/diagnostics.h"

namespace dxnorm::map {

struct CodeEntry {
  std::string code;
  std::string display;
  std::string system;  // overrides the table's target system when set
};

// Lookups by string_view without building a std::string (per message).
struct StringHash {
  using is_transparent = void;
  // FNV-1a: codes are a few characters, and this runs for every lookup of
  // every message (std::hash's murmur costs more than the table probe).
  std::size_t operator()(std::string_view s) const noexcept {
    std::uint64_t h = 14695981039346656037ull;
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    return static_cast<std::size_t>(h ^ (h >> 32));
  }
};

enum class UnmappedPolicy { kKeepOriginal, kDefault, kDrop, kError };

struct CodeTable {
  std::string name;
  std::string file;
  int line = 0;
  std::string source_system;
  std::string target_system;
  UnmappedPolicy unmapped = UnmappedPolicy::kKeepOriginal;
  CodeEntry default_entry;
  bool case_sensitive = true;
  std::unordered_map<std::string, CodeEntry, StringHash, std::equal_to<>> entries;
  std::vector<std::pair<std::string, int>> entry_lines;  // source code, line (for lint)

  // nullptr when unknown (apply `unmapped`).
  const CodeEntry* find(std::string_view code) const;

  // An open-addressing index over `entries` for find(): slots hold the key's
  // first eight bytes (packed by text_head(), short_text.h) and length, so most probes
  // compare two words, and keys are hashed from those words, not byte by byte. Built by build_index()
  // once `entries` is complete; until then find() uses `entries` itself.
  // Hazard: slots point into `entries`' nodes: rebuild after changing
  // `entries`, and after copying a table.
  void build_index();
  struct IndexSlot {
    std::uint64_t head = 0;       // bytes [0, 8) of the key, as text_head() packs them
    std::size_t size = 0;         // of the key
    const char* key = nullptr;    // the key (for bytes past the eighth)
    const CodeEntry* entry = nullptr;  // nullptr: empty slot
  };
  std::vector<IndexSlot> index;
  unsigned index_shift = 0;       // slot = hash >> index_shift
};

class CodeTables {
 public:
  // Loads every *.yaml under `dir` (recursively). Problems go to `diags`.
  void load_directory(const std::string& dir, Diagnostics& diags);
  void load_file(const std::string& path, Diagnostics& diags);
  const CodeTable* find(std::string_view name) const;
  const std::vector<std::unique_ptr<CodeTable>>& all() const noexcept { return tables_; }

 private:
  std::vector<std::unique_ptr<CodeTable>> tables_;
  std::unordered_map<std::string, const CodeTable*> by_name_;
};

}  // namespace dxnorm::map
