// Helpers for the mapping-language tests: a temp directory with code tables,
// a mapping written from a string, loaded, and run on one message.
#pragma once

#include <rapidjson/document.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/core/issue.h"
#include "pipeline/map/code_tables.h"
#include "pipeline/map/diagnostics.h"
#include "pipeline/map/mapping_plan.h"

namespace dxnorm::map::test {

// A temp directory (removed on destruction) holding codes/ and mapping files.
class MapDir {
 public:
  MapDir();
  ~MapDir();
  MapDir(const MapDir&) = delete;
  MapDir& operator=(const MapDir&) = delete;

  std::string write(const std::string& rel, const std::string& text);
  // Load code tables from codes/ (call after writing them).
  void load_tables();
  // Load one mapping file; nullptr on errors (see diags).
  std::unique_ptr<CompiledMapping> load(const std::string& rel);

  const std::filesystem::path& path() const { return dir_; }
  CodeTables tables;
  Diagnostics diags;

 private:
  std::filesystem::path dir_;
};

struct RunResult {
  bool ok = false;
  std::string error;               // "map CODE at LOC: message" when !ok
  rapidjson::Document bundle;      // numbers as strings (digits as written)
  Issues issues;
  const rapidjson::Value* resource(std::size_t i) const;
  std::size_t count(const std::string& type) const;
  bool has_issue(const std::string& code) const;
};

// Parse `message` (segments joined with \r) and run `mapping` on it.
std::unique_ptr<RunResult> run(const CompiledMapping& mapping, const std::string& message);

// The standard test tables (written by MapDir): t-keep, t-default, t-drop,
// t-error, each mapping A -> X (display "Ex") and B -> Y.

// Evaluate expressions on a Patient made from `message`: each expression
// becomes Patient.extension[url=name].valueString; returns name -> value
// (absent when the expression produced nothing).
struct ExprResults {
  std::map<std::string, std::string> values;
  Issues issues;
  std::string load_errors;
};
ExprResults eval_exprs(const std::vector<std::pair<std::string, std::string>>& exprs, const std::string& message,
                       const std::string& zone_line = "");

// A small ADT^A01 and ORU^R01 to read from.
extern const char* kAdt;
extern const char* kOru;

}  // namespace dxnorm::map::test
