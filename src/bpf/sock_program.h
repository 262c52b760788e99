// hookdump_sock.bpf.c loaded and attached at the cgroup v2 root (cgroup_skb ingress and
// egress), with its ring buffer. Owns the skeleton, whose bpf_links hold the attachments:
// destroying it detaches both, and so does the kernel when the process dies (kill -9).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rules/rule.h"

struct hookdump_sock;
struct ring_buffer;
struct hookdump_sock_event;

namespace hookdump {

class Cgroup2;

struct SockProgramConfig {
    uint64_t netns_cookie = 0;  // 0: every namespace
    std::vector<Rule> rules;    // empty: every packet
    int proc_socks_fd =
        -1;  // the process attribution's socket map (src/bpf/proc_programs.h), -1: none
};

struct SockCounters {
    uint64_t seen = 0, matched = 0, ring_full = 0;
};

class SockProgram {
  public:
    using Callback = std::function<bool(const hookdump_sock_event&)>;

    // Probes how the kernel's cgroup_skb programs can read a packet's namespace, opens, loads
    // and attaches at `cgroup2`'s root (the command's: the links hold the attachment, not the
    // descriptor). Throws UsageError for rules it cannot hold, RuntimeError otherwise.
    SockProgram(const SockProgramConfig& cfg, const Cgroup2& cgroup2, Callback cb);
    ~SockProgram();
    SockProgram(const SockProgram&) = delete;
    SockProgram& operator=(const SockProgram&) = delete;

    // Delivers what is in the ring, waiting up to timeout_ms. False when the callback asked
    // to stop.
    bool poll(int timeout_ms);
    SockCounters counters() const;

  private:
    struct SkelDeleter {
        void operator()(hookdump_sock* s) const;
    };
    struct RingDeleter {
        void operator()(ring_buffer* r) const;
    };
    static int on_sample(void* ctx, void* data, size_t size);

    Callback cb_;
    std::unique_ptr<hookdump_sock, SkelDeleter> skel_;
    std::unique_ptr<ring_buffer, RingDeleter> ring_;
    bool stopped_ = false;
};

}  // namespace hookdump
