// Errors at the boundaries: a user mistake (exit 2) or a runtime failure (exit 1).
// Each carries one line that names what was wrong.
#pragma once

#include <stdexcept>
#include <string>

namespace hookdump {

// Bad input from the user: an unknown option, a bad expression, an unreadable capture file.
class UsageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Something failed while running: a write error, a kernel refusal.
class RuntimeError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// "what: strerror(err)"
std::string errno_message(const std::string& what, int err);

inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntime = 1;
inline constexpr int kExitUsage = 2;

}  // namespace hookdump
