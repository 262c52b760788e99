#include "bpf/libbpf_log.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace hookdump::bpf {
namespace {

std::string g_verdict;
std::string g_warning;

int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list args) {
    static const bool debug = getenv("HOOKDUMP_BPF_DEBUG") != nullptr;
    if (debug) {
        va_list copy;
        va_copy(copy, args);
        vfprintf(stderr, fmt, copy);
        va_end(copy);
    }
    if (level == LIBBPF_DEBUG) return 0;
    // The verifier's log comes as one message of up to its buffer's size.
    std::vector<char> buf(1 << 20);
    vsnprintf(buf.data(), buf.size(), fmt, args);
    const std::string_view text(buf.data());
    if (const size_t p = text.find("\nprocessed "); p != std::string_view::npos && p > 0) {
        const size_t nl = text.rfind('\n', p - 1);
        const size_t start = nl == std::string_view::npos ? 0 : nl + 1;
        g_verdict = std::string(text.substr(start, p - start));
        return 0;
    }
    if (level == LIBBPF_WARN) {
        std::string_view line = text;
        while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.remove_suffix(1);
        if (!line.empty() && line.find('\n') == std::string_view::npos)
            g_warning = std::string(line);
    }
    return 0;
}

}  // namespace

void libbpf_log_begin() {
    libbpf_set_print(libbpf_print);
    g_verdict.clear();
    g_warning.clear();
}

const std::string& libbpf_verifier_verdict() {
    return g_verdict;
}
const std::string& libbpf_last_warning() {
    return g_warning;
}

void fail_with_libbpf(const std::string& what, int err) {
    std::string msg = errno_message(what, err < 0 ? -err : err);
    if (const std::string& w = libbpf_last_warning(); !w.empty()) msg += " (libbpf: " + w + ")";
    throw RuntimeError(msg);
}

std::vector<uint64_t> sum_percpu_counters(int map_fd, uint32_t n) {
    std::vector<uint64_t> sums(n);
    const int cpus = libbpf_num_possible_cpus();
    if (map_fd < 0 || cpus <= 0) return sums;
    std::vector<uint64_t> v(static_cast<size_t>(cpus));
    for (uint32_t k = 0; k < n; ++k) {
        if (bpf_map_lookup_elem(map_fd, &k, v.data()) != 0) continue;
        for (uint64_t x : v) sums[k] += x;
    }
    return sums;
}

}  // namespace hookdump::bpf
