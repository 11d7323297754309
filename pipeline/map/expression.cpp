#include "pipeline/map/expression.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

#include "pipeline/core/nhs_number.h"
#include "pipeline/map/code_tables.h"
#include "pipeline/map/datetime.h"
#include "pipeline/map/resource_id.h"

namespace dxnorm::map {

namespace {

enum Fn : int {
  kDate, kDateTime, kInstant, kTime, kDecimal, kInteger, kPositiveInt, kUpper, kLower, kTrim,
  kNhsNumber, kFirst, kLast, kCount, kExists, kEmpty, kJoin, kSplit, kSubstring, kReplace,
  kStartsWith, kContains, kMap, kDisplay, kSystem, kLines, kWhereField, kRangeLow, kRangeHigh, kBase64, kId, kSum, kBefore, kFnCount
};

struct FnSpec {
  const char* name;
  int min_args, max_args;  // including the piped value
  bool multi;              // result may hold several values
  const char* help;
};

const FnSpec kFns[kFnCount] = {
    {"date", 1, 1, true, "x | date: a source date/time as FHIR date (precision kept)"},
    {"dateTime", 1, 1, true, "x | dateTime: FHIR dateTime, zone from the value or the source zone"},
    {"instant", 1, 1, true, "x | instant: FHIR instant (needs seconds)"},
    {"time", 1, 1, true, "x | time: FHIR time"},
    {"decimal", 1, 1, true, "x | decimal: a FHIR decimal, digits kept as written"},
    {"integer", 1, 1, true, "x | integer"},
    {"positiveInt", 1, 1, true, "x | positiveInt"},
    {"upper", 1, 1, true, "x | upper"},
    {"lower", 1, 1, true, "x | lower"},
    {"trim", 1, 1, true, "x | trim: spaces removed at both ends"},
    {"nhsNumber", 1, 1, true, "x | nhsNumber: the 10 digits when the Modulus 11 check passes, else nothing and a warning"},
    {"first", 1, 1, false, "x | first"},
    {"last", 1, 1, false, "x | last"},
    {"count", 1, 1, false, "x | count"},
    {"exists", 1, 1, false, "x | exists: 'true' or nothing"},
    {"empty", 1, 1, false, "x | empty: 'true' when x has no value"},
    {"join", 2, 16, false, "join(a, b, ..., sep) or xs | join(sep): present values joined"},
    {"split", 2, 2, true, "x | split(sep)"},
    {"substring", 2, 3, true, "x | substring(start[, length]) (0-based)"},
    {"replace", 3, 3, true, "x | replace(from, to)"},
    {"startsWith", 2, 2, false, "x | startsWith(prefix): 'true' or nothing"},
    {"contains", 2, 2, false, "x | contains(text): 'true' or nothing"},
    {"map", 2, 2, true, "x | map('table'): the translated code (table's unmapped rule applies)"},
    {"display", 2, 2, true, "x | display('table'): the translated display"},
    {"system", 2, 2, true, "x | system('table'): the target system of a translated code"},
    {"lines", 1, 1, false, "xs | lines: values joined with line breaks, empty lines kept"},
    {"whereField", 3, 16, true, "xs | whereField(n, v1, v2...): keep values whose segment has field n (first component) equal to one of v1, v2..."},
    {"rangeLow", 1, 1, true, "x | rangeLow: the low end of a reference range written '3.5-5.1' or '>3.5'"},
    {"rangeHigh", 1, 1, true, "x | rangeHigh: the high end of a reference range written '3.5-5.1' or '<5.1'"},
    {"base64", 1, 1, true, "x | base64: the value's UTF-8 bytes in base64 (Attachment.data)"},
    {"id", 2, 16, false, "id('Type', key1, key2...): the deterministic id a resource of that type with those id keys gets"},
    {"sum", 1, 1, false, "xs | sum: the sum of integer values; nothing when there are none"},
    {"before", 2, 2, true, "x | before(sep): the part before the first sep (the whole value when sep is absent)"},
};

// ---- lexer ----
enum class Tok { kEnd, kPath, kIdent, kString, kNumber, kLParen, kRParen, kLBracket, kRBracket, kComma,
                 kFallback, kPlus, kEq, kNe, kPipe, kError };

struct Token {
  Tok kind;
  std::string_view text;
  std::string value;  // unescaped string literal
  int col;
};

class Lexer {
 public:
  Lexer(std::string_view s, const SourceFormat* format) : s_(s), format_(format) { advance(); }
  const Token& cur() const { return cur_; }
  void advance() { cur_ = next(); }

 private:
  Token next() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
    int col = static_cast<int>(i_);
    if (i_ >= s_.size()) return {Tok::kEnd, {}, {}, col};
    char c = s_[i_];
    auto one = [&](Tok t) {
      ++i_;
      return Token{t, s_.substr(col, 1), {}, col};
    };
    if (c == '(') return one(Tok::kLParen);
    if (c == ')') return one(Tok::kRParen);
    if (c == '[') return one(Tok::kLBracket);
    if (c == ']') return one(Tok::kRBracket);
    if (c == ',') return one(Tok::kComma);
    if (c == '+') return one(Tok::kPlus);
    if (c == '=') return one(Tok::kEq);
    if (c == '|') return one(Tok::kPipe);
    if (c == '?' && i_ + 1 < s_.size() && s_[i_ + 1] == '?') {
      i_ += 2;
      return {Tok::kFallback, s_.substr(col, 2), {}, col};
    }
    if (c == '!' && i_ + 1 < s_.size() && s_[i_ + 1] == '=') {
      i_ += 2;
      return {Tok::kNe, s_.substr(col, 2), {}, col};
    }
    if (c == '\'' || c == '"') {
      char q = c;
      ++i_;
      std::string v;
      while (i_ < s_.size() && s_[i_] != q) {
        if (s_[i_] == '\\' && i_ + 1 < s_.size()) {
          char e = s_[i_ + 1];
          v.push_back(e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e);
          i_ += 2;
        } else {
          v.push_back(s_[i_++]);
        }
      }
      if (i_ >= s_.size()) return {Tok::kError, "unterminated string literal", {}, col};
      ++i_;
      return {Tok::kString, s_.substr(col, i_ - col), std::move(v), col};
    }
    if (format_) {
      // The format decides what a path looks like (HL7 `PID-3(2).1`, DICOM
      // `StudyInstanceUID` or `0020000D`); it is asked before numbers.
      std::size_t n = format_->path_token(s_.substr(i_));
      if (n > 0) {
        i_ += n;
        return {Tok::kPath, s_.substr(col, n), {}, col};
      }
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || (c == '-' && i_ + 1 < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_ + 1])))) {
      ++i_;
      while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.')) ++i_;
      return {Tok::kNumber, s_.substr(col, i_ - col), std::string(s_.substr(col, i_ - col)), col};
    }
    if (std::islower(static_cast<unsigned char>(c))) {
      while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_')) ++i_;
      return {Tok::kIdent, s_.substr(col, i_ - col), {}, col};
    }
    ++i_;
    return {Tok::kError, s_.substr(col, 1), {}, col};
  }

  std::string_view s_;
  const SourceFormat* format_;
  std::size_t i_ = 0;
  Token cur_;
};

