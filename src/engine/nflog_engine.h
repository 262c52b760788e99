// NFLOG: the packets the user's own iptables/nft rules send to `log group N`, read over
// nfnetlink_log. Sequence gaps and socket overruns are counted in the ledger.
#pragma once

#include <memory>
#include <string>

#include "engine/engine.h"
#include "engine/engine_names.h"
#include "engine/ifname_cache.h"
#include "netlink/netlink_socket.h"

namespace hookdump {

// What NflogEngine does with each datagram it reads, apart from the socket: nfnetlink_log's
// packet messages to PacketEvents for a handler (benchmarks feed it datagrams of their own).
class NflogReader {
  public:
    // Hands the datagram's packets to `handler`, counting them in `c` (received,
    // filter_accepted, and sequence gaps as kernel_drops); false when the handler asked to stop.
    bool handle_datagram(const char* buf, size_t len, EventHandler& handler, InterfaceCounters& c);
    // The namespace NFLOG delivers from (the reading socket's), as a cookie (util/netns.h).
    void set_netns(uint64_t cookie) { netns_ = cookie; }

  private:
    uint64_t netns_ = 0;
    bool have_seq_ = false;
    uint32_t next_seq_ = 0;
    std::string prefix_;
    IfNameCache ifnames_;
};

class NflogEngine final : public Engine {
  public:
    // Binds to the group (throws RuntimeError when another process already has it, or
    // without CAP_NET_ADMIN). Copies up to `snaplen` bytes of each packet.
    NflogEngine(uint16_t group, uint32_t snaplen);
    ~NflogEngine() override;

    std::string_view name() const override { return engine_name::kNflog; }
    void run(EventHandler& handler, const std::atomic<bool>& stop) override;
    Ledger ledger() const override { return ledger_; }
    // The socket's receive queue (not nfnetlink_log's own batch, sent when it fills or times
    // out).
    std::vector<RingFill> ring_fill() const override;

  private:
    void config(uint8_t cmd_or_zero, const std::function<void(nlmsghdr*)>& attrs,
                const std::string& what);
    bool handle_datagram(const char* buf, size_t len, EventHandler& handler);

    uint16_t group_;
    NetlinkSocket sock_;
    Ledger ledger_;
    NflogReader reader_;
};

}  // namespace hookdump
