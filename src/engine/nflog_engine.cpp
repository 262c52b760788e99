#include "engine/nflog_engine.h"

#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <net/if.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/socket_ring.h"
#include "util/clock.h"
#include "util/netns.h"

namespace hookdump {
namespace {

constexpr uint16_t kLinktypeRaw = 101;

}  // namespace

void NflogEngine::config(uint8_t cmd, const std::function<void(nlmsghdr*)>& attrs,
                         const std::string& what) {
    void* extra = nullptr;
    nlmsghdr* nlh = sock_.start_raw((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG,
                                    NLM_F_REQUEST | NLM_F_ACK, sizeof(nfgenmsg), &extra);
    auto* nfg = static_cast<nfgenmsg*>(extra);
    nfg->nfgen_family = AF_UNSPEC;
    nfg->version = NFNETLINK_V0;
    nfg->res_id = htons(group_);
    if (cmd) {
        nfulnl_msg_config_cmd c{cmd};
        mnl_attr_put(nlh, NFULA_CFG_CMD, sizeof c, &c);
    }
    if (attrs) attrs(nlh);
    sock_.transact(nlh, what);
}

NflogEngine::NflogEngine(uint16_t group, uint32_t snaplen)
    : group_(group), sock_(NETLINK_NETFILTER) {
    reader_.set_netns(own_netns_cookie());
    try {
        config(NFULNL_CFG_CMD_BIND, {}, "binding to NFLOG group " + std::to_string(group));
    } catch (const NetlinkError& e) {
        // nfnetlink_log answers EPERM both without CAP_NET_ADMIN and when another socket has
        // the group; as root only the second can be the reason.
        if (e.error() == EBUSY || (e.error() == EPERM && geteuid() == 0))
            throw RuntimeError("NFLOG group " + std::to_string(group) +
                               " is already bound by another process");
        throw;
    }
    config(
        0,
        [&](nlmsghdr* nlh) {
            nfulnl_msg_config_mode m{};
            m.copy_range = htonl(snaplen);
            m.copy_mode = NFULNL_COPY_PACKET;
            mnl_attr_put(nlh, NFULA_CFG_MODE, sizeof m, &m);
            mnl_attr_put_u16(nlh, NFULA_CFG_FLAGS, htons(NFULNL_CFG_F_SEQ));
            mnl_attr_put_u32(nlh, NFULA_CFG_TIMEOUT, htonl(5));  // 50 ms, like our ring blocks
        },
        "configuring NFLOG group " + std::to_string(group));
    sock_.set_receive_buffer(8 << 20);
    ledger_.interfaces.emplace_back();
}

std::vector<RingFill> NflogEngine::ring_fill() const {
    return socket_ring_fill(&sock_);
}

NflogEngine::~NflogEngine() {
    try {
        config(NFULNL_CFG_CMD_UNBIND, {}, "unbinding");
    } catch (...) {
        // the socket closes next, which unbinds too
    }
}

bool NflogEngine::handle_datagram(const char* buf, size_t len, EventHandler& handler) {
    return reader_.handle_datagram(buf, len, handler, ledger_.interfaces.front());
}

bool NflogReader::handle_datagram(const char* buf, size_t len, EventHandler& handler,
                                  InterfaceCounters& c) {
    bool go_on = true;
    int left = static_cast<int>(len);
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buf); go_on && mnl_nlmsg_ok(nlh, left);
         nlh = mnl_nlmsg_next(nlh, &left)) {
        if ((nlh->nlmsg_type & 0xff) != NFULNL_MSG_PACKET ||
            (nlh->nlmsg_type >> 8) != NFNL_SUBSYS_ULOG)
            continue;
        PacketEvent ev;
        ev.point = CapturePoint::Nflog;
        ev.linktype = kLinktypeRaw;
        ev.ts_ns = 0;
        uint32_t indev = 0, outdev = 0;
        bool seq_seen = false;
        uint32_t seq = 0;
        prefix_.clear();
        for_each_attr(nlh, sizeof(nfgenmsg), [&](const nlattr* a) {
            switch (mnl_attr_get_type(a)) {
                case NFULA_TIMESTAMP: {
                    nfulnl_msg_packet_timestamp t;
                    if (mnl_attr_get_payload_len(a) < sizeof t) break;
                    std::memcpy(&t, mnl_attr_get_payload(a), sizeof t);
                    ev.ts_ns = be64toh(t.sec) * 1000000000u + be64toh(t.usec) * 1000u;
                    break;
                }
                case NFULA_IFINDEX_INDEV:
                    indev = ntohl(mnl_attr_get_u32(a));
                    break;
                case NFULA_IFINDEX_OUTDEV:
                    outdev = ntohl(mnl_attr_get_u32(a));
                    break;
                case NFULA_PAYLOAD:
                    ev.bytes = {static_cast<const uint8_t*>(mnl_attr_get_payload(a)),
                                mnl_attr_get_payload_len(a)};
                    break;
                case NFULA_PREFIX:
                    prefix_ = mnl_attr_get_str(a);
                    break;
                case NFULA_SEQ:
                    seq = ntohl(mnl_attr_get_u32(a));
                    seq_seen = true;
                    break;
            }
        });
        if (seq_seen) {
            // Messages lost between the kernel and us (ENOBUFS) show as gaps.
            if (have_seq_ && seq != next_seq_) c.kernel_drops += seq - next_seq_;
            next_seq_ = seq + 1;
            have_seq_ = true;
        }
        if (!ev.ts_ns) ev.ts_ns = realtime_ns();  // NFLOG stamps only packets that carry a time
        ev.ifindex = static_cast<int32_t>(indev ? indev : outdev);
        ev.dir = indev && !outdev   ? Direction::In
                 : outdev && !indev ? Direction::Out
                                    : Direction::Unknown;
        ev.ifname = ifnames_.get(ev.ifindex);
        ev.netns = netns_;
        ev.parsed = parse_ip(ev.bytes);
        // NFLOG has no original length; the IP header's is the packet's.
        ev.len = static_cast<uint32_t>(ev.bytes.size());
        if (ev.parsed.has_ip() && ev.bytes.size() >= 4) {
            const uint32_t iplen =
                ev.parsed.family == 4
                    ? (ev.bytes[2] << 8 | ev.bytes[3])
                    : (ev.bytes.size() >= 6 ? 40u + (ev.bytes[4] << 8 | ev.bytes[5]) : 0u);
            if (iplen > ev.len) ev.len = iplen;
        }
        ev.label = prefix_;
        ++c.received;
        ++c.filter_accepted;
        go_on = handler.on_event(ev);
    }
    return go_on;
}

void NflogEngine::run(EventHandler& handler, const std::atomic<bool>& stop) {
    std::vector<char> buf(1 << 20);
    bool go_on = true;
    while (go_on && !stop.load(std::memory_order_relaxed)) {
        const ssize_t n = sock_.receive(buf, 100);
        if (n == -ENOBUFS) continue;  // counted by the sequence gap it leaves
        if (n == 0) {
            handler.on_idle(realtime_ns());
            continue;
        }
        go_on = handle_datagram(buf.data(), static_cast<size_t>(n), handler);
    }
    // Packets lost to overruns count as received by the filter too (the kernel logged them).
    ledger_.interfaces.front().filter_accepted += ledger_.interfaces.front().kernel_drops;
}

}  // namespace hookdump
