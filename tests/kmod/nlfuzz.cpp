// A small fuzzer of hookdump.ko's netlink interface: random and malformed generic netlink
// messages (random commands, flags, versions, attribute types and lengths, nests, truncated
// headers) plus mutated valid RULE_ADDs. Every request must get an answer (an error or an
// ack), and the module must still work afterwards. Run in the VM; the kernel log is checked
// by the suite.
//   hookdump-nlfuzz [ITERATIONS] [SEED]
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "engine/kmod_engine.h"
#include "hookdump.h"
#include "netlink/netlink_socket.h"

using namespace hookdump;

namespace {

struct Writer {
    std::vector<uint8_t> b;
    void put(const void* p, size_t n) {
        b.insert(b.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
    }
    void pad() { b.resize((b.size() + 3) & ~size_t{3}, 0); }
};

void random_attrs(Writer& w, std::mt19937& rng, int depth) {
    const int n = static_cast<int>(rng() % 8);
    for (int i = 0; i < n; ++i) {
        const size_t start = w.b.size();
        nlattr a{};
        a.nla_type = static_cast<uint16_t>(rng() % 24);
        if (rng() % 4 == 0) a.nla_type |= NLA_F_NESTED;
        w.put(&a, sizeof a);
        if ((a.nla_type & NLA_F_NESTED || a.nla_type == HOOKDUMP_A_RULE) && depth < 3) {
            random_attrs(w, rng, depth + 1);
        } else {
            const size_t len =
                rng() % 4 == 0 ? rng() % 64 : std::array<size_t, 6>{0, 1, 2, 4, 8, 16}[rng() % 6];
            for (size_t k = 0; k < len; ++k) w.b.push_back(static_cast<uint8_t>(rng()));
        }
        uint16_t len = static_cast<uint16_t>(w.b.size() - start);
        if (rng() % 16 == 0) len = static_cast<uint16_t>(rng() % 200);  // a lying length
        std::memcpy(&w.b[start], &len, 2);
        w.pad();
    }
}

}  // namespace

int main(int argc, char** argv) {
    const long iterations = argc > 1 ? std::atol(argv[1]) : 20000;
    const unsigned seed = argc > 2 ? static_cast<unsigned>(std::atol(argv[2])) : 1;
    std::mt19937 rng(seed);
    try {
        NetlinkSocket sock;
        const GenlFamily fam = sock.resolve(HOOKDUMP_GENL_NAME);
        timeval tv{2, 0};
        setsockopt(sock.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        long answered = 0, refused = 0, accepted = 0;
        std::vector<char> rbuf(1 << 16);
        for (long i = 0; i < iterations; ++i) {
            Writer w;
            nlmsghdr nlh{};
            w.put(&nlh, sizeof nlh);
            genlmsghdr g{};
            g.cmd = static_cast<uint8_t>(rng() % 4 ? rng() % (HOOKDUMP_CMD_MAX + 3) : rng());
            g.version = static_cast<uint8_t>(rng() % 8 ? HOOKDUMP_GENL_VERSION : rng());
            g.reserved = static_cast<uint16_t>(rng() % 8 ? 0 : rng());
            w.put(&g, sizeof g);
            random_attrs(w, rng, 0);
            auto* h = reinterpret_cast<nlmsghdr*>(w.b.data());
            h->nlmsg_len = static_cast<uint32_t>(w.b.size());
            h->nlmsg_type = fam.id;
            h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
            if (g.cmd == HOOKDUMP_CMD_RULE_LIST && rng() % 2) h->nlmsg_flags |= NLM_F_DUMP;
            h->nlmsg_seq = static_cast<uint32_t>(i + 1);
            if (rng() % 32 == 0 && w.b.size() > sizeof(nlmsghdr))  // truncated genl header
                h->nlmsg_len = static_cast<uint32_t>(sizeof(nlmsghdr) + rng() % sizeof(genlmsghdr));
            if (send(sock.fd(), w.b.data(), h->nlmsg_len, 0) < 0) {
                std::fprintf(stderr, "send: %s\n", std::strerror(errno));
                return 1;
            }
            // Read until the ack/error for this sequence number (dumps send parts first).
            for (bool done = false; !done;) {
                const ssize_t n = recv(sock.fd(), rbuf.data(), rbuf.size(), 0);
                if (n < 0) {
                    if (errno == ENOBUFS) continue;
                    std::fprintf(stderr, "iteration %ld (cmd %u): no answer: %s\n", i, g.cmd,
                                 std::strerror(errno));
                    return 1;
                }
                int left = static_cast<int>(n);
                for (auto* r = reinterpret_cast<const nlmsghdr*>(rbuf.data());
                     mnl_nlmsg_ok(r, left); r = mnl_nlmsg_next(r, &left)) {
                    if (r->nlmsg_seq != h->nlmsg_seq) continue;
                    if (r->nlmsg_type == NLMSG_ERROR) {
                        const auto* e = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(r));
                        (e->error ? refused : accepted)++;
                        done = true;
                    } else if (r->nlmsg_type == NLMSG_DONE) {
                        ++accepted;
                        done = true;
                    }
                }
            }
            ++answered;
        }
        // The module still works: flush what the fuzzer added, add and list one rule.
        KmodClient client;
        client.flush_rules();
        Rule r;
        r.proto = 17;
        const uint32_t id = client.add_rule(r);
        const auto rules = client.list_rules();
        if (rules.size() != 1 || rules[0].id != id) {
            std::fprintf(stderr, "after fuzzing: expected exactly rule %u, listed %zu rules\n", id,
                         rules.size());
            return 1;
        }
        client.flush_rules();
        std::printf(
            "nlfuzz: %ld messages, %ld answered (%ld refused, %ld accepted), seed %u; module still "
            "works\n",
            iterations, answered, refused, accepted, seed);
        return answered == iterations ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "nlfuzz: %s\n", e.what());
        return 1;
    }
}
