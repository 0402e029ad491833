// Status and StatusOr: the one way errors travel in dynis.
//
// A Status is either OK or a code plus a message. The message of a kError status is sent to
// clients as-is after '-' (it starts with its RESP error prefix, e.g. "ERR ..." or "WRONGTYPE
// ..."), so one table (commands/errors.h) holds the texts. Foreign errors (rocksdb::Status,
// libuv codes, errno) are translated in exactly one place each. Nothing throws.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace dynis {

class [[nodiscard]] Status {
 public:
  enum class Code { kOk = 0, kError, kNotFound, kIOError, kCorruption, kInvalidArgument };

  Status() = default;
  static Status OK() { return Status(); }
  static Status Error(std::string msg) { return Status(Code::kError, std::move(msg)); }
  static Status NotFound(std::string msg = "not found") {
    return Status(Code::kNotFound, std::move(msg));
  }
  static Status IOError(std::string msg) { return Status(Code::kIOError, std::move(msg)); }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status InvalidArgument(std::string msg) {
    return Status(Code::kInvalidArgument, std::move(msg));
  }

  bool ok() const { return code_ == Code::kOk; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsIOError() const { return code_ == Code::kIOError; }
  Code code() const { return code_; }
  const std::string& message() const { return msg_; }
  std::string ToString() const { return ok() ? "OK" : msg_; }

 private:
  Status(Code code, std::string msg) : code_(code), msg_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string msg_;
};

template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status s) : status_(std::move(s)) { assert(!status_.ok()); }  // NOLINT
  StatusOr(T value) : value_(std::move(value)) {}                        // NOLINT

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

#define DYNIS_CONCAT_INNER(a, b) a##b
#define DYNIS_CONCAT(a, b) DYNIS_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)     \
  do {                            \
    ::dynis::Status _st = (expr); \
    if (!_st.ok()) return _st;    \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(DYNIS_CONCAT(_statusor_, __LINE__), lhs, expr)

}  // namespace dynis
