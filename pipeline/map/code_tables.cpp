#include "pipeline/map/code_tables.h"

#include <yaml-cpp/yaml.h>

#include "pipeline/map/short_text.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

namespace dxnorm::map {

// yaml-cpp: a default-constructed Node is "defined" (a null); absent means
// never assigned or an explicit null.
inline bool present(const YAML::Node& n) { return n.IsDefined() && !n.IsNull(); }

namespace {
std::string lower(std::string_view s) {
  std::string r(s);
  std::transform(r.begin(), r.end(), r.begin(), [](unsigned char c) { return std::tolower(c); });
  return r;
}
}  // namespace

namespace {
// Keys are indexed by text_head() (short_text.h) and size.
inline std::uint64_t key_hash(std::uint64_t head, std::size_t size) noexcept {
  return (head + size) * 0x9E3779B97F4A7C15ull;
}
}  // namespace

void CodeTable::build_index() {
  std::size_t n = 2;
  while (n < 2 * entries.size()) n *= 2;  // at most half full
  index.assign(n, IndexSlot{});
  index_shift = 64u - static_cast<unsigned>(__builtin_ctzll(n));
  for (const auto& [k, e] : entries) {
    const std::uint64_t head = text_head(k);
    std::size_t i = key_hash(head, k.size()) >> index_shift;
    while (index[i].entry) i = (i + 1) & (n - 1);
    index[i] = IndexSlot{head, k.size(), k.data(), &e};
  }
}

namespace {
// Probes the index (same answers as entries.find(), keys being unique).
// Keys of at most 8 bytes (most codes) are settled by head and size alone,
// in a frame without the tail compare of longer keys.
[[gnu::always_inline]] inline const CodeEntry* probe_index_short(const CodeTable& t, std::string_view k) {
  const std::uint64_t head = text_head(k);
  const std::size_t mask = t.index.size() - 1;
  for (std::size_t i = key_hash(head, k.size()) >> t.index_shift;; i = (i + 1) & mask) {
    const CodeTable::IndexSlot& s = t.index[i];
    if (!s.entry) return nullptr;
    if (s.head == head && s.size == k.size()) return s.entry;
  }
}

[[gnu::noinline]] const CodeEntry* probe_index_long(const CodeTable& t, std::string_view k) {
  const std::uint64_t head = text_head(k);
  const std::size_t mask = t.index.size() - 1;
  for (std::size_t i = key_hash(head, k.size()) >> t.index_shift;; i = (i + 1) & mask) {
    const CodeTable::IndexSlot& s = t.index[i];
    if (!s.entry) return nullptr;
    if (s.head == head && s.size == k.size() &&
        same_text(std::string_view(s.key + 8, k.size() - 8), std::string_view(k.data() + 8, k.size() - 8)))
      return s.entry;
  }
}

inline const CodeEntry* probe_index(const CodeTable& t, std::string_view k) {
  return k.size() <= 8 ? probe_index_short(t, k) : probe_index_long(t, k);
}

// find() of case-insensitive tables and of tables without an index.
[[gnu::noinline]] const CodeEntry* find_general(const CodeTable& t, std::string_view code) {
  if (t.case_sensitive) {
    auto it = t.entries.find(code);
    return it == t.entries.end() ? nullptr : &it->second;
  }
  char buf[64];
  if (code.size() <= sizeof buf) {
    for (std::size_t i = 0; i < code.size(); ++i)
      buf[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(code[i])));
    if (!t.index.empty()) return probe_index(t, std::string_view(buf, code.size()));
    auto it = t.entries.find(std::string_view(buf, code.size()));
    return it == t.entries.end() ? nullptr : &it->second;
  }
  auto it = t.entries.find(lower(code));
  return it == t.entries.end() ? nullptr : &it->second;
}
}  // namespace

const CodeEntry* CodeTable::find(std::string_view code) const {
  // The common case (case-sensitive, indexed) in a small frame.
  if (case_sensitive && !index.empty()) return probe_index(*this, code);
  return find_general(*this, code);
}

void CodeTables::load_directory(const std::string& dir, Diagnostics& diags) {
  std::vector<std::string> files;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file() && it->path().extension() == ".yaml") files.push_back(it->path().string());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) load_file(f, diags);
}

