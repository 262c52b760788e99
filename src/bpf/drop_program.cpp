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

namespace {

[[noreturn]] void fail(const std::string& what, int err) {
    std::string msg = errno_message(what, err < 0 ? -err : err);
    if (const std::string& w = bpf::libbpf_last_warning(); !w.empty())
        msg += " (libbpf: " + w + ")";
    throw RuntimeError(msg);
}

}  // namespace

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
    if (!skel_) fail("cannot open the drop-reason BPF program", errno);
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
        fail("cannot load the drop-reason BPF program", err);
    bpf_program* prog =
        cfg.with_reason ? skel_->progs.kfree_skb_reason : skel_->progs.kfree_skb_noreason;
    bpf_link* link = bpf_program__attach(prog);
    if (!link) fail("cannot attach to the skb:kfree_skb tracepoint", errno);
    (cfg.with_reason ? skel_->links.kfree_skb_reason : skel_->links.kfree_skb_noreason) =
        link;  // destroyed with the skeleton

    ring_.reset(
        ring_buffer__new(bpf_map__fd(skel_->maps.events), &DropProgram::on_sample, this, nullptr));
    if (!ring_) fail("cannot open the drop-reason ring buffer", errno);
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
    if (n < 0 && n != -EINTR) fail("reading the drop-reason ring buffer", n);
    return true;
}

DropCounters DropProgram::counters() const {
    DropCounters c;
    const int fd = bpf_map__fd(skel_->maps.stats);
    const int cpus = libbpf_num_possible_cpus();
    if (fd < 0 || cpus <= 0) return c;
    std::vector<uint64_t> v(static_cast<size_t>(cpus));
    uint64_t* out[] = {&c.seen, &c.matched, &c.ring_full};
    for (uint32_t k = 0; k < HOOKDUMP_DROP_STAT_MAX; ++k) {
        if (bpf_map_lookup_elem(fd, &k, v.data()) != 0) continue;
        for (uint64_t x : v) *out[k] += x;
    }
    return c;
}

}  // namespace hookdump