// ---- parser ----
class Parser {
 public:
  Parser(std::string_view text, const CompileEnv& env) : text_(text), lx_(text, env.format), env_(env) {}

  ExprPtr parse(std::string& error, int& column) {
    ExprPtr e = parse_or();
    if (e && lx_.cur().kind != Tok::kEnd) fail("unexpected '" + std::string(lx_.cur().text) + "'", lx_.cur().col);
    if (!error_.empty()) {
      error = error_;
      column = error_col_;
      return nullptr;
    }
    return e;
  }

 private:
  void fail(std::string msg, int col) {
    if (error_.empty()) {
      error_ = std::move(msg);
      error_col_ = col;
    }
  }
  bool is_kw(std::string_view kw) const { return lx_.cur().kind == Tok::kIdent && lx_.cur().text == kw; }

  ExprPtr node(Expr::Kind k, int col_from) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    (void)col_from;
    return e;
  }
  ExprPtr binary(Expr::Kind k, ExprPtr a, ExprPtr b) {
    if (!a || !b) return nullptr;
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->multi = false;
    e->args.push_back(std::move(a));
    e->args.push_back(std::move(b));
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr a = parse_and();
    while (a && is_kw("or")) {
      lx_.advance();
      a = binary(Expr::Kind::kOr, std::move(a), parse_and());
    }
    return a;
  }
  ExprPtr parse_and() {
    ExprPtr a = parse_not();
    while (a && is_kw("and")) {
      lx_.advance();
      a = binary(Expr::Kind::kAnd, std::move(a), parse_not());
    }
    return a;
  }
  ExprPtr parse_not() {
    if (is_kw("not")) {
      lx_.advance();
      ExprPtr x = parse_not();
      if (!x) return nullptr;
      auto e = std::make_unique<Expr>();
      e->kind = Expr::Kind::kNot;
      e->args.push_back(std::move(x));
      return e;
    }
    return parse_cmp();
  }
  ExprPtr parse_cmp() {
    ExprPtr a = parse_fallback();
    if (!a) return a;
    if (lx_.cur().kind == Tok::kEq || lx_.cur().kind == Tok::kNe) {
      Expr::Kind k = lx_.cur().kind == Tok::kEq ? Expr::Kind::kEq : Expr::Kind::kNe;
      lx_.advance();
      return binary(k, std::move(a), parse_fallback());
    }
    if (is_kw("in")) {
      lx_.advance();
      if (lx_.cur().kind != Tok::kLBracket) {
        fail("expected '[' after 'in'", lx_.cur().col);
        return nullptr;
      }
      return binary(Expr::Kind::kIn, std::move(a), parse_primary());
    }
    return a;
  }
  ExprPtr parse_fallback() {
    ExprPtr a = parse_concat();
    while (a && lx_.cur().kind == Tok::kFallback) {
      lx_.advance();
      ExprPtr b = parse_concat();
      bool m = a && b && (a->multi || b->multi);
      a = binary(Expr::Kind::kFallback, std::move(a), std::move(b));
      if (a) a->multi = m;
    }
    return a;
  }
  ExprPtr parse_concat() {
    ExprPtr a = parse_pipe();
    while (a && lx_.cur().kind == Tok::kPlus) {
      lx_.advance();
      a = binary(Expr::Kind::kConcat, std::move(a), parse_pipe());
    }
    return a;
  }
  ExprPtr parse_pipe() {
    ExprPtr a = parse_primary();
    while (a && lx_.cur().kind == Tok::kPipe) {
      lx_.advance();
      if (lx_.cur().kind != Tok::kIdent) {
        fail("expected a function name after '|'", lx_.cur().col);
        return nullptr;
      }
      std::string name(lx_.cur().text);
      int col = lx_.cur().col;
      lx_.advance();
      std::vector<ExprPtr> args;
      args.push_back(std::move(a));
      if (lx_.cur().kind == Tok::kLParen) {
        if (!parse_args(args)) return nullptr;
      }
      a = make_call(name, std::move(args), col);
    }
    return a;
  }
  bool parse_args(std::vector<ExprPtr>& args) {
    lx_.advance();  // (
    if (lx_.cur().kind == Tok::kRParen) {
      lx_.advance();
      return true;
    }
    while (true) {
      ExprPtr x = parse_or();
      if (!x) return false;
      args.push_back(std::move(x));
      if (lx_.cur().kind == Tok::kComma) {
        lx_.advance();
        continue;
      }
      if (lx_.cur().kind == Tok::kRParen) {
        lx_.advance();
        return true;
      }
      fail("expected ',' or ')' in argument list", lx_.cur().col);
      return false;
    }
  }
  ExprPtr make_call(const std::string& name, std::vector<ExprPtr> args, int col) {
    int id = -1;
    for (int i = 0; i < kFnCount; ++i)
      if (name == kFns[i].name) id = i;
    if (id < 0) {
      std::string known;
      for (const auto& f : kFns) known += std::string(known.empty() ? "" : ", ") + f.name;
      fail("unknown function '" + name + "' (known: " + known + ")", col);
      return nullptr;
    }
    const FnSpec& f = kFns[id];
    int n = static_cast<int>(args.size());
    if (n < f.min_args || n > f.max_args) {
      fail("function '" + name + "' takes " + std::to_string(f.min_args - 1) +
               (f.max_args != f.min_args ? " to " + std::to_string(f.max_args - 1) : std::string()) +
               " argument(s) after the value: " + f.help,
           col);
      return nullptr;
    }
    auto e = std::make_unique<Expr>();
    e->kind = Expr::Kind::kCall;
    e->fn = id;
    e->multi = f.multi && args[0]->multi;
    if (id == kMap || id == kDisplay || id == kSystem) {
      if (args[1]->kind != Expr::Kind::kLiteral) {
        fail("the table of " + name + "() must be a quoted name", col);
        return nullptr;
      }
      const CodeTable* t = env_.tables ? env_.tables->find(args[1]->literal) : nullptr;
      if (!t) {
        fail("unknown code table '" + args[1]->literal + "' (tables live in mappings/codes/)", args[1] ? col : col);
        return nullptr;
      }
      e->table = t;
      if (env_.tables_used) env_.tables_used->push_back(t);
    }
    e->args = std::move(args);
    return e;
  }
  ExprPtr parse_primary() {
    const Token t = lx_.cur();
    switch (t.kind) {
      case Tok::kString:
      case Tok::kNumber: {
        lx_.advance();
        auto e = std::make_unique<Expr>();
        e->kind = Expr::Kind::kLiteral;
        e->literal = t.value;
        return e;
      }
      case Tok::kPath: {
        lx_.advance();
        auto e = std::make_unique<Expr>();
        e->kind = Expr::Kind::kPath;
        std::string err;
        e->path = env_.format ? env_.format->compile_path(t.text, env_.paths, err) : nullptr;
        if (!e->path) {
          fail(err.empty()                                                          ? "no input format to read paths with"
               : err.rfind("group ", 0) == 0 || err.rfind("segment ", 0) == 0 ? err
                                                                              : "bad path '" + std::string(t.text) + "': " + err,
               t.col);
          return nullptr;
        }
        e->multi = e->path->multi;
        return e;
      }
      case Tok::kIdent: {
        if (t.text == "true" || t.text == "false") {
          lx_.advance();
          auto e = std::make_unique<Expr>();
          e->kind = Expr::Kind::kLiteral;
          e->literal = t.text == "true" ? "true" : "";
          return e;
        }
        std::string name(t.text);
        lx_.advance();
        if (lx_.cur().kind != Tok::kLParen) {
          fail("'" + name + "' is not a path or literal; functions need '(' (or use it after '|')", t.col);
          return nullptr;
        }
        std::vector<ExprPtr> args;
        if (!parse_args(args)) return nullptr;
        return make_call(name, std::move(args), t.col);
      }
      case Tok::kLParen: {
        lx_.advance();
        ExprPtr e = parse_or();
        if (!e) return nullptr;
        if (lx_.cur().kind != Tok::kRParen) {
          fail("expected ')'", lx_.cur().col);
          return nullptr;
        }
        lx_.advance();
        return e;
      }
      case Tok::kLBracket: {
        lx_.advance();
        auto e = std::make_unique<Expr>();
        e->kind = Expr::Kind::kList;
        e->multi = true;
        while (lx_.cur().kind != Tok::kRBracket) {
          ExprPtr x = parse_or();
          if (!x) return nullptr;
          e->args.push_back(std::move(x));
          if (lx_.cur().kind == Tok::kComma) lx_.advance();
          else if (lx_.cur().kind != Tok::kRBracket) {
            fail("expected ',' or ']' in list", lx_.cur().col);
            return nullptr;
          }
        }
        lx_.advance();
        return e;
      }
      case Tok::kEnd:
        fail("expression ends too early", t.col);
        return nullptr;
      case Tok::kError:
        fail(t.text == "unterminated string literal" ? std::string(t.text) : "unexpected character '" + std::string(t.text) + "'", t.col);
        return nullptr;
      default:
        fail("unexpected '" + std::string(t.text) + "'", t.col);
        return nullptr;
    }
  }

  std::string_view text_;
  Lexer lx_;
  const CompileEnv& env_;
  std::string error_;
  int error_col_ = 0;
};