static bool read_entry(const YAML::Node& n, CodeEntry& e, const std::string& file, Diagnostics& diags) {
  if (n.IsScalar()) {
    e.code = n.as<std::string>();
    return true;
  }
  if (!n.IsMap()) {
    diags.error(file, n, "a code table entry is a code or a map {code, display, system}");
    return false;
  }
  for (const auto& kv : n) {
    std::string k = kv.first.as<std::string>();
    if (k == "code") e.code = kv.second.as<std::string>();
    else if (k == "display") e.display = kv.second.as<std::string>();
    else if (k == "system") e.system = kv.second.as<std::string>();
    else diags.error(file, kv.first, "unknown key '" + k + "' in code entry (expected code, display, system)");
  }
  if (e.code.empty()) {
    diags.error(file, n, "code entry without 'code'");
    return false;
  }
  return true;
}

void CodeTables::load_file(const std::string& path, Diagnostics& diags) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    Diagnostic d;
    d.file = path;
    d.line = e.mark.line + 1;
    d.column = e.mark.column + 1;
    d.message = "YAML syntax: " + e.msg;
    diags.add(d);
    return;
  }
  if (!root.IsMap()) {
    diags.error(path, root, "a code table file is a map with 'table' and 'entries'");
    return;
  }
  auto t = std::make_unique<CodeTable>();
  t->file = path;
  t->line = root.Mark().line + 1;
  YAML::Node entries;
  for (const auto& kv : root) {
    std::string k = kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    if (k == "table") t->name = v.as<std::string>();
    else if (k == "description") {
    } else if (k == "source-system") t->source_system = v.as<std::string>();
    else if (k == "target-system") t->target_system = v.as<std::string>();
    else if (k == "case-sensitive") t->case_sensitive = v.as<bool>();
    else if (k == "unmapped") {
      std::string p = v.as<std::string>();
      if (p == "keep-original") t->unmapped = UnmappedPolicy::kKeepOriginal;
      else if (p == "default") t->unmapped = UnmappedPolicy::kDefault;
      else if (p == "drop") t->unmapped = UnmappedPolicy::kDrop;
      else if (p == "error") t->unmapped = UnmappedPolicy::kError;
      else diags.error(path, v, "unmapped must be one of keep-original, default, drop, error");
    } else if (k == "default") {
      read_entry(v, t->default_entry, path, diags);
    } else if (k == "entries") {
      entries.reset(v);
    } else {
      diags.error(path, kv.first,
                  "unknown key '" + k +
                      "' in code table (expected table, description, source-system, target-system, "
                      "unmapped, default, case-sensitive, entries)");
    }
  }
  if (t->name.empty()) diags.error(path, root, "code table without 'table' name");
  if (t->unmapped == UnmappedPolicy::kDefault && t->default_entry.code.empty())
    diags.error(path, root, "unmapped: default needs a 'default' entry");
  if (!present(entries) || !entries.IsMap()) {
    diags.error(path, present(entries) ? entries : root, "code table needs 'entries' (a map of source code -> target)");
  } else {
    for (const auto& kv : entries) {
      std::string src = kv.first.as<std::string>();
      CodeEntry e;
      if (!read_entry(kv.second, e, path, diags)) continue;
      std::string key = t->case_sensitive ? src : lower(src);
      int line = kv.first.Mark().line + 1;
      auto [it, inserted] = t->entries.emplace(key, e);
      if (!inserted) {
        bool conflict = it->second.code != e.code || it->second.system != e.system;
        diags.error(path, kv.first,
                    std::string(conflict ? "conflicting" : "duplicate") + " entry for source code '" + src +
                        "' in table " + t->name);
      }
      t->entry_lines.emplace_back(src, line);
    }
  }
  t->build_index();
  if (!t->name.empty()) {
    if (by_name_.count(t->name)) {
      diags.error(path, root, "code table '" + t->name + "' is defined twice (also in " + by_name_[t->name]->file + ")");
      return;
    }
    by_name_[t->name] = t.get();
    tables_.push_back(std::move(t));
  }
}

const CodeTable* CodeTables::find(std::string_view name) const {
  auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? nullptr : it->second;
}

}  // namespace dxnorm::map
