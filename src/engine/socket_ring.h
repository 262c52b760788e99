// The kernel ring of an engine that reads a netlink socket (kmod, NFLOG): its receive queue,
// as Engine::ring_fill reports it.
#pragma once

#include <vector>

#include "engine/engine.h"
#include "netlink/netlink_socket.h"

namespace hookdump {

// The socket's queued bytes of its receive buffer (SO_MEMINFO); none when there is no socket
// (kmod before its event socket is open) or the kernel does not say.
inline std::vector<RingFill> socket_ring_fill(const NetlinkSocket* sock) {
    if (const auto q = sock ? sock->receive_queue() : std::nullopt)
        return {{RingFill::Unit::SocketBytes, q->used, q->size}};
    return {};
}

}  // namespace hookdump
