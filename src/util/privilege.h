// What a process in a user namespace of its own (a container) cannot do, found before an
// engine starts, so that the refusal is one line naming the privilege and not libbpf's EPERMs.
#pragma once

#include <string_view>

namespace hookdump {

// False when /proc/self/uid_map is not the initial namespace's identity map (a container).
bool in_initial_user_namespace();

// Throws RuntimeError when this process is in a user namespace of its own: `engine` needs
// `caps` (e.g. "CAP_BPF and CAP_NET_ADMIN"), which only the initial user namespace grants.
void require_initial_user_namespace(std::string_view engine, std::string_view caps);

}  // namespace hookdump