// ---- evaluation helpers ----
bool truthy(const std::vector<Value>& st, std::size_t base, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (!st[base + i].text.empty()) return true;
  return false;
}

// a + b in the arena (what `+` gives when both sides have text).
std::string_view joined(EvalContext& ctx, std::string_view a, std::string_view b) {
  char* p = ctx.arena.alloc(a.size() + b.size());
  std::memcpy(p, a.data(), a.size());
  std::memcpy(p + a.size(), b.data(), b.size());
  return {p, a.size() + b.size()};
}

std::string_view first_text(const std::vector<Value>& st, std::size_t base, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (!st[base + i].text.empty()) return st[base + i].text;
  return {};
}

void location_of(const Value& v, EvalContext& ctx, std::string& out) {
  out.clear();
  if (v.has_cursor && ctx.doc && ctx.format) ctx.format->describe(v.cursor, *ctx.doc, out);
}

}  // namespace

namespace {
// decimal_form() of values not already in the form (signs, spaces, leading
// zeros, a bare dot, or not a number), out of the common case's frame.
[[gnu::noinline]] bool decimal_form_general(std::string_view in, std::string& buf, std::string_view& out) {
  while (!in.empty() && in.front() == ' ') in.remove_prefix(1);
  while (!in.empty() && in.back() == ' ') in.remove_suffix(1);
  if (in.empty()) return false;
  std::string_view digits = in;
  const bool sign = digits.front() == '+' || digits.front() == '-';
  const bool neg = digits.front() == '-';
  if (sign) digits.remove_prefix(1);
  std::string_view ip = digits, fp;
  const std::size_t dot = digits.find('.');
  if (dot != std::string_view::npos) {
    ip = digits.substr(0, dot);
    fp = digits.substr(dot + 1);
  }
  if (ip.empty() && fp.empty()) return false;
  for (char c : ip)
    if (c < '0' || c > '9') return false;
  for (char c : fp)
    if (c < '0' || c > '9') return false;
  std::size_t zeros = 0;
  while (ip.size() - zeros > 1 && ip[zeros] == '0') ++zeros;
  ip.remove_prefix(zeros);
  // Already in the form ("95", "-0.5", "1.10"): the input itself.
  if ((!sign || neg) && !ip.empty() && zeros == 0 && (dot == std::string_view::npos || !fp.empty())) {
    out = in;
    return true;
  }
  buf.clear();
  if (neg) buf.push_back('-');
  if (ip.empty()) buf.push_back('0');
  else buf.append(ip);
  if (!fp.empty()) {
    buf.push_back('.');
    buf.append(fp);
  }
  out = buf;
  return true;
}
}  // namespace

bool decimal_form(std::string_view in, std::string& buf, std::string_view& out) {
  // Most values are already in the form: digits, at most one '.' followed by
  // digits, no leading zero but a lone one. They are accepted in one pass;
  // anything else goes the general way.
  if (!in.empty() && in.front() >= '0' && in.front() <= '9' && in.back() >= '0' && in.back() <= '9' &&
      (in.front() != '0' || in.size() == 1 || in[1] == '.')) {
    bool dot = false;
    for (std::size_t i = 1; i + 1 < in.size(); ++i) {
      const char c = in[i];
      if (c >= '0' && c <= '9') continue;
      if (c != '.' || dot) return decimal_form_general(in, buf, out);
      dot = true;
    }
    out = in;
    return true;
  }
  return decimal_form_general(in, buf, out);
}

bool normalise_decimal(std::string_view in, std::string& out) {
  std::string_view form;
  if (!decimal_form(in, out, form)) return false;
  if (form.data() != out.data()) out.assign(form);
  return true;
}

const std::vector<std::string>& function_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& f : kFns) v.emplace_back(f.name);
    return v;
  }();
  return names;
}

