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
#include "pipeline/map/short_text.h"
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

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

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
  // eval() pushes at most one value, and eval_one() gives it without the value
  // stack: literals, `single` paths, `??` and `+` of those, functions of one
  // value (date, map('t'), exists...) of those, logic decided by test().
  bool direct = false;
  // How eval_text() and eval_bool() begin; decided by compile_expression().
  enum class Shape : unsigned char {
    kLiteral,   // `literal`
    kPath,      // a `simple` path: its first value with text
    kRead,      // other `simple` expressions (`??` chains): the first of `reads` with text
    kReadTest,  // `x | exists`, `x | empty` of a simple x: decided by the read, no memo
    kDirect,    // a `direct` sub-expression (no memo): eval_one()
    kLogic,     // and / or / not / = / != / in: test(), through the memo when whole
    kOther,     // eval_text_rest(): the memo, then eval_one() or the value stack
  };
  Shape shape = Shape::kOther;
  int fn = -1;                 // function id for kCall
  // eval_text() of this shape (a path read inline aside), chosen with
  // `shape` by compile_expression(): one indirect call instead of a call
  // and a switch. The default, text_any(), handles every shape.
  using TextFn = std::string_view (*)(const Expr&, const Scope&, EvalContext&, const RuntimeEnv&, Value*);
  TextFn text_fn = &Expr::text_any;
  // eval_bool() of this shape, chosen likewise: a path's read, the memo of
  // whole logic, or bool_any() (every shape).
  using BoolFn = bool (*)(const Expr&, const Scope&, EvalContext&, const RuntimeEnv&);
  BoolFn bool_fn = &Expr::bool_any;
  // For functions of one value (date, map('t'), rangeLow...): what the
  // function does to each value eval() keeps; false drops the value.
  using ApplyFn = bool (*)(const Expr&, Value&, EvalContext&, const RuntimeEnv&);
  ApplyFn apply = nullptr;
  // Identity for the per-message memo: the same text means the same value in
  // the same scope, wherever it is written. 0 for sub-expressions (no memo).
  std::size_t memo_id = 0;
  MemoKey memo_key;            // memo_id's part of EvalContext::memo_slot()
  // A `simple` expression as the reads it tries in order: a path, or a
  // literal when `path` is null (one step for a path or literal alone).
  // Views into this tree's own paths and literals.
  struct ReadStep {
    const SourcePath* path = nullptr;
    std::string_view literal;
  };
  std::vector<ReadStep> reads;
  // The literals test() compares with, prepared once: the list of `x in
  // [literals]`, or the right side of `x = 'literal'` / `x != 'literal'`.
  // Views into this tree's own literals.
  std::vector<TextKey> keys;
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
  // A `simple` path (most calls) is read here, in the caller: one call (the
  // path's read) instead of two; every other shape through text_fn.
  std::string_view eval_text(const Scope& scope, EvalContext& ctx, const RuntimeEnv& env,
                             Value* first = nullptr) const {
    if (shape == Shape::kPath && first)
      return path->read_first(scope, ctx, *first) && !first->text.empty() ? first->text : std::string_view{};
    return text_fn(*this, scope, ctx, env, first);
  }
  bool eval_bool(const Scope& scope, EvalContext& ctx, const RuntimeEnv& env) const {
    return bool_fn(*this, scope, ctx, env);
  }

 private:
  friend ExprPtr compile_expression(std::string_view, const CompileEnv&, std::string&, int&);
  // eval_text() of any shape (kPath included).
  std::string_view eval_text_shaped(const Scope& scope, EvalContext& ctx, const RuntimeEnv& env, Value* first) const;
  // The text_fn of each shape: text_any() is eval_text_shaped(), which
  // calls the others for their shapes (text_memo: kLogic and kOther).
  static std::string_view text_any(const Expr& e, const Scope& scope, EvalContext& ctx, const RuntimeEnv& env,
                                   Value* first);
  static std::string_view text_path(const Expr& e, const Scope& scope, EvalContext& ctx, const RuntimeEnv& env,
                                    Value* first);
  static std::string_view text_read(const Expr& e, const Scope& scope, EvalContext& ctx, const RuntimeEnv& env,
                                    Value* first);
  static std::string_view text_memo(const Expr& e, const Scope& scope, EvalContext& ctx, const RuntimeEnv& env,
                                    Value* first);
  // The bool_fn of each shape: bool_any() is truth().
  static bool bool_any(const Expr& e, const Scope& scope, EvalContext& ctx, const RuntimeEnv& env);
  static bool bool_path(const Expr& e, const Scope& scope, EvalContext& ctx, const RuntimeEnv& env);
  static bool bool_logic(const Expr& e, const Scope& scope, EvalContext& ctx, const RuntimeEnv& env);
  // Sets text_fn and bool_fn from shape (and memo_id), in this tree.
  void choose_text_fns();
  // For `simple` expressions: the first value with text, into `out`; false
  // when there is none (`out` then unspecified). read_chain(): the same
  // through `reads`, for any simple shape.
  [[gnu::always_inline]] bool read_simple(const Scope& scope, EvalContext& ctx, Value& out) const;
  bool read_chain(const Scope& scope, EvalContext& ctx, Value& out) const;
  [[gnu::always_inline]] bool read_steps(const Scope& scope, EvalContext& ctx, Value& out) const;  // read_chain() inline
  // For `direct` expressions: what eval() would push, into `out` (its
  // content is unspecified when false); false when it pushes nothing.
  // `out.text` may be empty when true.
  bool eval_one(const Scope& scope, EvalContext& ctx, const RuntimeEnv& env, Value& out) const;
  // eval_one() of `a + b` (two Values: a larger frame than eval_one's other cases need).
  [[gnu::noinline]] bool concat_one(const Scope& scope, EvalContext& ctx, const RuntimeEnv& env, Value& out) const;
  // For `direct` or `simple` expressions: the first value with text that
  // eval() would push, into `out`; false when there is none.
  [[gnu::always_inline]] bool eval_first(const Scope& scope, EvalContext& ctx, const RuntimeEnv& env, Value& out) const;
  // eval_bool() in the caller's frame (logic decides its operands with it).
  [[gnu::always_inline]] bool truth(const Scope& scope, EvalContext& ctx, const RuntimeEnv& env) const;
  // eval_text() of the shapes kLogic and kOther, into `v` (as eval_text()'s
  // `first`): through the memo for whole expressions.
  [[gnu::noinline]] std::string_view eval_text_rest(const Scope& scope, EvalContext& ctx, const RuntimeEnv& env,
                                                    Value& v) const;
  // The first non-empty value eval() pushes, into `v`; false when none.
  [[gnu::noinline]] bool first_on_stack(const Scope& scope, EvalContext& ctx, const RuntimeEnv& env, Value& v) const;
  bool test(const Scope& scope, EvalContext& ctx, const RuntimeEnv& env) const;
  // eval_bool() of whole and / or / not / = / != / in: test() through the memo.
  [[gnu::noinline]] bool eval_logic(const Scope& scope, EvalContext& ctx, const RuntimeEnv& env) const;
};

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
