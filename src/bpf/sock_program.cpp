#include "bpf/sock_program.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "bpf/libbpf_log.h"
#include "hookdump_sock.h"
#include "hookdump_sock.skel.h"
#include "rules/bpf_rules.h"
#include "util/cgroup.h"
#include "util/error.h"

namespace hookdump {

static_assert(sizeof(hookdump_sock_event) == 72 + HOOKDUMP_SOCK_HDR_MAX);
static_assert(offsetof(hookdump_sock_event, proc) == 40);
static_assert(offsetof(hookdump_sock_event, addr) == 16);
static_assert(offsetof(hookdump_sock_event, port) == 32);
static_assert(offsetof(hookdump_sock_event, caplen) == 38);

using bpf::fail_with_libbpf;

void SockProgram::SkelDeleter::operator()(hookdump_sock* s) const {
    hookdump_sock__destroy(s);
}
void SockProgram::RingDeleter::operator()(ring_buffer* r) const {
    ring_buffer__free(r);
}

SockProgram::SockProgram(const SockProgramConfig& cfg, const Cgroup2& cgroup2, Callback cb)
    : cb_(std::move(cb)) {
    const std::vector<hd_rule> rules =
        to_bpf_rules(cfg.rules, HOOKDUMP_SOCK_MAX_RULES, "the socket program");
    // The programs see every namespace's sockets and tell this namespace's by its cookie:
    // through the helper where the kernel gives it to cgroup_skb programs, else read from the
    // socket (Debian 12's 6.1 and 6.12). libbpf's probe is not the last word: Debian 12's
    // libbpf takes 6.12's "program of this type cannot use helper" for a yes, so a failed load
    // with the helper is retried without it.
    const bool helper =
        libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SKB, BPF_FUNC_get_netns_cookie, nullptr) == 1;
    bpf::libbpf_log_begin();

    auto load = [&](uint32_t netns_from) {
        skel_.reset(hookdump_sock__open());
        if (!skel_) fail_with_libbpf("cannot open the socket BPF program", errno);
        skel_->rodata->netns_cookie = cfg.netns_cookie;
        skel_->rodata->netns_from = netns_from;
        skel_->rodata->nr_rules = static_cast<uint32_t>(rules.size());
        skel_->rodata->with_proc = cfg.proc_socks_fd >= 0 ? 1 : 0;
        // The attribution's map, shared; else the smallest there is.
        if (cfg.proc_socks_fd >= 0) {
            if (bpf_map__reuse_fd(skel_->maps.hd_socks, cfg.proc_socks_fd) != 0)
                throw RuntimeError(errno_message(
                    "sharing the process attribution's map with the socket program", errno));
        } else {
            bpf_map__set_max_entries(skel_->maps.hd_socks, 1);
        }
        std::copy(rules.begin(), rules.end(), skel_->bss->rules);
        return hookdump_sock__load(skel_.get());
    };
    int err = helper ? load(HOOKDUMP_SOCK_NETNS_HELPER) : -1;
    if (err) err = load(HOOKDUMP_SOCK_NETNS_SOCKET);
    if (err) fail_with_libbpf("cannot load the socket BPF program", err);
    // bpf_links (BPF_LINK_CREATE), held by the skeleton: closed by its destruction, or by the
    // kernel with the process.
    skel_->links.hookdump_sk_in =
        bpf_program__attach_cgroup(skel_->progs.hookdump_sk_in, cgroup2.fd());
    if (!skel_->links.hookdump_sk_in)
        fail_with_libbpf("cannot attach cgroup_skb ingress at the cgroup v2 root", errno);
    skel_->links.hookdump_sk_out =
        bpf_program__attach_cgroup(skel_->progs.hookdump_sk_out, cgroup2.fd());
    if (!skel_->links.hookdump_sk_out)
        fail_with_libbpf("cannot attach cgroup_skb egress at the cgroup v2 root", errno);

    ring_.reset(
        ring_buffer__new(bpf_map__fd(skel_->maps.events), &SockProgram::on_sample, this, nullptr));
    if (!ring_) fail_with_libbpf("cannot open the socket program's ring buffer", errno);
}

SockProgram::~SockProgram() = default;

int SockProgram::on_sample(void* ctx, void* data, size_t size) {
    auto* self = static_cast<SockProgram*>(ctx);
    if (size < sizeof(hookdump_sock_event)) return 0;
    hookdump_sock_event ev;
    std::memcpy(&ev, data, sizeof ev);
    if (!self->cb_(ev)) {
        self->stopped_ = true;
        return -ECANCELED;
    }
    return 0;
}

bool SockProgram::poll(int timeout_ms) {
    const int n = ring_buffer__poll(ring_.get(), timeout_ms);
    if (stopped_) return false;
    if (n < 0 && n != -EINTR) fail_with_libbpf("reading the socket program's ring buffer", n);
    return true;
}

SockCounters SockProgram::counters() const {
    const auto v = bpf::sum_percpu_counters(bpf_map__fd(skel_->maps.stats), HOOKDUMP_SOCK_STAT_MAX);
    return {v[HOOKDUMP_SOCK_STAT_SEEN], v[HOOKDUMP_SOCK_STAT_MATCHED],
            v[HOOKDUMP_SOCK_STAT_RB_FULL]};
}

}  // namespace hookdump
