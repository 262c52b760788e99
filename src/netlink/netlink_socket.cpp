#include "netlink/netlink_socket.h"

#include <linux/sock_diag.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace hookdump {
namespace {

constexpr uint16_t kNlmFCapped = 0x100;   // NLM_F_CAPPED
constexpr uint16_t kNlmFAckTlvs = 0x200;  // NLM_F_ACK_TLVS
constexpr int kNlmsgerrAttrMsg = 1;       // NLMSGERR_ATTR_MSG

struct ErrorCtx {
    int err = 0;
    std::string message;
};

int on_error(const nlmsghdr* nlh, void* data) {
    auto* ctx = static_cast<ErrorCtx*>(data);
    const auto* e = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
    if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(nlmsgerr))) {
        ctx->err = EBADMSG;
        return MNL_CB_ERROR;
    }
    if (e->error == 0) return MNL_CB_STOP;  // the ack
    ctx->err = -e->error;
    if (nlh->nlmsg_flags & kNlmFAckTlvs) {
        size_t off = sizeof(nlmsgerr);
        if (!(nlh->nlmsg_flags & kNlmFCapped)) off += e->msg.nlmsg_len - sizeof(nlmsghdr);
        const auto* start = static_cast<const char*>(mnl_nlmsg_get_payload(nlh)) + off;
        const auto* end = reinterpret_cast<const char*>(nlh) + nlh->nlmsg_len;
        for (auto* a = reinterpret_cast<const nlattr*>(start);
             reinterpret_cast<const char*>(a) + sizeof(nlattr) <= end &&
             a->nla_len >= sizeof(nlattr) && reinterpret_cast<const char*>(a) + a->nla_len <= end;
             a = reinterpret_cast<const nlattr*>(reinterpret_cast<const char*>(a) +
                                                 MNL_ALIGN(a->nla_len))) {
            if (mnl_attr_get_type(a) == kNlmsgerrAttrMsg) ctx->message = mnl_attr_get_str(a);
        }
    }
    return MNL_CB_ERROR;
}

}  // namespace

NetlinkSocket::NetlinkSocket(int protocol)
    : seq_(static_cast<uint32_t>(time(nullptr))), buf_(MNL_SOCKET_BUFFER_SIZE * 4) {
    nl_ = mnl_socket_open2(protocol, SOCK_CLOEXEC);
    if (!nl_)
        throw RuntimeError(
            errno_message("socket(AF_NETLINK, " + std::to_string(protocol) + ")", errno));
    if (mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0) {
        const int err = errno;
        mnl_socket_close(nl_);
        throw RuntimeError(errno_message("bind(AF_NETLINK)", err));
    }
    int on = 1;
    mnl_socket_setsockopt(nl_, NETLINK_EXT_ACK, &on, sizeof on);
    mnl_socket_setsockopt(nl_, NETLINK_CAP_ACK, &on, sizeof on);
}

NetlinkSocket::~NetlinkSocket() {
    if (nl_) mnl_socket_close(nl_);
}

int NetlinkSocket::fd() const {
    return mnl_socket_get_fd(nl_);
}
uint32_t NetlinkSocket::portid() const {
    return mnl_socket_get_portid(nl_);
}

void NetlinkSocket::join_group(uint32_t group) {
    if (mnl_socket_setsockopt(nl_, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0) {
        if (errno == EPERM)
            throw NetlinkError(EPERM, "listening to hookdump events needs CAP_NET_ADMIN");
        throw NetlinkError(errno, errno_message("joining the netlink group", errno));
    }
}

void NetlinkSocket::set_receive_buffer(int bytes) {
    // FORCE ignores rmem_max (needs CAP_NET_ADMIN); otherwise take what the limit allows.
    if (setsockopt(fd(), SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0)
        setsockopt(fd(), SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
}

std::optional<NetlinkSocket::ReceiveQueue> NetlinkSocket::receive_queue() const {
    uint32_t mem[SK_MEMINFO_VARS] = {};
    socklen_t len = sizeof mem;
    if (getsockopt(fd(), SOL_SOCKET, SO_MEMINFO, mem, &len) != 0 ||
        len < sizeof(uint32_t) * (SK_MEMINFO_RCVBUF + 1))
        return std::nullopt;
    return ReceiveQueue{mem[SK_MEMINFO_RMEM_ALLOC], mem[SK_MEMINFO_RCVBUF]};
}

nlmsghdr* NetlinkSocket::start_raw(uint16_t type, uint16_t flags, size_t extra, void** extra_out) {
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf_.data());
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = flags;
    nlh->nlmsg_seq = ++seq_;
    void* x = mnl_nlmsg_put_extra_header(nlh, extra);
    if (extra_out) *extra_out = x;
    return nlh;
}

nlmsghdr* NetlinkSocket::start(uint16_t family, uint8_t cmd, uint8_t version, uint16_t flags) {
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf_.data());
    nlh->nlmsg_type = family;
    nlh->nlmsg_flags = flags;
    nlh->nlmsg_seq = ++seq_;
    auto* g = static_cast<genlmsghdr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(genlmsghdr)));
    g->cmd = cmd;
    g->version = version;
    return nlh;
}

