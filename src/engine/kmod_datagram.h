// Event datagrams laid out as hookdump.ko sends them (kmod/hookdump.c, hd_record: genlmsg_put
// of HOOKDUMP_CMD_EVENTS, then per event one HOOKDUMP_A_EVENT attribute holding struct
// hookdump_event and its caplen packet bytes, then that event's own attributes: a -j HOOKDUMP
// rule's label (HOOKDUMP_A_EVENT_LABEL), the sender (HOOKDUMP_A_EVENT_PROC)), for the unit tests
// and benchmarks, which run without the module.
#pragma once

#include <linux/genetlink.h>
#include <linux/netlink.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "hookdump.h"

namespace hookdump {

class KmodDatagramBuilder {
  public:
    explicit KmodDatagramBuilder(uint16_t family_id) {
        buf_.resize(NLMSG_HDRLEN + GENL_HDRLEN);
        auto* nlh = reinterpret_cast<nlmsghdr*>(buf_.data());
        nlh->nlmsg_type = family_id;
        auto* g = reinterpret_cast<genlmsghdr*>(buf_.data() + NLMSG_HDRLEN);
        g->cmd = HOOKDUMP_CMD_EVENTS;
        g->version = HOOKDUMP_GENL_VERSION;
    }
    // Appends one event; its caplen becomes bytes.size().
    KmodDatagramBuilder& add(hookdump_event ev, std::span<const uint8_t> bytes = {}) {
        ev.caplen = static_cast<uint32_t>(bytes.size());
        const size_t attr = NLA_HDRLEN + sizeof ev + bytes.size();
        const size_t at = buf_.size();
        buf_.resize(at + NLA_ALIGN(attr));
        nlattr a{static_cast<uint16_t>(attr), HOOKDUMP_A_EVENT};
        std::memcpy(buf_.data() + at, &a, sizeof a);
        std::memcpy(buf_.data() + at + NLA_HDRLEN, &ev, sizeof ev);
        if (!bytes.empty())
            std::memcpy(buf_.data() + at + NLA_HDRLEN + sizeof ev, bytes.data(), bytes.size());
        ++count_;
        return *this;
    }
    // Appends the label attribute of the event added last (a -j HOOKDUMP rule's), NUL included.
    KmodDatagramBuilder& label(const char* text) {
        return attr(HOOKDUMP_A_EVENT_LABEL, text, std::strlen(text) + 1);
    }
    // Appends the sender attribute of the event added last.
    KmodDatagramBuilder& proc(const hookdump_event_proc& p) {
        return attr(HOOKDUMP_A_EVENT_PROC, &p, sizeof p);
    }
    KmodDatagramBuilder& attr(uint16_t type, const void* data, size_t n) {
        const size_t attr = NLA_HDRLEN + n;
        const size_t at = buf_.size();
        buf_.resize(at + NLA_ALIGN(attr));
        nlattr a{static_cast<uint16_t>(attr), type};
        std::memcpy(buf_.data() + at, &a, sizeof a);
        std::memcpy(buf_.data() + at + NLA_HDRLEN, data, n);
        return *this;
    }
    size_t count() const { return count_; }
    // The message as the socket delivers it (nlmsg_end: the length covers every attribute).
    std::vector<char> datagram() const {
        std::vector<char> d = buf_;
        reinterpret_cast<nlmsghdr*>(d.data())->nlmsg_len = static_cast<uint32_t>(d.size());
        return d;
    }

  private:
    std::vector<char> buf_;
    size_t count_ = 0;
};

}  // namespace hookdump