namespace {
// Functions whose eval() is a per-value transform of the piped value alone
// (no other argument is evaluated at run time): see unary_apply().
bool is_unary_fn(int fn) {
  switch (fn) {
    case kDate: case kDateTime: case kInstant: case kTime: case kDecimal: case kInteger: case kPositiveInt:
    case kUpper: case kLower: case kTrim: case kNhsNumber: case kMap: case kDisplay: case kSystem:
    case kRangeLow: case kRangeHigh: case kBase64:
      return true;
    default:
      return false;
  }
}

Expr::ApplyFn unary_apply(int fn);

bool is_logic(Expr::Kind k) {
  return k == Expr::Kind::kAnd || k == Expr::Kind::kOr || k == Expr::Kind::kNot || k == Expr::Kind::kEq ||
         k == Expr::Kind::kNe || k == Expr::Kind::kIn;
}

bool is_literal_list(const Expr& e) {
  return e.kind == Expr::Kind::kList &&
         std::all_of(e.args.begin(), e.args.end(), [](const auto& item) { return item->kind == Expr::Kind::kLiteral; });
}

// Sets simple, direct, reads and shape of `e` and its sub-expressions, as if
// `e` were a sub-expression (compile_expression() then decides for the whole).
void classify(Expr& e) {
  bool args_simple = true, args_direct = true;
  for (auto& a : e.args) {
    classify(*a);
    args_simple = args_simple && a->simple;
    args_direct = args_direct && a->direct;
  }
  const bool two = e.args.size() == 2;
  if (e.kind == Expr::Kind::kCall) e.apply = unary_apply(e.fn);
  switch (e.kind) {
    case Expr::Kind::kLiteral: e.simple = true; break;
    case Expr::Kind::kPath: e.simple = e.path && !e.path->multi; break;
    case Expr::Kind::kFallback: e.simple = args_simple && two; break;
    default: e.simple = false;
  }
  switch (e.kind) {
    case Expr::Kind::kLiteral: e.direct = true; break;
    case Expr::Kind::kPath: e.direct = e.path && e.path->single && !e.path->multi; break;
    case Expr::Kind::kFallback:
    case Expr::Kind::kConcat: e.direct = args_direct && two; break;
    case Expr::Kind::kCall:
      e.direct = (is_unary_fn(e.fn) || e.fn == kExists || e.fn == kEmpty) && !e.args.empty() && e.args[0]->direct;
      break;
    case Expr::Kind::kIn:
      // test() decides `in` itself only for a list of literals.
      e.direct = two && is_literal_list(*e.args[1]);
      break;
    case Expr::Kind::kList: e.direct = false; break;
    default: e.direct = true;  // and, or, not, =, !=: test()
  }
  e.keys.clear();
  if (e.kind == Expr::Kind::kIn && e.direct) {
    for (const auto& item : e.args[1]->args) e.keys.push_back(TextKey::of(item->literal));
  } else if ((e.kind == Expr::Kind::kEq || e.kind == Expr::Kind::kNe) && two && e.args[1]->kind == Expr::Kind::kLiteral) {
    e.keys.push_back(TextKey::of(e.args[1]->literal));
  }
  e.reads.clear();
  if (e.simple) {
    if (e.kind == Expr::Kind::kFallback) {
      for (const auto& a : e.args) e.reads.insert(e.reads.end(), a->reads.begin(), a->reads.end());
    } else if (e.kind == Expr::Kind::kPath) {
      e.reads.push_back(Expr::ReadStep{e.path.get(), {}});
    } else {
      e.reads.push_back(Expr::ReadStep{nullptr, e.literal});
    }
  }
  if (e.kind == Expr::Kind::kLiteral) e.shape = Expr::Shape::kLiteral;
  else if (e.simple && e.kind == Expr::Kind::kPath) e.shape = Expr::Shape::kPath;
  else if (e.simple) e.shape = Expr::Shape::kRead;
  else if (e.kind == Expr::Kind::kCall && (e.fn == kExists || e.fn == kEmpty) && !e.args.empty() && e.args[0]->simple)
    e.shape = Expr::Shape::kReadTest;
  else if (is_logic(e.kind)) e.shape = Expr::Shape::kLogic;
  else if (e.direct) e.shape = Expr::Shape::kDirect;
  else e.shape = Expr::Shape::kOther;
}
}  // namespace

inline bool Expr::read_simple(const Scope& scope, EvalContext& ctx, Value& out) const {
  if (shape == Shape::kPath) return path->read_first(scope, ctx, out) && !out.text.empty();
  return read_chain(scope, ctx, out);
}

inline bool Expr::read_steps(const Scope& scope, EvalContext& ctx, Value& out) const {
  for (const ReadStep& step : reads) {
    if (step.path) {
      if (step.path->read_first(scope, ctx, out) && !out.text.empty()) return true;
    } else {
      out.text = step.literal;
      out.has_cursor = false;
      out.explicit_null = false;
      if (!step.literal.empty()) return true;
    }
  }
  return false;
}

bool Expr::read_chain(const Scope& scope, EvalContext& ctx, Value& out) const { return read_steps(scope, ctx, out); }

ExprPtr compile_expression(std::string_view text, const CompileEnv& env, std::string& error, int& column) {
  Parser p(text, env);
  ExprPtr e = p.parse(error, column);
  if (e) {
    classify(*e);
    e->text = std::string(text);
    std::string_view t = text;
    while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
    while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
    e->memo_id = std::hash<std::string_view>{}(t) | 1;
    e->memo_key = MemoKey::of(reinterpret_cast<const void*>(e->memo_id));
    // A whole expression goes through the memo: only the shapes that skip
    // it stay (a direct one is evaluated by eval_text_rest()).
    if (e->shape == Expr::Shape::kDirect) e->shape = Expr::Shape::kOther;
    e->choose_text_fns();
  }
  return e;
}

