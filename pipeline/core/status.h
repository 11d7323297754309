// Status codes and error values for the per-message path.
//
// Contract: on the per-message path nothing throws; every stage returns a
// Result<T>. The StatusCode decides what the pipeline does with a failure:
//   kInvalidInput       -> dead-letter the original bytes and move on
//   kUnavailable        -> back off, keep the offset, retry (broker/sink down)
//   kFailedPrecondition -> configuration/mapping problem: dead-letter and alert
//   kInternal           -> a bug in dxnorm: dead-letter and alert
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace dxnorm {

enum class StatusCode : std::uint8_t {
  kOk = 0,
  kInvalidInput,
  kUnavailable,
  kFailedPrecondition,
  kInternal,
};

// Where in the data flow a failure happened (dead-letter header `stage`).
enum class Stage : std::uint8_t { kSource, kParse, kRoute, kMap, kValidate, kPublish };

std::string_view to_string(StatusCode code) noexcept;
std::string_view to_string(Stage stage) noexcept;

// A failure, with both locations a reader needs: the input's (`OBX(3)-5.1`)
// and, where there is one, the output's (`Bundle.entry[3].resource.status`).
struct Error {
  StatusCode code = StatusCode::kInternal;
  Stage stage = Stage::kParse;
  std::string error_code;  // stable machine code, e.g. "HL7_NO_MSH"
  std::string location;    // input location; may be empty
  std::string message;     // one line, no patient data

  // "parse HL7_NO_MSH at MSH: message does not start with MSH"
  std::string to_string() const;
};

// Minimal expected<T, Error>. [[nodiscard]] so a dropped failure is a warning.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT(implicit)
  Result(Error error) : v_(std::move(error)) {}    // NOLINT(implicit)

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }

  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success carries nothing.
struct Ok {};
using Status = Result<Ok>;
inline Status ok_status() { return Ok{}; }

inline Error make_error(StatusCode code, Stage stage, std::string error_code,
                        std::string location, std::string message) {
  return Error{code, stage, std::move(error_code), std::move(location), std::move(message)};
}

}  // namespace dxnorm
