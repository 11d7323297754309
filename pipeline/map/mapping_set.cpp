#include "pipeline/map/mapping_set.h"

#include <Poco/DigestEngine.h>
#include <Poco/SHA1Engine.h>

#include <algorithm>
#include <filesystem>

#include "pipeline/core/fhir_schema.h"
#include "pipeline/parse/hl7v2/message_structure.h"

namespace dxnorm::map {

namespace fs = std::filesystem;

namespace {
bool skip_dir(const fs::path& p) {
  for (const auto& part : p) {
    std::string s = part.string();
    if (s == "codes" || s == "fragments" || (s.size() > 6 && s.ends_with(".tests"))) return true;
  }
  return false;
}

// Everything of a table that changes a translation, in a stable order.
std::string table_fingerprint(const CodeTable& t) {
  std::string f = t.name + '\n' + t.source_system + '\n' + t.target_system + '\n' +
                  std::to_string(static_cast<int>(t.unmapped)) + (t.case_sensitive ? "cs\n" : "ci\n") +
                  t.default_entry.code + '\t' + t.default_entry.display + '\t' + t.default_entry.system + '\n';
  std::vector<std::pair<std::string, const CodeEntry*>> entries;
  for (const auto& [k, e] : t.entries) entries.emplace_back(k, &e);
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [k, e] : entries) f += k + '\t' + e->code + '\t' + e->display + '\t' + e->system + '\n';
  return f;
}

int specificity(const CompiledMapping& m) {
  return (m.sending_applications.empty() ? 0 : 2) + (m.sending_facilities.empty() ? 0 : 1);
}
}  // namespace

std::shared_ptr<const MappingSet> MappingSet::load(const std::string& dir, const LoaderOptions& options,
                                                   Diagnostics* warnings) {
  std::vector<std::string> files;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    Diagnostics d;
    Diagnostic x;
    x.file = dir;
    x.message = "mappings directory not found";
    d.add(x);
    throw LoadFailure(std::move(d));
  }
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file() || it->path().extension() != ".yaml") continue;
    if (skip_dir(fs::relative(it->path(), dir).parent_path())) continue;
    files.push_back(it->path().string());
  }
  std::sort(files.begin(), files.end());
  LoaderOptions whole = options;
  whole.whole_set = true;
  return load_files(files, (fs::path(dir) / "codes").string(), whole, warnings);
}

std::shared_ptr<const MappingSet> MappingSet::load_files(const std::vector<std::string>& files,
                                                         const std::string& codes_dir,
                                                         const LoaderOptions& options, Diagnostics* warnings) {
  auto set = std::make_shared<MappingSet>();
  Diagnostics diags;
  if (fs::is_directory(codes_dir)) set->tables_.load_directory(codes_dir, diags);
  Poco::SHA1Engine hash;
  for (const auto& f : files) {
    auto m = load_mapping(f, set->tables_, fhir::FhirSchema::builtin(), hl7v2::StructureRegistry::builtin(), options,
                          diags);
    if (m) {
      hash.update(m->content_hash);
      set->mappings_.push_back(std::move(m));
    }
  }
  // The version must change with any entry, not just with the table's size.
  for (const auto& t : set->tables_.all()) hash.update(table_fingerprint(*t));
  if (options.lint && options.whole_set && !diags.has_errors()) {
    // A code table no mapping reads is either dead or a typo in a mapping.
    // Not when a mapping failed to load: its tables would look unused.
    for (const auto& t : set->tables_.all()) {
      bool used = false;
      for (const auto& m : set->mappings_)
        for (const CodeTable* u : m->tables_used) used = used || u == t.get();
      if (!used) {
        Diagnostic d;
        d.severity = Diagnostic::Severity::kWarning;
        d.file = t->file;
        d.line = t->line;
        d.column = 1;
        d.message = "code table '" + t->name + "' is not used by any mapping";
        diags.add(d);
      }
    }
  }
  // Two mappings claiming the same route with the same specificity are ambiguous.
  for (std::size_t i = 0; i < set->mappings_.size(); ++i)
    for (std::size_t j = i + 1; j < set->mappings_.size(); ++j) {
      const auto& a = *set->mappings_[i];
      const auto& b = *set->mappings_[j];
      if (a.name == b.name) {
        Diagnostic d;
        d.file = b.file;
        d.line = 1;
        d.column = 1;
        d.message = "mapping name '" + b.name + "' is also used by " + a.file;
        diags.add(d);
      }
      if (a.format != b.format || a.sending_applications != b.sending_applications ||
          a.sending_facilities != b.sending_facilities)
        continue;
      for (const auto& ma : a.messages)
        if (std::find(b.messages.begin(), b.messages.end(), ma) != b.messages.end()) {
          Diagnostic d;
          d.file = b.file;
          d.line = 1;
          d.column = 1;
          d.message = "message " + ma + " is routed by both " + a.name + " and " + b.name +
                      " (narrow one with input.sending-application / sending-facility)";
          diags.add(d);
        }
    }
  if (diags.has_errors()) throw LoadFailure(std::move(diags));
  if (warnings)
    for (const auto& d : diags.items()) warnings->add(d);
  set->version_ = Poco::DigestEngine::digestToHex(hash.digest()).substr(0, 12);
  return set;
}

const CompiledMapping* MappingSet::route(const RouteKey& key) const {
  const CompiledMapping* best = nullptr;
  int best_score = -1;
  for (const auto& m : mappings_) {
    if (m->format != key.format) continue;
    bool type_ok = false;
    for (const auto& msg : m->messages) {
      auto caret = msg.find('^');
      std::string_view t(msg.data(), caret), tr(msg.data() + caret + 1, msg.size() - caret - 1);
      if (t == key.message_type && (tr == key.trigger || tr == "*")) type_ok = true;
    }
    if (!type_ok) continue;
    if (!m->sending_applications.empty() &&
        std::find(m->sending_applications.begin(), m->sending_applications.end(), key.sending_application) ==
            m->sending_applications.end())
      continue;
    if (!m->sending_facilities.empty() &&
        std::find(m->sending_facilities.begin(), m->sending_facilities.end(), key.sending_facility) ==
            m->sending_facilities.end())
      continue;
    int score = specificity(*m);
    if (score > best_score) {
      best = m.get();
      best_score = score;
    }
  }
  return best;
}

const CompiledMapping* MappingSet::find(std::string_view name) const {
  for (const auto& m : mappings_)
    if (m->name == name) return m.get();
  return nullptr;
}

}  // namespace dxnorm::map