namespace {

// One value through a function of one value (is_unary_fn): what eval()'s
// per-value transform does to each value it keeps. False: the value is
// dropped (after any warning or failure the function gives for it). One
// function per family, chosen at compile time (Expr::apply).
bool apply_date(const Expr& x, Value& v, EvalContext& ctx, const RuntimeEnv& env) {
  const int fn = x.fn;
  EvalContext::DateMemo* memo = ctx.date_memo(fn, v.text);
  if (memo->generation == ctx.generation && memo->target == fn && same_text(memo->in, v.text)) {
    v.text = memo->out;
    return true;
  }
  const DateTarget target = fn == kDate       ? DateTarget::kDate
                            : fn == kDateTime ? DateTarget::kDateTime
                            : fn == kInstant  ? DateTarget::kInstant
                                              : DateTarget::kTime;
  std::string err;
  if (!convert_hl7_datetime(v.text, target, env.zone, ctx.convert, err)) {
    location_of(v, ctx, ctx.location);
    ctx.warn("DATE_INVALID", ctx.location, std::string(kFns[fn].name) + ": " + err + "; element omitted");
    return false;
  }
  memo->generation = ctx.generation;
  memo->target = fn;
  memo->in = v.text;
  v.text = memo->out = ctx.arena.copy(ctx.convert);
  return true;
}

bool apply_number(const Expr& x, Value& v, EvalContext& ctx, const RuntimeEnv&) {
  const int fn = x.fn;
  std::string_view form;
  bool ok = decimal_form(v.text, ctx.convert, form);
  if (ok && fn != kDecimal) ok = form.find('.') == std::string_view::npos;
  if (ok && fn == kPositiveInt) ok = form != "0" && form[0] != '-';
  if (!ok) {
    location_of(v, ctx, ctx.location);
    ctx.warn("NUMBER_INVALID", ctx.location, std::string("not a valid ") + kFns[fn].name + "; element omitted");
    return false;
  }
  // A view of the input (or arena) as it stands, else a copy of what was built.
  v.text = form.data() == ctx.convert.data() ? ctx.arena.copy(form) : form;
  return true;
}

bool apply_case(const Expr& x, Value& v, EvalContext& ctx, const RuntimeEnv&) {
  char* p = ctx.arena.alloc(v.text.size());
  for (std::size_t i = 0; i < v.text.size(); ++i)
    p[i] = static_cast<char>(x.fn == kUpper ? std::toupper(static_cast<unsigned char>(v.text[i]))
                                            : std::tolower(static_cast<unsigned char>(v.text[i])));
  v.text = std::string_view(p, v.text.size());
  return true;
}

bool apply_trim(const Expr&, Value& v, EvalContext&, const RuntimeEnv&) {
  while (!v.text.empty() && std::isspace(static_cast<unsigned char>(v.text.front()))) v.text.remove_prefix(1);
  while (!v.text.empty() && std::isspace(static_cast<unsigned char>(v.text.back()))) v.text.remove_suffix(1);
  return !v.text.empty();
}

bool apply_nhs_number(const Expr&, Value& v, EvalContext& ctx, const RuntimeEnv&) {
  std::string d = normalise_nhs_number(v.text);
  if (d.empty()) {
    location_of(v, ctx, ctx.location);
    ctx.warn("NHS_NUMBER_INVALID", ctx.location,
             "identifier fails the NHS number Modulus 11 check; not emitted as an NHS number");
    return false;
  }
  v.text = ctx.arena.copy(d);
  return true;
}

bool apply_code(const Expr& x, Value& v, EvalContext& ctx, const RuntimeEnv&) {
  const int fn = x.fn;
  const CodeTable& t = *x.table;
  const CodeEntry* e = t.find(v.text);
  if (!e) {
    switch (t.unmapped) {
      case UnmappedPolicy::kKeepOriginal:
        if (fn == kMap) return true;
        if (fn == kSystem) {
          v.text = t.source_system;
          return !v.text.empty();
        }
        return false;
      case UnmappedPolicy::kDefault:
        e = &t.default_entry;
        break;
      case UnmappedPolicy::kDrop:
        // A lookup that finds nothing is the table's declared answer
        // (e.g. an assigning authority with no known system).
        return false;
      case UnmappedPolicy::kError:
        location_of(v, ctx, ctx.location);
        ctx.fail("CODE_UNMAPPED", ctx.location, "code not in table " + t.name + " (unmapped: error)");
        return false;
    }
  }
  v.text = fn == kMap       ? std::string_view(e->code)
           : fn == kDisplay ? std::string_view(e->display)
                            : std::string_view(e->system.empty() ? t.target_system : e->system);
  return !v.text.empty();
}

bool apply_range(const Expr& x, Value& v, EvalContext& ctx, const RuntimeEnv&) {
  std::string_view t = v.text;
  while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  std::string_view lo, hi;
  if (!t.empty() && (t.front() == '<' || t.front() == '>')) {
    bool less = t.front() == '<';
    t.remove_prefix(1);
    if (!t.empty() && t.front() == '=') t.remove_prefix(1);
    (less ? hi : lo) = t;
  } else {
    // "a-b" (a may be negative: split at a '-' that follows a digit)
    std::size_t dash = std::string_view::npos;
    for (std::size_t i = 1; i < t.size(); ++i)
      if (t[i] == '-' && (std::isdigit(static_cast<unsigned char>(t[i - 1])) || t[i - 1] == ' ')) {
        dash = i;
        break;
      }
    if (dash == std::string_view::npos) return false;
    lo = t.substr(0, dash);
    hi = t.substr(dash + 1);
  }
  std::string_view pick = x.fn == kRangeLow ? lo : hi;
  std::string_view form;
  if (!decimal_form(pick, ctx.convert, form)) return false;
  v.text = form.data() == ctx.convert.data() ? ctx.arena.copy(form) : form;
  return true;
}

bool apply_base64(const Expr&, Value& v, EvalContext& ctx, const RuntimeEnv&) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string_view in = v.text;
  std::size_t len = (in.size() + 2) / 3 * 4;
  char* p = ctx.arena.alloc(len);
  std::size_t o = 0;
  for (std::size_t i = 0; i < in.size(); i += 3) {
    std::uint32_t b = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) b |= static_cast<unsigned char>(in[i + 1]) << 8;
    if (i + 2 < in.size()) b |= static_cast<unsigned char>(in[i + 2]);
    p[o++] = tbl[(b >> 18) & 63];
    p[o++] = tbl[(b >> 12) & 63];
    p[o++] = i + 1 < in.size() ? tbl[(b >> 6) & 63] : '=';
    p[o++] = i + 2 < in.size() ? tbl[b & 63] : '=';
  }
  v.text = std::string_view(p, len);
  return true;
}

// The apply_* function of a function of one value; nullptr for the others.
Expr::ApplyFn unary_apply(int fn) {
  switch (fn) {
    case kDate: case kDateTime: case kInstant: case kTime: return apply_date;
    case kDecimal: case kInteger: case kPositiveInt: return apply_number;
    case kUpper: case kLower: return apply_case;
    case kTrim: return apply_trim;
    case kNhsNumber: return apply_nhs_number;
    case kMap: case kDisplay: case kSystem: return apply_code;
    case kRangeLow: case kRangeHigh: return apply_range;
    case kBase64: return apply_base64;
    default: return nullptr;
  }
}

}  // namespace

constexpr std::string_view kTrueText = "true";

inline bool Expr::eval_first(const Scope& scope, EvalContext& ctx, const RuntimeEnv& env, Value& out) const {
  if (shape == Shape::kPath || shape == Shape::kRead) return read_simple(scope, ctx, out);
  return eval_one(scope, ctx, env, out) && !out.text.empty();
}

bool Expr::eval_one(const Scope& scope, EvalContext& ctx, const RuntimeEnv& env, Value& out) const {
  // Each case evaluates what eval() evaluates, in the same order (warnings,
  // read marks and arena use are the same).
  switch (kind) {
    case Kind::kLiteral:
      if (literal.empty()) return false;
      out = Value{};
      out.text = literal;
      return true;
    case Kind::kPath:
      return path->read_first(scope, ctx, out);
    case Kind::kFallback:
      return args[0]->eval_first(scope, ctx, env, out) || args[1]->eval_one(scope, ctx, env, out);
    case Kind::kConcat:
      return concat_one(scope, ctx, env, out);
    case Kind::kCall:
      if (apply) return args[0]->eval_first(scope, ctx, env, out) && apply(*this, out, ctx, env);
      {  // exists, empty
        Value v;
        if (args[0]->eval_first(scope, ctx, env, v) != (fn == kExists)) return false;
        out = Value{};
        out.text = kTrueText;
        return true;
      }
    default:  // logic
      if (!test(scope, ctx, env)) return false;
      out = Value{};
      out.text = kTrueText;
      return true;
  }
}

