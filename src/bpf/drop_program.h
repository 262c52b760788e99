// hookdump_drop.bpf.c loaded and attached to skb:kfree_skb, with its ring buffer. Owns the
// skeleton (programs, maps, the attachment): destroying it detaches everything.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "rules/rule.h"

struct hookdump_drop;
struct ring_buffer;
struct hookdump_drop_event;

namespace hookdump {

struct DropProgramConfig {
    bool with_reason = true;    // the tracepoint has a reason argument
    uint32_t min_reason = 0;    // reasons below are not reported
    uint64_t netns_cookie = 0;  // 0: every namespace
    std::vector<Rule> rules;    // empty: every packet
};

struct DropCounters {
    uint64_t seen = 0, matched = 0, ring_full = 0;
};

class DropProgram {
  public:
    // Called for each record; returns false to stop polling.
    using Callback = std::function<bool(const hookdump_drop_event&)>;

    // Opens, loads, attaches. Throws UsageError for rules it cannot hold, RuntimeError with
    // libbpf's reason otherwise.
    DropProgram(const DropProgramConfig& cfg, Callback cb);
    ~DropProgram();
    DropProgram(const DropProgram&) = delete;
    DropProgram& operator=(const DropProgram&) = delete;

    // Delivers what is in the ring, waiting up to timeout_ms for something. Returns false
    // when the callback asked to stop. EINTR is not an error.
    bool poll(int timeout_ms);
    DropCounters counters() const;
    int events_fd() const;  // the ring buffer map

  private:
    struct SkelDeleter {
        void operator()(hookdump_drop* s) const;
    };
    struct RingDeleter {
        void operator()(ring_buffer* r) const;
    };
    static int on_sample(void* ctx, void* data, size_t size);

    Callback cb_;
    std::unique_ptr<hookdump_drop, SkelDeleter> skel_;
    std::unique_ptr<ring_buffer, RingDeleter> ring_;
    bool stopped_ = false;
};

}  // namespace hookdump
