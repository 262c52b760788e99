// The hookdump.ko engine: rules into the module, events from it over generic netlink.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/engine_names.h"
#include "engine/ifname_cache.h"
#include "netlink/netlink_socket.h"
#include "packet/proc_filter.h"
#include "rules/rule.h"
#include "util/error.h"

namespace hookdump {

// Named like HOOKDUMP_STATS_A_*.
struct KmodStats {
    uint64_t matched = 0, queued = 0, delivered = 0, drop_full = 0, drop_nobufs = 0, drop_nomem = 0,
             drop_nosession = 0, batches = 0;
    uint64_t rules = 0, hooks = 0;  // in place now (gauges)
};

// RULE_ADD over `sock`: from a capture session's own socket the rule is the session's (it
// goes when the session ends); from any other, it stays until deleted. Returns the rule id.
uint32_t kmod_add_rule(NetlinkSocket& sock, uint16_t family, const Rule& r);

// Control requests to the module in the caller's network namespace.
class KmodClient {
  public:
    KmodClient();  // throws NetlinkError "the hookdump kernel module is not loaded"
    uint32_t add_rule(const Rule& r) { return kmod_add_rule(sock_, family_.id, r); }
    void delete_rule(uint32_t id);
    void flush_rules();
    std::vector<Rule> list_rules();
    KmodStats stats();
    const GenlFamily& family() const { return family_; }

  private:
    NetlinkSocket sock_;
    GenlFamily family_;
};

// Converts one HOOKDUMP_A_EVENT payload into a PacketEvent (bytes borrowed from `payload`).
// Returns false for a payload too short to be an event.
bool event_from_payload(const void* payload, size_t len, PacketEvent& ev);

// What KmodEngine does with each datagram it reads, apart from the socket: the module's event
// messages to PacketEvents for a handler (the benchmarks and unit tests feed it datagrams of
// their own).
// Which events of an iptables rule's -j HOOKDUMP (HOOKDUMP_SLOT_TARGET) a reader keeps: all
// (kmod listen), none (a capture's own rules only), or those of one group and nothing else
// (capture --engine kmod --group N), and of these, with `rules`, those one of the rules matches
// (Rule::matches: the expression of capture --group N EXPRESSION, applied in userspace).
struct KmodTargets {
    enum class Keep { All, None, Group } keep = Keep::All;
    uint16_t group = 0;
    std::vector<Rule> rules;  // Group: empty keeps every event of the group
};

class KmodEventReader {
  public:
    explicit KmodEventReader(uint16_t family_id, KmodTargets targets = {})
        : family_id_(family_id), targets_(targets) {}
    // Hands the datagram's events to `handler`, counting them in `c` (received);
    // false when the handler asked to stop. Throws KmodUnloaded when nlctrl says the family
    // went away.
    bool handle_datagram(const char* buf, size_t len, EventHandler& handler, InterfaceCounters& c);
    // capture --proc: the events' sender (HOOKDUMP_A_EVENT_PROC, the uid and pid beside it) in
    // PacketEvent::proc, and only the events `filter` matches.
    void set_proc(ProcFilter filter) { proc_ = std::move(filter); }

  private:
    bool deliver(size_t n, EventHandler& handler, InterfaceCounters& c);

    bool wanted(const void* payload, const PacketEvent& ev) const;

    uint16_t family_id_;
    KmodTargets targets_;
    std::optional<ProcFilter> proc_;
    IfNameCache ifnames_;
    // Events go to the handler a batch at a time (one call per batch, not per event). Only
    // the fields fill_event sets change, so an entry is not cleared between uses.
    std::vector<PacketEvent> batch_ = std::vector<PacketEvent>(256);
};

struct KmodUnloaded : RuntimeError {
    KmodUnloaded() : RuntimeError("the hookdump kernel module was unloaded") {}
};

class KmodEngine final : public Engine {
  public:
    enum class Mode { Session, Listen };
    // Session: starts a session and adds `rules` as its own: they go when it stops (SESSION_STOP
    // at the end, or the socket closing when the process dies).
    // Listen: joins the multicast group and only reads (rules are someone else's).
    // `targets`: which -j HOOKDUMP events to keep (default: all in Listen, none in Session).
    KmodEngine(Mode mode, std::vector<Rule> rules, std::optional<KmodTargets> targets = {});
    ~KmodEngine() override;

    std::string_view name() const override { return engine_name::kKmod; }
    void run(EventHandler& handler, const std::atomic<bool>& stop) override;
    Ledger ledger() const override { return ledger_; }
    // The events socket's receive queue.
    std::vector<RingFill> ring_fill() const override;
    const std::vector<uint32_t>& rule_ids() const { return rule_ids_; }
    void set_proc(ProcFilter filter) { reader_.set_proc(std::move(filter)); }

  private:
    void cleanup() noexcept;
    bool handle_datagram(const char* buf, size_t len, EventHandler& handler);
    // Events that arrived while a request on the session's socket waited for its answer.
    bool handle_unsolicited(EventHandler& handler);

    Mode mode_;
    bool group_;  // a listener of one -j HOOKDUMP group (capture --group N)
    KmodClient control_;
    std::unique_ptr<NetlinkSocket> events_;
    std::vector<uint32_t> rule_ids_;
    Ledger ledger_;
    uint64_t overruns_ = 0;
    KmodStats start_stats_;
    KmodEventReader reader_;
};

}  // namespace hookdump
