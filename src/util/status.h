// Status and Result<T>: how every layer below the API reports an error as a value.
//
// A Status is either ok or carries an error Code plus a human-readable message that names what
// was wrong and where (e.g. "attribute 'speed': value is missing"). The api layer maps Codes to
// HTTP statuses and NGSI-LD ProblemDetails types; nothing below it knows about HTTP.
// Status and Result are plain values: cheap to move, safe to pass between threads.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace cityhub {

class Status {
 public:
  // The NGSI-LD error families (GS CIM 009 §5.5.2) plus what storage and servers need.
  enum class Code {
    kOk = 0,
    kInvalidRequest,         // malformed request: bad JSON, bad parameter syntax
    kBadRequestData,         // well-formed but semantically invalid data
    kNotFound,               // ResourceNotFound
    kNonexistentTenant,      // NonexistentTenant: the NGSILD-Tenant named does not exist
    kAlreadyExists,          // AlreadyExists
    kOperationNotSupported,  // OperationNotSupported
    kTooManyResults,         // TooManyResults
    kTooComplexQuery,        // TooComplexQuery
    kLdContextNotAvailable,  // LdContextNotAvailable
    kUnsupportedMediaType,   // wrong Content-Type (HTTP 415)
    kNotAcceptable,          // Accept cannot be satisfied (HTTP 406)
    kPayloadTooLarge,        // a size limit was exceeded (HTTP 413)
    kUnavailable,            // shutting down or overloaded (HTTP 503)
    kUnauthenticated,        // no valid credentials (HTTP 401; security/)
    kPermissionDenied,       // authenticated but not allowed (HTTP 403; security/)
    kTooManyRequests,        // the caller's rate limit is used up (HTTP 429)
    kInternal,               // InternalError: a bug or an I/O failure
  };

  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidRequest(std::string m) { return {Code::kInvalidRequest, std::move(m)}; }
  static Status BadRequestData(std::string m) { return {Code::kBadRequestData, std::move(m)}; }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
  static Status NotSupported(std::string m) { return {Code::kOperationNotSupported, std::move(m)}; }
  static Status TooManyResults(std::string m) { return {Code::kTooManyResults, std::move(m)}; }
  static Status TooComplexQuery(std::string m) { return {Code::kTooComplexQuery, std::move(m)}; }
  static Status LdContextNotAvailable(std::string m) {
    return {Code::kLdContextNotAvailable, std::move(m)};
  }
  static Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }
  static Status PermissionDenied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// Result<T> holds either a value or a non-ok Status. Access value() only when ok().
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) { assert(!std::get<Status>(v_).ok()); }  // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace cityhub

// Returns the Status of `expr` from the enclosing function when it is not ok.
#define CITYHUB_RETURN_IF_ERROR(expr)        \
  do {                                       \
    ::cityhub::Status _st = (expr);          \
    if (!_st.ok()) return _st;               \
  } while (0)