bool Expr::concat_one(const Scope& scope, EvalContext& ctx, const RuntimeEnv& env, Value& out) const {
  Value a, b;
  const bool has_a = args[0]->eval_one(scope, ctx, env, a);
  const bool has_b = args[1]->eval_one(scope, ctx, env, b);
  if (!has_a || !has_b || a.text.empty() || b.text.empty()) return false;
  // Keep the input position of whichever part came from the message (traces, warnings).
  out = !a.has_cursor && b.has_cursor ? b : a;
  out.text = joined(ctx, a.text, b.text);
  out.explicit_null = false;
  return true;
}

void Expr::choose_text_fns() {
  for (auto& a : args) a->choose_text_fns();
  switch (shape) {
    case Shape::kPath: text_fn = &Expr::text_path; break;
    case Shape::kRead: text_fn = &Expr::text_read; break;
    case Shape::kLogic:
    case Shape::kOther: text_fn = &Expr::text_memo; break;
    default: text_fn = &Expr::text_any;
  }
  bool_fn = shape == Shape::kPath                ? &Expr::bool_path
            : shape == Shape::kLogic && memo_id ? &Expr::bool_logic
                                                : &Expr::bool_any;
}

bool Expr::bool_path(const Expr& e, const Scope& scope, EvalContext& ctx, const RuntimeEnv&) {
  Value v;
  return e.path->read_first(scope, ctx, v) && !v.text.empty();
}

bool Expr::bool_logic(const Expr& e, const Scope& scope, EvalContext& ctx, const RuntimeEnv& env) {
  return e.eval_logic(scope, ctx, env);
}

std::string_view Expr::text_any(const Expr& e, const Scope& scope, EvalContext& ctx, const RuntimeEnv& env,
                                Value* first) {
  return e.eval_text_shaped(scope, ctx, env, first);
}

std::string_view Expr::text_path(const Expr& e, const Scope& scope, EvalContext& ctx, const RuntimeEnv&,
                                 Value* first) {
  if (first) return e.path->read_first(scope, ctx, *first) && !first->text.empty() ? first->text : std::string_view{};
  Value v;
  return e.path->read_first(scope, ctx, v) && !v.text.empty() ? v.text : std::string_view{};
}

std::string_view Expr::text_read(const Expr& e, const Scope& scope, EvalContext& ctx, const RuntimeEnv&,
                                 Value* first) {
  // (The steps in this frame: a third of the calls are `??` chains.)
  Value local;
  Value& v = first ? *first : local;
  return e.read_steps(scope, ctx, v) ? v.text : std::string_view{};
}

std::string_view Expr::text_memo(const Expr& e, const Scope& scope, EvalContext& ctx, const RuntimeEnv& env,
                                 Value* first) {
  if (first) return e.eval_text_rest(scope, ctx, env, *first);
  Value v;
  return e.eval_text_rest(scope, ctx, env, v);
}

std::string_view Expr::eval_text_shaped(const Scope& scope, EvalContext& ctx, const RuntimeEnv& env, Value* first) const {
  // The shapes without a text_fn of their own; the others through theirs
  // (for an Expr whose text_fn was never chosen: every shape works here).
  switch (shape) {
    case Shape::kPath:
      return text_path(*this, scope, ctx, env, first);
    case Shape::kRead:
      return text_read(*this, scope, ctx, env, first);
    case Shape::kLiteral:
      return literal;
    case Shape::kReadTest: {
      // A $switch on "(.1 ?? .4) | exists": the read decides.
      Value v;
      if (args[0]->read_simple(scope, ctx, v) != (fn == kExists)) return {};
      if (first) *first = Value{kTrueText, Cursor{}, false, false};
      return kTrueText;
    }
    case Shape::kDirect: {
      Value local;
      Value& v = first ? *first : local;
      return eval_one(scope, ctx, env, v) && !v.text.empty() ? v.text : std::string_view{};
    }
    default:
      return text_memo(*this, scope, ctx, env, first);
  }
}

bool Expr::first_on_stack(const Scope& scope, EvalContext& ctx, const RuntimeEnv& env, Value& v) const {
  const std::size_t base = ctx.stack.size();
  const std::size_t n = eval(scope, ctx, env);
  bool found = false;
  for (std::size_t i = 0; i < n; ++i)
    if (!ctx.stack[base + i].text.empty()) {
      v = ctx.stack[base + i];
      found = true;
      break;
    }
  ctx.stack.resize(base);
  return found;
}

std::string_view Expr::eval_text_rest(const Scope& scope, EvalContext& ctx, const RuntimeEnv& env, Value& v) const {
  // The first non-empty value, into v: a direct expression without the value
  // stack (eval_one(): these shapes are never `simple`), anything else through it.
  if (memo_id == 0)
    return (direct ? eval_one(scope, ctx, env, v) && !v.text.empty() : first_on_stack(scope, ctx, env, v))
               ? v.text
               : std::string_view{};
  MemoEntry* m = ctx.memo_slot(memo_key, scope.cursor);
  if (m->generation == ctx.generation && m->expr == memo_key.expr && EvalContext::same(m->cursor, scope.cursor)) {
    if (!m->first.text.empty()) v = m->first;
    return m->first.text;
  }
  // (The evaluation may evaluate other memoised expressions into this slot:
  // the whole entry is written after it.)
  // (A direct function of one simple value, `OBX-5 | decimal`, is opened
  // here: what eval_one() would do, without its call. Not when the value is
  // a path that may read several values: eval() applies the function to
  // each of them, warnings included.)
  const bool found = direct && apply && args[0]->simple
                         ? args[0]->read_simple(scope, ctx, v) && apply(*this, v, ctx, env) && !v.text.empty()
                     : direct ? eval_one(scope, ctx, env, v) && !v.text.empty()
                              : first_on_stack(scope, ctx, env, v);
  m->expr = memo_key.expr;
  m->cursor = scope.cursor;
  m->generation = ctx.generation;
  if (!found) {
    m->first.text = {};
    return {};
  }
  m->first = v;
  return v.text;
}

inline bool Expr::truth(const Scope& scope, EvalContext& ctx, const RuntimeEnv& env) const {
  // Truth is "has a non-empty value": !eval_text().empty(), by shape.
  if (shape == Shape::kPath) {
    Value v;
    return read_simple(scope, ctx, v);
  }
  switch (shape) {
    case Shape::kLiteral:
      return !literal.empty();
    case Shape::kPath:
    case Shape::kRead: {
      Value v;
      return read_simple(scope, ctx, v);
    }
    case Shape::kReadTest: {
      Value v;
      return args[0]->read_simple(scope, ctx, v) == (fn == kExists);
    }
    case Shape::kDirect: {
      Value v;
      return eval_one(scope, ctx, env, v) && !v.text.empty();
    }
    case Shape::kLogic:
      return memo_id ? eval_logic(scope, ctx, env) : test(scope, ctx, env);
    default: {
      Value v;
      return !eval_text_rest(scope, ctx, env, v).empty();
    }
  }
}

