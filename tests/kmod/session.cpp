// Drives a capture session of hookdump.ko by hand, so that SESSION_STOP can be checked with its
// socket still open (the CLI closes its socket right after, which alone would remove the rules):
// a rule added outside a session stays; the rules the session adds are its own and go, with
// the hooks only they needed, on SESSION_STOP; the socket is an ordinary client afterwards.
// Prints what it saw, one line a step, for tests/vm/cases/69_kmod_session_stop.sh to compare.
//   hookdump-kmodsession
#include <cerrno>
#include <cstdio>
#include <string>

#include "engine/kmod_engine.h"
#include "hookdump.h"
#include "netlink/netlink_socket.h"

using namespace hookdump;

namespace {

// The rules in the namespace and whose they are: "kept" (no owner), "session" (the given port).
std::string owners(KmodClient& c, uint32_t session) {
    std::string s;
    for (const auto& r : c.list_rules())
        s += (s.empty() ? "" : " ") + std::to_string(r.id) + ":" +
             (r.owner == 0         ? "kept"
              : r.owner == session ? "session"
                                   : "other " + std::to_string(r.owner));
    return s.empty() ? "none" : s;
}

void report(KmodClient& c, uint32_t session, const char* when) {
    const KmodStats st = c.stats();
    std::printf("%s: rules %s; rules %llu hooks %llu\n", when, owners(c, session).c_str(),
                static_cast<unsigned long long>(st.rules),
                static_cast<unsigned long long>(st.hooks));
}

void request(NetlinkSocket& s, uint16_t family, uint8_t cmd, const char* what) {
    s.transact(s.start(family, cmd, HOOKDUMP_GENL_VERSION), what);
}

}  // namespace

int main() {
    try {
        KmodClient control;
        const uint16_t fam = control.family().id;
        NetlinkSocket session;
        const uint32_t port = session.portid();

        Rule kept;  // udp, every hook, first slot: both families, 10 hooks
        kept.proto = 17;
        control.add_rule(kept);
        report(control, port, "before the session");

        request(session, fam, HOOKDUMP_CMD_SESSION_START, "starting a session");
        Rule own;  // icmp at output, last slot: 2 hooks of its own
        own.proto = 1;
        own.hooks = 1u << HOOKDUMP_HOOK_LOCAL_OUT;
        own.slots = 1u << HOOKDUMP_SLOT_LAST;
        kmod_add_rule(session, fam, own);
        report(control, port, "in the session");

        request(session, fam, HOOKDUMP_CMD_SESSION_STOP, "stopping the session");
        report(control, port, "after SESSION_STOP");
        try {
            request(session, fam, HOOKDUMP_CMD_SESSION_STOP, "stopping it again");
            std::printf("a second SESSION_STOP was accepted\n");
        } catch (const NetlinkError& e) {
            std::printf("%s\n", e.what());
        }

        // The same socket, no longer a session: what it adds is kept.
        kmod_add_rule(session, fam, own);
        report(control, port, "added after the session");
        control.flush_rules();
        report(control, port, "flushed");
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "kmodsession: %s\n", e.what());
        return 1;
    }
}
