#include "bpf/drop_program.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdarg>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>

#include "bpf/libbpf_log.h"
#include "hookdump_drop.h"
#include "hookdump_drop.skel.h"
#include "util/error.h"

namespace hookdump {

// The record's layout is the BPF program's: checked here, where both are seen.
static_assert(sizeof(hookdump_drop_event) == 40 + HOOKDUMP_DROP_HDR_MAX);
static_assert(offsetof(hookdump_drop_event, reason) == 24);
static_assert(offsetof(hookdump_drop_event, hdr) == 40);
static_assert(sizeof(hookdump_drop_rule) == 76);

namespace {

[[noreturn]] void fail(const std::string& what, int err) {
    std::string msg = errno_message(what, err < 0 ? -err : err);
    if (const std::string& w = bpf::libbpf_last_warning(); !w.empty()) msg += " (libbpf: " + w + ")";
    throw RuntimeError(msg);
}

void prefix_words(const Prefix& p, uint32_t* net, uint32_t* mask) {
    uint8_t m[16] = {}, a[16] = {};
    for (unsigned i = 0; i < p.len && i < 128; ++i)
        m[i / 8] |= static_cast<uint8_t>(0x80 >> (i % 8));
    for (int i = 0; i < 16; ++i) a[i] = p.addr[i] & m[i];
    std::memcpy(net, a, 16);
    std::memcpy(mask, m, 16);
}

hookdump_drop_rule to_drop_rule(const Rule& r) {
    hookdump_drop_rule d{};
    d.family = r.family;
    if (r.src) {
        d.flags |= HOOKDUMP_DROP_RULE_SRC;
        d.family = r.src->family;
        prefix_words(*r.src, d.src, d.src_mask);
    }
    if (r.dst) {
        // --src and --dst of different families: a rule no packet matches
        d.family = d.family && d.family != r.dst->family ? 0xff : r.dst->family;
        d.flags |= HOOKDUMP_DROP_RULE_DST;
        prefix_words(*r.dst, d.dst, d.dst_mask);
    }
    if (r.proto) {
        d.flags |= HOOKDUMP_DROP_RULE_PROTO;
        d.proto = *r.proto;
    }
    if (r.sport_min || r.sport_max != 0xffff) {
        d.flags |= HOOKDUMP_DROP_RULE_SPORT;
        d.sport_min = r.sport_min;
        d.sport_max = r.sport_max;
    }
    if (r.dport_min || r.dport_max != 0xffff) {
        d.flags |= HOOKDUMP_DROP_RULE_DPORT;
        d.dport_min = r.dport_min;
        d.dport_max = r.dport_max;
    }
    return d;
}

}  // namespace

void DropProgram::SkelDeleter::operator()(hookdump_drop* s) const {
    hookdump_drop__destroy(s);
}
void DropProgram::RingDeleter::operator()(ring_buffer* r) const {
    ring_buffer__free(r);
}

DropProgram::DropProgram(const DropProgramConfig& cfg, Callback cb) : cb_(std::move(cb)) {
    if (cfg.rules.size() > HOOKDUMP_DROP_MAX_RULES)
        throw UsageError("the filter makes " + std::to_string(cfg.rules.size()) +
                         " alternatives; the drop engine holds at most " +
                         std::to_string(HOOKDUMP_DROP_MAX_RULES));
    bpf::libbpf_log_begin();

    skel_.reset(hookdump_drop__open());
    if (!skel_) fail("cannot open the drop-reason BPF program", errno);
    auto* ro = skel_->rodata;
    ro->min_reason = cfg.min_reason;
    ro->netns_cookie = cfg.netns_cookie;
    ro->nr_rules = static_cast<uint32_t>(cfg.rules.size());
    for (size_t i = 0; i < cfg.rules.size(); ++i) {
        const hookdump_drop_rule r = to_drop_rule(cfg.rules[i]);
        std::memcpy(const_cast<hookdump_drop_rule*>(&ro->rules[i]), &r, sizeof r);
    }
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