bool Expr::test(const Scope& scope, EvalContext& ctx, const RuntimeEnv& env) const {
  switch (kind) {
    case Kind::kAnd:
      return args[0]->truth(scope, ctx, env) && args[1]->truth(scope, ctx, env);
    case Kind::kOr:
      return args[0]->truth(scope, ctx, env) || args[1]->truth(scope, ctx, env);
    case Kind::kNot:
      return !args[0]->truth(scope, ctx, env);
    case Kind::kEq:
    case Kind::kNe: {
      // Both sides' first values; the views stay valid (input, arena, plan).
      // A literal right side is keys[0] (evaluating it has no effect).
      const std::string_view a = args[0]->eval_text(scope, ctx, env);
      const bool equal = keys.empty() ? same_text(a, args[1]->eval_text(scope, ctx, env))
                                      : keys[0].matches(a, text_head(a));
      return equal == (kind == Kind::kEq);
    }
    case Kind::kIn:
      if (direct) {  // a list of literals: keys
        const std::string_view a = args[0]->eval_text(scope, ctx, env);
        if (a.empty()) return false;
        const std::uint64_t head = text_head(a);
        for (const TextKey& key : keys)
          if (key.matches(a, head)) return true;
        return false;
      }
      break;
    default:
      break;
  }
  return !eval_text(scope, ctx, env).empty();
}

bool Expr::bool_any(const Expr& e, const Scope& scope, EvalContext& ctx, const RuntimeEnv& env) {
  return e.truth(scope, ctx, env);
}

bool Expr::eval_logic(const Scope& scope, EvalContext& ctx, const RuntimeEnv& env) const {
  // Logic and comparisons are decided without the value stack (test());
  // whole expressions still go through the memo, which records the truth as
  // eval() would give it ("true" or nothing).
  MemoEntry* m = ctx.memo_slot(memo_key, scope.cursor);
  if (m->generation == ctx.generation && m->expr == memo_key.expr && EvalContext::same(m->cursor, scope.cursor))
    return !m->first.text.empty();
  const bool truth = test(scope, ctx, env);
  // (test() may have evaluated other memoised expressions into this slot.)
  m->expr = memo_key.expr;
  m->cursor = scope.cursor;
  m->generation = ctx.generation;
  m->first = Value{};
  if (truth) m->first.text = kTrueText;
  return truth;
}

