// A netlink socket (libmnl) that owns its descriptor and turns a kernel refusal into one line
// with the kernel's own extack message; for generic netlink it also resolves families and
// groups and starts requests (resolve, start).
#pragma once

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "util/error.h"

namespace hookdump {

// A request the kernel refused: errno and, when it gave one, its extack message.
class NetlinkError : public RuntimeError {
  public:
    NetlinkError(int err, const std::string& what) : RuntimeError(what), err_(err) {}
    int error() const { return err_; }

  private:
    int err_;
};

struct GenlFamily {
    uint16_t id = 0;
    uint32_t version = 0;
    std::map<std::string, uint32_t> groups;
};

// libmnl's attribute loops are C macros that C++ rejects (void* conversions): these do the same.
template <class F>
void for_each_attr(const void* start, const void* end, F&& f) {
    const auto* a = static_cast<const nlattr*>(start);
    while (mnl_attr_ok(
        a, static_cast<int>(static_cast<const char*>(end) - reinterpret_cast<const char*>(a)))) {
        f(a);
        a = mnl_attr_next(a);
    }
}
template <class F>
void for_each_attr(const nlmsghdr* nlh, size_t offset, F&& f) {
    for_each_attr(mnl_nlmsg_get_payload_offset(nlh, offset), mnl_nlmsg_get_payload_tail(nlh), f);
}
template <class F>
void for_each_nested(const nlattr* nest, F&& f) {
    for_each_attr(
        mnl_attr_get_payload(nest),
        static_cast<const char*>(mnl_attr_get_payload(nest)) + mnl_attr_get_payload_len(nest), f);
}

class NetlinkSocket {
  public:
    explicit NetlinkSocket(int protocol = NETLINK_GENERIC);
    ~NetlinkSocket();
    NetlinkSocket(const NetlinkSocket&) = delete;
    NetlinkSocket& operator=(const NetlinkSocket&) = delete;

    int fd() const;
    uint32_t portid() const;

    // Throws NetlinkError with ENOENT when the family is not registered.
    GenlFamily resolve(const std::string& name);
    void join_group(uint32_t group);
    void set_receive_buffer(int bytes);
    // The receive queue (SO_MEMINFO): what the kernel charges for the datagrams queued and not
    // read (their buffers' true size), of the receive buffer. The same two numbers netlink
    // compares to overrun (ENOBUFS), so the fill is exact in the unit that decides a loss.
    struct ReceiveQueue {
        uint64_t used = 0;
        uint64_t size = 0;
    };
    std::optional<ReceiveQueue> receive_queue() const;

    // Starts a generic netlink request in the socket's buffer; add attributes with
    // mnl_attr_put_* on the returned header, then call transact().
    // Starts a request of any netlink protocol: header and `extra` zeroed bytes (nfgenmsg...).
    nlmsghdr* start_raw(uint16_t type, uint16_t flags, size_t extra, void** extra_out);
    nlmsghdr* start(uint16_t family, uint8_t cmd, uint8_t version,
                    uint16_t flags = NLM_F_REQUEST | NLM_F_ACK);
    // Sends the started request; calls `on_reply` for every reply (doit answers, dump parts);
    // throws NetlinkError on a refusal. `what` names the request in the error line.
    void transact(nlmsghdr* nlh, const std::string& what,
                  const std::function<void(const nlmsghdr*)>& on_reply = {});

    // A socket that also receives notifications or events (seq 0) keeps the datagrams of them
    // that arrive while transact() waits for its answer, for take_unsolicited(); otherwise
    // transact() hands them to its on_reply like the answer.
    void keep_unsolicited(bool on) { keep_unsolicited_ = on; }
    std::vector<std::vector<char>> take_unsolicited() { return std::exchange(unsolicited_, {}); }

    // Receives what arrives within timeout_ms into `buf`; returns its length, 0 on timeout.
    // ENOBUFS (the socket overran) is returned as -ENOBUFS, not thrown.
    ssize_t receive(std::vector<char>& buf, int timeout_ms);

  private:
    mnl_socket* nl_ = nullptr;
    uint32_t seq_;
    std::vector<char> buf_;
    bool keep_unsolicited_ = false;
    std::vector<std::vector<char>> unsolicited_;
};

}  // namespace hookdump
