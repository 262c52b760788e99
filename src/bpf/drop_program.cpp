#include "bpf/drop_program.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>

#include "bpf/libbpf_log.h"
#include "hookdump_drop.h"
#include "hookdump_drop.skel.h"
#include "rules/bpf_rules.h"
#include "util/error.h"

namespace hookdump {

// The record's layout is the BPF program's: checked here, where both are seen.
static_assert(sizeof(hookdump_drop_event) == 40 + HOOKDUMP_DROP_HDR_MAX);
static_assert(offsetof(hookdump_drop_event, reason) == 24);
static_assert(offsetof(hookdump_drop_event, hdr) == 40);

using bpf::fail_with_libbpf;

void DropProgram::SkelDeleter::operator()(hookdump_drop* s) const {
    hookdump_drop__destroy(s);
}
void DropProgram::RingDeleter::operator()(ring_buffer* r) const {
    ring_buffer__free(r);
}

DropProgram::DropProgram(const DropProgramConfig& cfg, Callback cb) : cb_(std::move(cb)) {
    const std::vector<hd_rule> rules =
        to_bpf_rules(cfg.rules, HOOKDUMP_DROP_MAX_RULES, "the drop program");
    bpf::libbpf_log_begin();

    skel_.reset(hookdump_drop__open());
    if (!skel_) fail_with_libbpf("cannot open the drop-reason BPF program", errno);
    auto* ro = skel_->rodata;
    ro->min_reason = cfg.min_reason;
    ro->netns_cookie = cfg.netns_cookie;
    ro->nr_rules = static_cast<uint32_t>(rules.size());
    std::copy(rules.begin(), rules.end(), skel_->bss->rules);
    // One of the two programs: the tracepoint's prototype decides (a program reading an
    // argument the tracepoint does not have fails verification).
    bpf_program__set_autoload(skel_->progs.kfree_skb_reason, cfg.with_reason);
    bpf_program__set_autoload(skel_->progs.kfree_skb_noreason, !cfg.with_reason);

    if (int err = hookdump_drop__load(skel_.get()))
        fail_with_libbpf("cannot load the drop-reason BPF program", err);
    bpf_program* prog =
        cfg.with_reason ? skel_->progs.kfree_skb_reason : skel_->progs.kfree_skb_noreason;
    bpf_link* link = bpf_program__attach(prog);
    if (!link) fail_with_libbpf("cannot attach to the skb:kfree_skb tracepoint", errno);
    (cfg.with_reason ? skel_->links.kfree_skb_reason : skel_->links.kfree_skb_noreason) =
        link;  // destroyed with the skeleton

    ring_.reset(
        ring_buffer__new(bpf_map__fd(skel_->maps.events), &DropProgram::on_sample, this, nullptr));
    if (!ring_) fail_with_libbpf("cannot open the drop-reason ring buffer", errno);
}

DropProgram::~DropProgram() = default;

int DropProgram::on_sample(void* ctx, void* data, size_t size) {
    auto* self = static_cast<DropProgram*>(ctx);
    if (size < sizeof(hookdump_drop_event)) return 0;
    hookdump_drop_event ev;
    std::memcpy(&ev, data, sizeof ev);
    if (!self->cb_(ev)) {
        self->stopped_ = true;
        return -ECANCELED;  // ring_buffer__poll stops here and returns it
    }
    return 0;
}

bool DropProgram::poll(int timeout_ms) {
    const int n = ring_buffer__poll(ring_.get(), timeout_ms);
    if (stopped_) return false;
    if (n < 0 && n != -EINTR) fail_with_libbpf("reading the drop-reason ring buffer", n);
    return true;
}

int DropProgram::events_fd() const {
    return bpf_map__fd(skel_->maps.events);
}

DropCounters DropProgram::counters() const {
    const auto v = bpf::sum_percpu_counters(bpf_map__fd(skel_->maps.stats), HOOKDUMP_DROP_STAT_MAX);
    return {v[HOOKDUMP_DROP_STAT_SEEN], v[HOOKDUMP_DROP_STAT_MATCHED],
            v[HOOKDUMP_DROP_STAT_RB_FULL]};
}

}  // namespace hookdump
