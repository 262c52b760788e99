// The one libbpf print callback of every loader (tc/XDP, drop reasons). libbpf's messages,
// the verifier's log among them, go to stderr only with HOOKDUMP_BPF_DEBUG set; otherwise
// what explains a failed load is kept for its one-line error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hookdump::bpf {

// Installs the callback and forgets what an earlier load left. Call before opening a skeleton.
void libbpf_log_begin();

// The verifier's verdict (the log's line before "processed N insns"), or empty.
const std::string& libbpf_verifier_verdict();

// libbpf's last warning (why an open, a relocation or an attach failed), or empty.
const std::string& libbpf_last_warning();

// RuntimeError "WHAT: strerror(err) (libbpf: last warning)"; err may be negative.
[[noreturn]] void fail_with_libbpf(const std::string& what, int err);

// A per-CPU array map of n u64 counters, each summed over the CPUs (0s when unreadable).
std::vector<uint64_t> sum_percpu_counters(int map_fd, uint32_t n);

}  // namespace hookdump::bpf
