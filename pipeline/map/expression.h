// The expression language of mappings (strings starting with `=` in a
// template; conditions, keys and `$each` paths without it).
//
//   OBX-5.1                      a path (see hl7v2_path.h)
//   'text'  "text"  42           literals
//   ORC-3.1 ?? OBR-3.1           fallback: the first side that has a value
//   'urn:oid:' + OBR-3.3         concatenation (empty if any part is empty)
//   OBX-2 = 'NM'   OBX-2 != 'NM' comparison (as text)
//   OBX-2 in ['ST', 'TX', 'FT']  membership
//   a and b   a or b   not a     logic (a value is true when present)
//   PID-7 | date                 a function applied to the value(s)
//   OBX-8 | map('v2-0078-interpretation')
//   join(' ', PID-5.2, PID-5.3)  a function call
//
// Compiled once at load time into a tree; evaluation pushes Values onto
// EvalContext::stack and allocates nothing in steady state.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/map/eval_types.h"
#include "pipeline/map/source_format.h"

namespace date {
class time_zone;
}

namespace dxnorm::map {

class CodeTables;
struct CodeTable;

// What compile() needs to resolve names; lives as long as the plan.
struct CompileEnv {
  const CodeTables* tables = nullptr;
  const SourceFormat* format = nullptr;        // how paths are written and read
  PathContext paths;                           // what paths are checked against
  std::vector<std::string>* warnings = nullptr;  // non-fatal findings
  std::vector<const CodeTable*>* tables_used = nullptr;
};

// What eval() needs at run time.
struct RuntimeEnv {
  const date::time_zone* zone = nullptr;
};

// Layout: the fields evaluation reads come first (one or two cache lines per
// node); the mapping plan is walked for every message and is larger than L1.
struct Expr {
  enum class Kind : unsigned char {
    kLiteral, kPath, kFallback, kConcat, kEq, kNe, kIn, kAnd, kOr, kNot, kCall, kList,
  };
  Kind kind = Kind::kLiteral;
  // True when the expression reads several values (a path with (*), join...).
  bool multi = false;
  // Single-value paths and literals, alone or in `??` chains: eval_text reads
  // them directly (no value stack, no memo: the memo costs as much as the read).
  bool simple = false;
  // eval() pushes at most one value: a literal, a `single` path, `??` of those.
  bool one_value = false;
  // A function of one value (date, decimal, map('t'), rangeLow...) applied to
  // a one_value argument: evaluated on a local Value (eval_unary), without
  // the value stack.
  bool unary = false;
  int fn = -1;                 // function id for kCall
  // Identity for the per-message memo: the same text means the same value in
  // the same scope, wherever it is written. 0 for sub-expressions (no memo).
  std::size_t memo_id = 0;
  std::unique_ptr<SourcePath> path;
  const CodeTable* table = nullptr;
  std::vector<std::unique_ptr<Expr>> args;
  std::string literal;
  std::string text;            // source text (set on whole expressions only)

  // Pushes results on ctx.stack; returns how many were pushed.
  std::size_t eval(const Scope& scope, EvalContext& ctx, const RuntimeEnv& env) const;
  // First non-empty value as text, or empty (clears what it pushed). `first`
  // receives that value (with its position) when the result is not empty;
  // otherwise its content is unspecified.
  std::string_view eval_text(const Scope& scope, EvalContext& ctx, const RuntimeEnv& env,
                             Value* first = nullptr) const;
  bool eval_bool(const Scope& scope, EvalContext& ctx, const RuntimeEnv& env) const;

 private:
  bool read_simple(const Scope& scope, EvalContext& ctx, Value& out) const;
  // eval_text() past its literal and `simple` cases.
  [[gnu::noinline]] std::string_view eval_text_rest(const Scope& scope, EvalContext& ctx, const RuntimeEnv& env,
                                                    Value* first) const;
  // For `unary` calls: what eval() would push, into `out` (a fresh Value);
  // false when it pushes nothing. `out.text` may be empty when true.
  bool eval_unary(const Scope& scope, EvalContext& ctx, const RuntimeEnv& env, Value& out) const;
  bool test(const Scope& scope, EvalContext& ctx, const RuntimeEnv& env) const;
  // eval_bool() of and / or / not / = / != / in.
  [[gnu::noinline]] bool eval_logic(const Scope& scope, EvalContext& ctx, const RuntimeEnv& env) const;
};

using ExprPtr = std::unique_ptr<Expr>;

// Compile `text`; on failure returns nullptr and sets `error` with the
// column (0-based, within text) where it went wrong.
ExprPtr compile_expression(std::string_view text, const CompileEnv& env, std::string& error, int& error_column);

// FHIR decimal lexical form of a number as written ("+1.50" -> "1.50",
// ".5" -> "0.5", "007" -> "7"); false when it is not a number.
bool normalise_decimal(std::string_view in, std::string& out);
// The same, without a copy when `in` (less surrounding spaces) is already in
// that form: `out` is then a view of `in`, else of `buf`.
bool decimal_form(std::string_view in, std::string& buf, std::string_view& out);

// Names of the functions, for lint messages and the README.
const std::vector<std::string>& function_names();

}  // namespace dxnorm::map
