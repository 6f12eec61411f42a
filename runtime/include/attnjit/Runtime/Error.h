//===- Error.h - attnjit's exception type ------------------------*- C++ -*-===//
//
// Part of attnjit. Every failure that reaches a user is an attnjit::Error whose
// message names what was wrong (operand, expected, found) or which driver call
// failed and in what context.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_ERROR_H
#define ATTNJIT_RUNTIME_ERROR_H

#include <stdexcept>
#include <string>

namespace attnjit {

enum class ErrorKind {
  InvalidArgument, ///< bad input from the caller; nothing was launched
  Unsupported,     ///< a valid request attnjit cannot serve (head size, arch, ...)
  NoDevice,        ///< no CUDA driver or no device
  Driver,          ///< a CUDA driver call failed
  Compile,         ///< the compiler failed
  NotFound,        ///< a kernel is not in the bundle/cache and no JIT is linked
  Io,              ///< file system
};

class Error : public std::runtime_error {
public:
  Error(ErrorKind kind, const std::string &msg) : std::runtime_error(msg), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

private:
  ErrorKind kind_;
};

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_ERROR_H
