#include "pipeline/core/fhir_json.h"

#include <rapidjson/prettywriter.h>
#include <rapidjson/writer.h>

namespace dxnorm::fhir {

namespace {
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
    rapidjson::Writer<rapidjson::StringBuffer> w(out);
    emit(v, w);
  }
}

std::string to_fhir_json(const rapidjson::Value& v, bool pretty) {
  rapidjson::StringBuffer sb;
  write_fhir_json(v, sb, pretty);
  return {sb.GetString(), sb.GetSize()};
}

}  // namespace dxnorm::fhir
