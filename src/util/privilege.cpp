#include "util/privilege.h"

#include <fstream>
#include <sstream>
#include <string>

#include <fmt/format.h>

#include "util/error.h"

namespace hookdump {

bool in_initial_user_namespace() {
    std::ifstream f("/proc/self/uid_map");
    if (!f) return true;  // no user namespaces in this kernel
    std::string line, rest;
    std::getline(f, line);
    std::getline(f, rest);
    std::istringstream in(line);
    unsigned long long inside = 1, outside = 1, count = 0;
    in >> inside >> outside >> count;
    return rest.empty() && inside == 0 && outside == 0 && count == 4294967295ULL;
}

void require_initial_user_namespace(std::string_view engine, std::string_view caps) {
    // The kernel checks these capabilities in the initial user namespace (capable()), where a
    // container's root has none.
    if (!in_initial_user_namespace())
        throw RuntimeError(
            fmt::format("the {} engine needs {} in the initial user namespace, and this "
                        "process is in a user namespace of its own (a container); "
                        "--engine kmod or afpacket work here",
                        engine, caps));
}

}  // namespace hookdump