void NetlinkSocket::transact(nlmsghdr* nlh, const std::string& what,
                             const std::function<void(const nlmsghdr*)>& on_reply) {
    if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0)
        throw NetlinkError(errno, errno_message(what, errno));
    const uint32_t seq = nlh->nlmsg_seq;
    // An event batch can be 128 KiB (the module's HD_BATCH_MAX_BYTES).
    std::vector<char> rbuf(keep_unsolicited_ ? size_t{256} << 10 : MNL_SOCKET_BUFFER_SIZE * 4);
    ErrorCtx ectx;
    struct Data {
        const std::function<void(const nlmsghdr*)>* cb;
        ErrorCtx* ectx;
    } data{&on_reply, &ectx};
    mnl_cb_t ctl[NLMSG_MIN_TYPE] = {};
    ctl[NLMSG_ERROR] = [](const nlmsghdr* n, void* d) {
        return on_error(n, static_cast<Data*>(d)->ectx);
    };
    ctl[NLMSG_DONE] = [](const nlmsghdr*, void*) { return int{MNL_CB_STOP}; };
    ctl[NLMSG_NOOP] = [](const nlmsghdr*, void*) { return int{MNL_CB_OK}; };
    auto on_msg = [](const nlmsghdr* n, void* d) -> int {
        auto* dd = static_cast<Data*>(d);
        if (*dd->cb) (*dd->cb)(n);
        return MNL_CB_OK;
    };
    for (;;) {
        const ssize_t n = mnl_socket_recvfrom(nl_, rbuf.data(), rbuf.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == ENOBUFS)
                continue;  // events overran a shared socket; the reply still comes
            throw NetlinkError(errno, errno_message(what, errno));
        }
        // The kernel sends each event batch or notification as a datagram of its own.
        if (const auto* h = reinterpret_cast<const nlmsghdr*>(rbuf.data());
            keep_unsolicited_ && static_cast<size_t>(n) >= sizeof(nlmsghdr) && h->nlmsg_seq == 0 &&
            h->nlmsg_type >= NLMSG_MIN_TYPE) {
            unsolicited_.emplace_back(rbuf.begin(), rbuf.begin() + n);
            continue;
        }
        const int rc = mnl_cb_run2(rbuf.data(), static_cast<size_t>(n), seq, portid(), on_msg,
                                   &data, ctl, NLMSG_MIN_TYPE);
        if (rc == MNL_CB_STOP) return;
        if (rc < 0) {
            if (errno == ESRCH || errno == EPROTO) continue;  // an event, not our answer
            const int err = ectx.err ? ectx.err : errno;
            std::string msg = what + ": " + std::strerror(err);
            if (!ectx.message.empty()) msg += " (" + ectx.message + ")";
            if (err == EPERM) msg = what + ": needs CAP_NET_ADMIN (operation not permitted)";
            throw NetlinkError(err, msg);
        }
    }
}

GenlFamily NetlinkSocket::resolve(const std::string& name) {
    nlmsghdr* nlh = start(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1);
    mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, name.c_str());
    GenlFamily fam;
    try {
        transact(nlh, "looking up the " + name + " netlink family", [&](const nlmsghdr* reply) {
            for_each_attr(reply, sizeof(genlmsghdr), [&](const nlattr* a) {
                switch (mnl_attr_get_type(a)) {
                    case CTRL_ATTR_FAMILY_ID:
                        fam.id = mnl_attr_get_u16(a);
                        break;
                    case CTRL_ATTR_VERSION:
                        fam.version = mnl_attr_get_u32(a);
                        break;
                    case CTRL_ATTR_MCAST_GROUPS: {
                        for_each_nested(a, [&](const nlattr* g) {
                            std::string gname;
                            uint32_t gid = 0;
                            for_each_nested(g, [&](const nlattr* f) {
                                if (mnl_attr_get_type(f) == CTRL_ATTR_MCAST_GRP_NAME)
                                    gname = mnl_attr_get_str(f);
                                if (mnl_attr_get_type(f) == CTRL_ATTR_MCAST_GRP_ID)
                                    gid = mnl_attr_get_u32(f);
                            });
                            if (!gname.empty()) fam.groups[gname] = gid;
                        });
                        break;
                    }
                }
            });
        });
    } catch (const NetlinkError& e) {
        if (e.error() == ENOENT)
            throw NetlinkError(ENOENT, "the " + name + " kernel module is not loaded");
        throw;
    }
    return fam;
}

ssize_t NetlinkSocket::receive(std::vector<char>& buf, int timeout_ms) {
    // Read first and wait only when nothing is queued: a reader that falls behind finds a
    // datagram waiting every time, and a poll before each would be a system call for nothing.
    auto take = [&]() -> ssize_t {
        iovec iov{buf.data(), buf.size()};
        sockaddr_nl addr{};
        msghdr msg{};
        msg.msg_name = &addr;
        msg.msg_namelen = sizeof addr;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        const ssize_t n = ::recvmsg(fd(), &msg, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return -EAGAIN;
            if (errno == ENOBUFS) return -ENOBUFS;
            if (errno == EINTR) return 0;
            throw RuntimeError(errno_message("recv(netlink)", errno));
        }
        if (msg.msg_flags & MSG_TRUNC) throw RuntimeError(errno_message("recv(netlink)", ENOSPC));
        return n;
    };
    ssize_t n = take();
    if (n != -EAGAIN) return n;
    pollfd p{fd(), POLLIN, 0};
    const int rc = ::poll(&p, 1, timeout_ms);
    if (rc < 0) {
        if (errno == EINTR) return 0;
        throw RuntimeError(errno_message("poll(netlink)", errno));
    }
    if (rc == 0) return 0;
    n = take();
    return n == -EAGAIN ? 0 : n;
}

}  // namespace hookdump
