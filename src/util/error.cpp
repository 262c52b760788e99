#include "util/error.h"

#include <cstring>

namespace hookdump {

std::string errno_message(const std::string& what, int err) {
    return what + ": " + std::strerror(err);
}

}  // namespace hookdump
