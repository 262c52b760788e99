// The hookdump.ko engine: rules into the module, events from it over generic netlink.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/engine.h"
#include "engine/kmod_rules.h"
#include "netlink/netlink_socket.h"

namespace hookdump {

// Named like HOOKDUMP_STATS_A_*.
struct KmodStats {
    uint64_t matched = 0, queued = 0, delivered = 0, drop_full = 0, drop_nobufs = 0, drop_nomem = 0,
             drop_nosession = 0, batches = 0;
};

// Control requests to the module in the caller's network namespace.
class KmodClient {
public:
    KmodClient();  // throws NetlinkError "the hookdump kernel module is not loaded"
    uint32_t add_rule(const KmodRule& r);
    void delete_rule(uint32_t id);
    void flush_rules();
    std::vector<KmodRule> list_rules();
    KmodStats stats();
    const GenlFamily& family() const { return family_; }

private:
    NetlinkSocket sock_;
    GenlFamily family_;
};

// Converts one HOOKDUMP_A_EVENT payload into a PacketEvent (bytes borrowed from `payload`).
// Returns false for a payload too short to be an event.
bool event_from_payload(const void* payload, size_t len, PacketEvent& ev);

class KmodEngine final : public Engine {
public:
    enum class Mode { Session, Listen };
    // Session: adds `rules`, starts a session, removes the rules at the end.
    // Listen: joins the multicast group and only reads (rules are someone else's).
    KmodEngine(Mode mode, std::vector<KmodRule> rules);
    ~KmodEngine() override;

    std::string_view name() const override { return "kmod"; }
    void run(EventHandler& handler, const std::atomic<bool>& stop) override;
    Ledger ledger() const override { return ledger_; }
    const std::vector<uint32_t>& rule_ids() const { return rule_ids_; }

private:
    void cleanup() noexcept;
    bool handle_datagram(const char* buf, size_t len, EventHandler& handler);
    IfName ifname(int32_t ifindex);  // names as seen from this network namespace, cached

    Mode mode_;
    KmodClient control_;
    std::unique_ptr<NetlinkSocket> events_;
    std::vector<uint32_t> rule_ids_;
    Ledger ledger_;
    uint64_t overruns_ = 0;
    KmodStats start_stats_;
    std::unordered_map<int32_t, IfName> ifnames_;
};

}  // namespace hookdump
