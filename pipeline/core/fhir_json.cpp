#include "pipeline/core/fhir_json.h"

#include <rapidjson/prettywriter.h>

#include <charconv>
#include <cstring>

namespace dxnorm::fhir {

namespace {

// Bytes that JSON strings must escape: '"', '\\' and control characters.
struct EscapeTable {
  bool needs[256] = {};
  constexpr EscapeTable() {
    for (int c = 0; c < 0x20; ++c) needs[c] = true;
    needs[static_cast<unsigned char>('"')] = true;
    needs[static_cast<unsigned char>('\\')] = true;
  }
};
constexpr EscapeTable kEscape;

inline void put(rapidjson::StringBuffer& out, const char* p, std::size_t n) {
  if (n) std::memcpy(out.Push(n), p, n);
}
inline void put(rapidjson::StringBuffer& out, char c) { *out.Push(1) = c; }

void put_string(rapidjson::StringBuffer& out, const char* s, std::size_t n) {
  put(out, '"');
  std::size_t start = 0;
  for (std::size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (!kEscape.needs[c]) continue;
    put(out, s + start, i - start);
    start = i + 1;
    switch (c) {
      case '"': put(out, "\\\"", 2); break;
      case '\\': put(out, "\\\\", 2); break;
      case '\n': put(out, "\\n", 2); break;
      case '\r': put(out, "\\r", 2); break;
      case '\t': put(out, "\\t", 2); break;
      case '\b': put(out, "\\b", 2); break;
      case '\f': put(out, "\\f", 2); break;
      default: {
        static const char* hex = "0123456789abcdef";
        char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        put(out, u, 6);
      }
    }
  }
  put(out, s + start, n - start);
  put(out, '"');
}

// Compact writer: this runs for every message and every resource, so it
// writes bytes directly (rapidjson's Writer escapes character by character).
void emit_compact(const rapidjson::Value& v, rapidjson::StringBuffer& out) {
  switch (v.GetType()) {
    case rapidjson::kNullType: put(out, "null", 4); break;
    case rapidjson::kFalseType: put(out, "false", 5); break;
    case rapidjson::kTrueType: put(out, "true", 4); break;
    case rapidjson::kNumberType: {
      char buf[32];
      std::to_chars_result r;
      if (v.IsInt64()) r = std::to_chars(buf, buf + sizeof buf, v.GetInt64());
      else if (v.IsUint64()) r = std::to_chars(buf, buf + sizeof buf, v.GetUint64());
      else r = std::to_chars(buf, buf + sizeof buf, v.GetDouble());
      put(out, buf, static_cast<std::size_t>(r.ptr - buf));
      break;
    }
    case rapidjson::kStringType:
      if (is_raw_number(v)) {
        auto t = raw_number_text(v);
        put(out, t.data(), t.size());
      } else {
        put_string(out, v.GetString(), v.GetStringLength());
      }
      break;
    case rapidjson::kArrayType: {
      put(out, '[');
      bool first = true;
      for (const auto& x : v.GetArray()) {
        if (!first) put(out, ',');
        first = false;
        emit_compact(x, out);
      }
      put(out, ']');
      break;
    }
    case rapidjson::kObjectType: {
      put(out, '{');
      bool first = true;
      for (const auto& m : v.GetObject()) {
        if (!first) put(out, ',');
        first = false;
        put_string(out, m.name.GetString(), m.name.GetStringLength());
        put(out, ':');
        emit_compact(m.value, out);
      }
      put(out, '}');
      break;
    }
  }
}

template <class W>
void emit(const rapidjson::Value& v, W& w) {
  switch (v.GetType()) {
    case rapidjson::kNullType: w.Null(); break;
    case rapidjson::kFalseType: w.Bool(false); break;
    case rapidjson::kTrueType: w.Bool(true); break;
    case rapidjson::kNumberType:
      if (v.IsInt64()) w.Int64(v.GetInt64());
      else if (v.IsUint64()) w.Uint64(v.GetUint64());
      else w.Double(v.GetDouble());
      break;
    case rapidjson::kStringType:
      if (is_raw_number(v)) {
        auto t = raw_number_text(v);
        w.RawValue(t.data(), t.size(), rapidjson::kNumberType);
      } else {
        w.String(v.GetString(), v.GetStringLength());
      }
      break;
    case rapidjson::kArrayType:
      w.StartArray();
      for (const auto& x : v.GetArray()) emit(x, w);
      w.EndArray();
      break;
    case rapidjson::kObjectType:
      w.StartObject();
      for (const auto& m : v.GetObject()) {
        w.Key(m.name.GetString(), m.name.GetStringLength());
        emit(m.value, w);
      }
      w.EndObject();
      break;
  }
}
}  // namespace

void write_fhir_json(const rapidjson::Value& v, rapidjson::StringBuffer& out, bool pretty) {
  if (pretty) {
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w(out);
    w.SetIndent(' ', 2);
    emit(v, w);
  } else {
    emit_compact(v, out);
  }
}

void write_fhir_bundle(const rapidjson::Value& bundle, const std::vector<std::string_view>& resources,
                       rapidjson::StringBuffer& out) {
  if (!bundle.IsObject()) return emit_compact(bundle, out);
  put(out, '{');
  bool first = true;
  for (const auto& m : bundle.GetObject()) {
    if (!first) put(out, ',');
    first = false;
    put_string(out, m.name.GetString(), m.name.GetStringLength());
    put(out, ':');
    if (std::strcmp(m.name.GetString(), "entry") != 0 || !m.value.IsArray()) {
      emit_compact(m.value, out);
      continue;
    }
    put(out, '[');
    for (rapidjson::SizeType i = 0; i < m.value.Size(); ++i) {
      if (i) put(out, ',');
      const auto& entry = m.value[i];
      if (!entry.IsObject() || i >= resources.size()) {
        emit_compact(entry, out);
        continue;
      }
      put(out, '{');
      bool efirst = true;
      for (const auto& em : entry.GetObject()) {
        if (!efirst) put(out, ',');
        efirst = false;
        put_string(out, em.name.GetString(), em.name.GetStringLength());
        put(out, ':');
        if (std::strcmp(em.name.GetString(), "resource") == 0) put(out, resources[i].data(), resources[i].size());
        else emit_compact(em.value, out);
      }
      put(out, '}');
    }
    put(out, ']');
  }
  put(out, '}');
}

std::string to_fhir_json(const rapidjson::Value& v, bool pretty) {
  rapidjson::StringBuffer sb;
  write_fhir_json(v, sb, pretty);
  return {sb.GetString(), sb.GetSize()};
}

}  // namespace dxnorm::fhir