std::size_t Expr::eval(const Scope& scope, EvalContext& ctx, const RuntimeEnv& env) const {
  auto& st = ctx.stack;
  const std::size_t base = st.size();
  auto push_text = [&](std::string_view t) {
    Value v;
    v.text = t;
    st.push_back(v);
  };
  // A direct expression: its one value (or none), without the stack below.
  auto push_one = [&]() -> std::size_t {
    Value v;
    if (!eval_one(scope, ctx, env, v)) return 0;
    st.push_back(v);
    return 1;
  };
  auto finish_bool = [&](bool b) -> std::size_t {
    st.resize(base);
    if (b) push_text("true");
    return b ? 1 : 0;
  };
  switch (kind) {
    case Kind::kLiteral:
      if (literal.empty()) return 0;
      push_text(literal);
      return 1;
    case Kind::kPath:
      if (path->single) {  // one value: the direct read (cached segment lookups), in place on the stack
        st.emplace_back();
        if (path->read_first(scope, ctx, st.back())) return 1;
        st.pop_back();
        return 0;
      }
      return path->eval(scope, ctx, path->multi);
    case Kind::kList: {
      std::size_t n = 0;
      for (const auto& a : args) n += a->eval(scope, ctx, env);
      return n;
    }
    case Kind::kFallback: {
      if (direct) return push_one();
      std::size_t n = args[0]->eval(scope, ctx, env);
      if (truthy(st, base, n)) return n;
      st.resize(base);
      return args[1]->eval(scope, ctx, env);
    }
    case Kind::kConcat: {
      if (direct) return push_one();
      std::size_t n1 = args[0]->eval(scope, ctx, env);
      std::string_view a = first_text(st, base, n1);
      std::size_t n2 = args[1]->eval(scope, ctx, env);
      std::string_view b = first_text(st, base + n1, n2);
      // Keep the input position of whichever part came from the message (traces, warnings).
      Value keep = n1 ? st[base] : Value{};
      if (!keep.has_cursor && n2 && st[base + n1].has_cursor) keep = st[base + n1];
      st.resize(base);
      if (a.empty() || b.empty()) return 0;
      keep.text = joined(ctx, a, b);
      keep.explicit_null = false;
      st.push_back(keep);
      return 1;
    }
    case Kind::kEq:
    case Kind::kNe: {
      std::size_t n1 = args[0]->eval(scope, ctx, env);
      std::string_view a = first_text(st, base, n1);
      std::size_t n2 = args[1]->eval(scope, ctx, env);
      std::string_view b = first_text(st, base + n1, n2);
      return finish_bool((a == b) == (kind == Kind::kEq));
    }
    case Kind::kIn: {
      std::size_t n1 = args[0]->eval(scope, ctx, env);
      std::string_view a = first_text(st, base, n1);
      std::size_t n2 = args[1]->eval(scope, ctx, env);
      bool found = false;
      if (!a.empty())
        for (std::size_t i = 0; i < n2; ++i)
          if (st[base + n1 + i].text == a) found = true;
      return finish_bool(found);
    }
    case Kind::kAnd: {
      bool a = args[0]->eval_bool(scope, ctx, env);
      return finish_bool(a && args[1]->eval_bool(scope, ctx, env));
    }
    case Kind::kOr: {
      bool a = args[0]->eval_bool(scope, ctx, env);
      return finish_bool(a || args[1]->eval_bool(scope, ctx, env));
    }
    case Kind::kNot:
      return finish_bool(!args[0]->eval_bool(scope, ctx, env));
    case Kind::kCall:
      break;
  }

  // ---- functions ----
  if (direct) return push_one();
  std::size_t n = args[0]->eval(scope, ctx, env);
  auto arg_text = [&](std::size_t i) -> std::string_view {
    // Arguments after the first are evaluated after the values; read and drop.
    std::size_t b = st.size();
    std::size_t k = args[i]->eval(scope, ctx, env);
    std::string_view t = first_text(st, b, k);
    st.resize(b);
    return t;
  };
  // In-place element-wise transform with compaction.
  auto transform = [&](auto&& fn) -> std::size_t {
    std::size_t w = base;
    for (std::size_t r = base; r < base + n; ++r) {
      Value v = st[r];
      if (v.text.empty()) continue;
      if (fn(v)) st[w++] = v;
    }
    st.resize(w);
    return w - base;
  };
  switch (fn) {
    case kDate:
    case kDateTime:
    case kInstant:
    case kTime:
    case kDecimal:
    case kInteger:
    case kPositiveInt:
    case kUpper:
    case kLower:
    case kTrim:
    case kNhsNumber:
    case kMap:
    case kDisplay:
    case kSystem:
    case kRangeLow:
    case kRangeHigh:
    case kBase64:
      return transform([&](Value& v) { return apply(*this, v, ctx, env); });
    case kFirst:
    case kLast: {
      Value pick;
      bool any = false;
      for (std::size_t i = 0; i < n; ++i)
        if (!st[base + i].text.empty()) {
          if (!any || fn == kLast) pick = st[base + i];
          any = true;
        }
      st.resize(base);
      if (!any) return 0;
      st.push_back(pick);
      return 1;
    }
    case kCount: {
      std::size_t c = 0;
      for (std::size_t i = 0; i < n; ++i) c += st[base + i].text.empty() ? 0 : 1;
      st.resize(base);
      push_text(ctx.arena.copy(std::to_string(c)));
      return 1;
    }
    case kExists:
      return finish_bool(truthy(st, base, n));
    case kEmpty:
      return finish_bool(!truthy(st, base, n));
    case kJoin:
    case kLines: {
      // All args but the last are values; the last is the separator.
      std::size_t total = n;
      std::size_t nargs = args.size();
      std::string_view sep = "\n";
      if (fn == kJoin) {
        for (std::size_t i = 1; i + 1 < nargs; ++i) total += args[i]->eval(scope, ctx, env);
        sep = arg_text(nargs - 1);
        if (nargs == 2 && args[1]->kind == Expr::Kind::kLiteral) sep = args[1]->literal;
      }
      std::string& s = ctx.convert;
      s.clear();
      bool any = false;
      for (std::size_t i = 0; i < total; ++i) {
        const Value& v = st[base + i];
        if (v.text.empty() && fn == kJoin) continue;
        if (any) s.append(sep);
        s.append(v.text);
        any = true;
      }
      Value first = total ? st[base] : Value{};
      st.resize(base);
      if (!any) return 0;
      while (fn == kLines && !s.empty() && s.back() == '\n') s.pop_back();
      if (s.empty()) return 0;
      first.text = ctx.arena.copy(s);
      st.push_back(first);
      return 1;
    }
    case kSplit: {
      std::string_view sep = arg_text(1);
      if (sep.empty()) return n;
      std::size_t end = base + n;
      std::size_t w = st.size();
      for (std::size_t r = base; r < end; ++r) {
        std::string_view t = st[r].text;
        std::size_t p = 0;
        while (p <= t.size()) {
          std::size_t q = t.find(sep, p);
          if (q == std::string_view::npos) q = t.size();
          Value v = st[r];
          v.text = t.substr(p, q - p);
          if (!v.text.empty()) st.push_back(v);
          p = q + sep.size();
        }
      }
      std::size_t produced = st.size() - w;
      std::move(st.begin() + static_cast<long>(w), st.end(), st.begin() + static_cast<long>(base));
      st.resize(base + produced);
      return produced;
    }
    case kSubstring: {
      std::string_view a = arg_text(1);
      std::string_view b = args.size() > 2 ? arg_text(2) : std::string_view{};
      std::size_t start = 0, len = std::string_view::npos;
      for (char c : a) start = start * 10 + static_cast<std::size_t>(c - '0');
      if (!b.empty()) {
        len = 0;
        for (char c : b) len = len * 10 + static_cast<std::size_t>(c - '0');
      }
      return transform([&](Value& v) {
        if (start >= v.text.size()) return false;
        v.text = v.text.substr(start, len);
        return !v.text.empty();
      });
    }
    case kReplace: {
      std::string from(arg_text(1)), to(arg_text(2));
      if (from.empty()) return n;
      return transform([&](Value& v) {
        if (v.text.find(from) == std::string_view::npos) return true;  // common case: nothing to replace
        std::string s(v.text);
        for (std::size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size()))
          s.replace(p, from.size(), to);
        v.text = ctx.arena.copy(s);
        return !v.text.empty();
      });
    }
    case kStartsWith:
    case kContains: {
      std::string_view a = first_text(st, base, n);
      std::string_view b = arg_text(1);
      bool r = !a.empty() && (fn == kStartsWith ? a.substr(0, b.size()) == b : a.find(b) != std::string_view::npos);
      return finish_bool(r);
    }
    case kWhereField: {
      int field = 0;
      for (char c : arg_text(1)) field = field * 10 + (c - '0');
      // Accepted values (arguments 2..): evaluated once, held as views.
      std::size_t vb = st.size();
      for (std::size_t i = 2; i < args.size(); ++i) args[i]->eval(scope, ctx, env);
      std::size_t ve = st.size();
      // An absent value to compare with selects the values whose field is absent.
      bool want_empty = true;
      for (std::size_t k = vb; k < ve; ++k)
        if (!st[k].text.empty()) want_empty = false;
      std::size_t w = base;
      for (std::size_t r = base; r < base + n; ++r) {
        const Value& v = st[r];
        if (!v.has_cursor || v.cursor.segment < 0 || field <= 0) continue;
        ctx.reads.mark(v.cursor.segment, static_cast<unsigned>(field));
        std::string_view f = ctx.format->leaf_field(*ctx.doc, v.cursor.segment, field);
        bool keep = want_empty && f.empty();
        for (std::size_t k = vb; k < ve; ++k)
          if (!st[k].text.empty() && st[k].text == f) keep = true;
        if (keep) st[w++] = v;
      }
      st.resize(w);
      return w - base;
    }
    case kId: {
      // id('Type', keys...): the first argument is the type (the piped value
      // position), the rest are the keys, exactly as a resource's `id` list.
      std::string_view type = first_text(st, base, n);
      std::string type_s(type);
      std::vector<std::string> keys;
      bool any = false;
      for (std::size_t i = 1; i < args.size(); ++i) {
        keys.emplace_back(arg_text(i));
        any = any || !keys.back().empty();
      }
      st.resize(base);
      if (type_s.empty() || !any) return 0;
      std::vector<std::string_view> views(keys.begin(), keys.end());
      push_text(ctx.arena.copy(resource_id(type_s, views)));
      return 1;
    }
    case kBefore: {
      std::string sep(arg_text(1));
      if (sep.empty()) return n;
      return transform([&](Value& v) {
        v.text = v.text.substr(0, v.text.find(sep));
        return !v.text.empty();
      });
    }
    case kSum: {
      long long total = 0;
      bool any = false;
      for (std::size_t i = 0; i < n; ++i) {
        std::string_view t = st[base + i].text;
        if (t.empty()) continue;
        long long x = 0;
        bool ok = true;
        for (char c : t) {
          if (c < '0' || c > '9') {
            ok = false;
            break;
          }
          x = x * 10 + (c - '0');
        }
        if (!ok) continue;
        total += x;
        any = true;
      }
      st.resize(base);
      if (!any) return 0;
      push_text(ctx.arena.copy(std::to_string(total)));
      return 1;
    }
    default:
      st.resize(base);
      return 0;
  }
}

}  // namespace dxnorm::map
