#include "pipeline/parse/dicom/dicom_document.h"

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <cstring>
#include <unordered_map>

#include "pipeline/parse/dicom/dicom_dictionary.h"

namespace dxnorm::dicom {

namespace {

constexpr std::uint32_t kStudyInstanceUid = 0x0020000D;
constexpr std::uint32_t kSeriesInstanceUid = 0x0020000E;
constexpr std::uint32_t kSopInstanceUid = 0x00080018;
constexpr std::uint32_t kQueryRetrieveLevel = 0x00080052;
constexpr std::uint32_t kRetrieveAeTitle = 0x00080054;
constexpr std::uint32_t kInstitutionName = 0x00080080;

constexpr unsigned kParseFlags = rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseIterativeFlag |
                                 rapidjson::kParseStopWhenDoneFlag;

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'); }

bool key_is_tag(const rapidjson::Value& key, std::uint32_t tag) {
  if (key.GetStringLength() != 8) return false;
  const char* k = key.GetString();
  static const char* hex = "0123456789ABCDEF";
  for (int i = 0; i < 8; ++i) {
    char want = hex[(tag >> (28 - 4 * i)) & 0xF];
    char c = k[i];
    if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
    if (c != want) return false;
  }
  return true;
}

std::string dataset_loc(std::size_t n) { return "dataset " + std::to_string(n); }

Error shape_error(std::string loc, std::string message) {
  return make_error(StatusCode::kInvalidInput, Stage::kParse, "DICOM_VR_SHAPE", std::move(loc), std::move(message));
}

// Checks one dataset (or sequence item) against the annex F shapes.
Status check_dataset(const rapidjson::Value& ds, const std::string& where, int depth, const ParserLimits& limits) {
  if (!ds.IsObject())
    return make_error(StatusCode::kInvalidInput, Stage::kParse, "DICOM_NOT_DATASET", where,
                      "a dataset is a JSON object from tag (\"0020000D\") to {\"vr\", \"Value\"}");
  for (auto m = ds.MemberBegin(); m != ds.MemberEnd(); ++m) {
    std::string_view key(m->name.GetString(), m->name.GetStringLength());
    bool tag_ok = key.size() == 8;
    for (char c : key) tag_ok = tag_ok && is_hex(c);
    if (!tag_ok) return shape_error(where, "attribute key is not a tag of 8 hex digits (e.g. \"0020000D\")");
    std::string loc = where + " " + format_tag(*parse_tag(key));
    const rapidjson::Value& a = m->value;
    if (!a.IsObject()) return shape_error(loc, "attribute is not an object {\"vr\": ..., \"Value\": [...]}");
    auto vr_it = a.FindMember("vr");
    if (vr_it == a.MemberEnd() || !vr_it->value.IsString() || vr_it->value.GetStringLength() != 2)
      return shape_error(loc, "attribute has no two-letter \"vr\"");
    std::string_view vr(vr_it->value.GetString(), 2);
    for (auto f = a.MemberBegin(); f != a.MemberEnd(); ++f) {
      std::string_view fname(f->name.GetString(), f->name.GetStringLength());
      if (fname == "vr") continue;
      if (fname == "BulkDataURI" || fname == "InlineBinary") {
        if (!f->value.IsString()) return shape_error(loc, std::string(fname) + " is not a string");
        continue;  // never read: pixel and bulk data stay where they are
      }
      if (fname != "Value") return shape_error(loc, "unknown member \"" + std::string(fname) + "\" (expected vr, Value, BulkDataURI, InlineBinary)");
      if (!f->value.IsArray()) return shape_error(loc, "Value is not an array");
      std::size_t i = 0;
      for (const auto& v : f->value.GetArray()) {
        ++i;
        std::string vloc = loc + "[" + std::to_string(i) + "]";
        if (v.IsNull()) continue;
        if (vr == "PN") {
          if (!v.IsObject()) return shape_error(vloc, "a PN value is an object {\"Alphabetic\": ...}");
          for (auto c = v.MemberBegin(); c != v.MemberEnd(); ++c)
            if (!c->value.IsString()) return shape_error(vloc, "a PN component group is not a string");
        } else if (vr == "SQ") {
          if (depth >= limits.max_sequence_depth)
            return shape_error(vloc, "sequences nested deeper than " + std::to_string(limits.max_sequence_depth));
          Status st = check_dataset(v, vloc, depth + 1, limits);
          if (!st.ok()) return st;
        } else if (!v.IsString()) {  // numbers were parsed as strings
          return shape_error(vloc, "a " + std::string(vr) + " value is a string or a number");
        }
      }
    }
  }
  return ok_status();
}

}  // namespace

const rapidjson::Value* find_attribute(const rapidjson::Value& object, std::uint32_t tag, std::size_t* index) noexcept {
  if (!object.IsObject()) return nullptr;
  std::size_t i = 0;
  for (auto m = object.MemberBegin(); m != object.MemberEnd(); ++m, ++i)
    if (key_is_tag(m->name, tag)) {
      if (index) *index = i;
      return &m->value;
    }
  return nullptr;
}

std::string_view trim_padding(std::string_view s) noexcept {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.remove_suffix(1);
  return s;
}

std::string_view first_string(const rapidjson::Value* a) noexcept {
  if (!a || !a->IsObject()) return {};
  auto v = a->FindMember("Value");
  if (v == a->MemberEnd() || !v->value.IsArray()) return {};
  for (const auto& x : v->value.GetArray()) {
    if (x.IsString()) return trim_padding(std::string_view(x.GetString(), x.GetStringLength()));
    if (x.IsObject()) {
      auto alpha = x.FindMember("Alphabetic");
      if (alpha != x.MemberEnd() && alpha->value.IsString())
        return trim_padding(std::string_view(alpha->value.GetString(), alpha->value.GetStringLength()));
    }
    return {};
  }
  return {};
}

void DicomDocument::clear() {
  leaves_.clear();
  attr_base_.clear();
  attr_total_ = 0;
  root_ = SourceGroup{};
  root_.name = "STUDY";
  root_.index = 1;
  series_.clear();
  identity_.clear();
  sender_.clear();
  institution_.clear();
  study_uid_.clear();
  level_.clear();
  issues_.clear();
}

Status DicomJsonParser::parse(std::string_view text, DicomDocument& out) const {
  out.clear();
  if (text.size() > limits_.max_bytes)
    return make_error(StatusCode::kInvalidInput, Stage::kParse, "DICOM_TOO_LARGE", "input",
                      "DICOM JSON document of " + std::to_string(text.size()) + " bytes exceeds the limit of " +
                          std::to_string(limits_.max_bytes) + " bytes");
  std::size_t i = 0;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") i = 3;
  while (i < text.size() && (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t')) ++i;
  if (i == text.size())
    return make_error(StatusCode::kInvalidInput, Stage::kParse, "DICOM_NOT_DATASET", "input", "empty input");
  // A dataset object, or a run of them as split_studies() cuts from an
  // array: parse as an array either way.
  std::string_view body = text.substr(i);
  if (body[0] == '{') {
    out.buffer_.clear();
    out.buffer_.reserve(body.size() + 2);
    out.buffer_ += '[';
    out.buffer_.append(body);
    out.buffer_ += ']';
    body = out.buffer_;
  }
  rapidjson::MemoryStream ms(body.data(), body.size());
  out.json_.ParseStream<kParseFlags>(ms);
  if (out.json_.HasParseError())
    return make_error(StatusCode::kInvalidInput, Stage::kParse, "DICOM_JSON_SYNTAX",
                      "offset " + std::to_string(out.json_.GetErrorOffset()),
                      std::string("not valid JSON: ") + rapidjson::GetParseError_En(out.json_.GetParseError()));
  // Nothing may follow the document but spaces.
  for (std::size_t k = ms.Tell(); k < body.size(); ++k)
    if (!(body[k] == ' ' || body[k] == '\n' || body[k] == '\r' || body[k] == '\t'))
      return make_error(StatusCode::kInvalidInput, Stage::kParse, "DICOM_JSON_SYNTAX", "offset " + std::to_string(k),
                        "not valid JSON: text after the end of the document");
  if (!out.json_.IsArray())
    return make_error(StatusCode::kInvalidInput, Stage::kParse, "DICOM_NOT_DATASET", "input",
                      "DICOM JSON is a dataset object or an array of datasets");
  const auto& arr = out.json_.GetArray();
  if (arr.Empty())
    return make_error(StatusCode::kInvalidInput, Stage::kParse, "DICOM_NOT_DATASET", "input",
                      "the array holds no dataset (an empty search result has nothing to convert)");
  if (arr.Size() > limits_.max_datasets)
    return make_error(StatusCode::kInvalidInput, Stage::kParse, "DICOM_TOO_LARGE", "input",
                      std::to_string(arr.Size()) + " datasets exceed the limit of " + std::to_string(limits_.max_datasets));
  std::size_t n = 0;
  bool any_instance = false, any_series = false;
  std::unordered_map<std::string_view, SourceGroup*> series_by_uid;
  for (const auto& ds : arr) {
    ++n;
    std::string where = dataset_loc(n);
    Status st = check_dataset(ds, where, 0, limits_);
    if (!st.ok()) return st;
    std::string_view study = first_string(find_attribute(ds, kStudyInstanceUid));
    if (study.empty()) {
      // Typical: a QIDO-RS series or instance search scoped by URL
      // (/studies/{uid}/series/{uid}/instances) answers without the study's
      // UID. Say what this dataset is and how to supply the UID.
      // (No UID values in the message: error messages carry no identifiers.)
      std::string what;
      if (!first_string(find_attribute(ds, kSopInstanceUid)).empty()) what = " (an instance: it has a SOP Instance UID)";
      else if (!first_string(find_attribute(ds, kSeriesInstanceUid)).empty()) what = " (a series: it has a Series Instance UID)";
      return make_error(StatusCode::kInvalidInput, Stage::kParse, "DICOM_NO_STUDY_UID", where + " (0020,000D)",
                        "Study Instance UID (0020,000D) missing in " + where + what +
                            ": the ImagingStudy id derives from it, so every dataset must carry it. Supply it by "
                            "querying with includefield=0020000D (QIDO-RS searches under /studies/{uid}/ may leave "
                            "it out), by converting the study's WADO-RS metadata (/studies/{uid}/metadata), or by "
                            "adding \"0020000D\": {\"vr\": \"UI\", \"Value\": [\"<study uid>\"]} to each dataset");
    }
    if (out.study_uid_.empty()) out.study_uid_ = std::string(study);
    else if (study != out.study_uid_)
      return make_error(StatusCode::kInvalidInput, Stage::kParse, "DICOM_MIXED_STUDIES", where + " (0020,000D)",
                        "datasets of several studies in one message (one study per message; convert splits them)");
    if (out.sender_.empty()) out.sender_ = std::string(first_string(find_attribute(ds, kRetrieveAeTitle)));
    if (out.institution_.empty()) out.institution_ = std::string(first_string(find_attribute(ds, kInstitutionName)));
    if (out.level_.empty()) {
      std::string_view l = first_string(find_attribute(ds, kQueryRetrieveLevel));
      if (l == "STUDY" || l == "SERIES") out.level_ = std::string(l);
      else if (l == "IMAGE" || l == "INSTANCE") out.level_ = "INSTANCE";
    }
    any_instance = any_instance || find_attribute(ds, kSopInstanceUid);
    std::string_view series = first_string(find_attribute(ds, kSeriesInstanceUid));
    any_series = any_series || !series.empty();
    auto leaf = static_cast<std::int32_t>(out.leaves_.size());
    out.leaves_.push_back(&ds);
    out.attr_base_.push_back(out.attr_total_);
    out.attr_total_ += ds.MemberCount();
    if (series.empty()) {
      out.root_.children.push_back(SourceNode{nullptr, leaf, true});
      continue;
    }
    auto [it, fresh] = series_by_uid.emplace(series, nullptr);
    if (fresh) {
      SourceGroup& g = out.series_.emplace_back();
      g.name = "SERIES";
      g.parent = &out.root_;
      g.index = static_cast<std::uint32_t>(out.series_.size());
      it->second = &g;
      out.root_.children.push_back(SourceNode{&g, -1, true});
    }
    it->second->children.push_back(SourceNode{nullptr, leaf, true});
  }
  if (out.level_.empty()) out.level_ = any_instance ? "INSTANCE" : any_series ? "SERIES" : "STUDY";
  // Identity: the study and a digest of the content (a re-sent document is
  // the same message; new metadata about the study is a new one).
  std::uint64_t h = 1469598103934665603ull;
  for (char c : text) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  char hex[17];
  for (int k = 0; k < 16; ++k) hex[k] = "0123456789abcdef"[(h >> (60 - 4 * k)) & 0xF];
  hex[16] = '\0';
  out.identity_ = out.study_uid_ + "#" + hex;
  return ok_status();
}

namespace {

// SAX scan for split_studies: dataset boundaries in a top-level array and
// each dataset's StudyInstanceUID.
struct SplitHandler : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, SplitHandler> {
  rapidjson::MemoryStream* ms = nullptr;
  std::string_view input;
  int depth = 0;
  bool top_array = false;
  struct Ds {
    std::size_t begin = 0, end = 0;
    std::string uid;
  };
  std::vector<Ds> datasets;
  bool study_key = false, value_key = false, captured = false;

  bool Default() { return true; }
  bool StartObject() {
    if (depth == 1 && top_array) {
      // Whether the reader has consumed the brace yet depends on its mode:
      // find it.
      std::size_t at = ms->Tell();
      if (at >= input.size() || input[at] != '{') at = at ? at - 1 : 0;
      datasets.push_back(Ds{at, 0, {}});
      captured = false;
    }
    ++depth;
    return true;
  }
  bool EndObject(rapidjson::SizeType) {
    --depth;
    if (depth == 1 && top_array && !datasets.empty()) {
      std::size_t at = ms->Tell();
      datasets.back().end = at < input.size() && input[at] == '}' ? at + 1 : at;
    }
    if (depth == 2) study_key = false;
    return true;
  }
  bool StartArray() {
    if (depth == 0) top_array = true;
    ++depth;
    return true;
  }
  bool EndArray(rapidjson::SizeType) {
    --depth;
    if (depth == 3) value_key = false;
    return true;
  }
  bool Key(const char* s, rapidjson::SizeType len, bool) {
    std::string_view k(s, len);
    if (depth == 2) study_key = k.size() == 8 && (k == "0020000D" || k == "0020000d");
    if (depth == 3) value_key = study_key && k == "Value";
    return true;
  }
  bool String(const char* s, rapidjson::SizeType len, bool) {
    if (depth == 4 && value_key && !captured && !datasets.empty()) {
      datasets.back().uid = std::string(trim_padding(std::string_view(s, len)));
      captured = true;
    }
    return true;
  }
};

}  // namespace

std::vector<std::string_view> split_studies(std::string_view input, const ParserLimits& limits) {
  std::vector<std::string_view> whole{input};
  if (input.size() > limits.max_bytes) return whole;
  SplitHandler h;
  rapidjson::MemoryStream ms(input.data(), input.size());
  h.ms = &ms;
  h.input = input;
  rapidjson::Reader reader;
  auto r = reader.Parse<kParseFlags>(ms, h);
  if (r.IsError() || !h.top_array || h.datasets.size() < 2) return whole;
  std::vector<std::string_view> out;
  std::size_t run = 0;
  for (std::size_t k = 1; k <= h.datasets.size(); ++k) {
    if (k < h.datasets.size() && h.datasets[k].uid == h.datasets[run].uid) continue;
    if (run == 0 && k == h.datasets.size()) return whole;  // one study: the document as it is
    out.push_back(input.substr(h.datasets[run].begin, h.datasets[k - 1].end - h.datasets[run].begin));
    run = k;
  }
  return out;
}

}  // namespace dxnorm::dicom
