// The one meaning of PacketEvent::netns and FlowKey::netns on every engine: the network
// namespace's cookie, as the kernel gives it (SO_NETNS_COOKIE, bpf_get_netns_cookie(),
// hookdump.ko's events). Namespace inodes are not used: they are not what BPF or the module
// see, and an inode can be reused after its namespace is gone.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>

namespace hookdump {

// The cookie of this process's network namespace; 0 where the kernel has no SO_NETNS_COOKIE
// (before 5.14): events then carry no namespace.
inline uint64_t own_netns_cookie() {
#ifndef SO_NETNS_COOKIE
    constexpr int SO_NETNS_COOKIE = 71;
#endif
    const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return 0;
    uint64_t cookie = 0;
    socklen_t len = sizeof cookie;
    if (getsockopt(s, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) != 0) cookie = 0;
    ::close(s);
    return cookie;
}

}  // namespace hookdump
