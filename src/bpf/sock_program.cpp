#include "bpf/sock_program.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "bpf/libbpf_log.h"
#include "hookdump_sock.h"
#include "hookdump_sock.skel.h"
#include "rules/bpf_rules.h"
#include "util/error.h"

namespace hookdump {

static_assert(sizeof(hookdump_sock_event) == 40 + HOOKDUMP_SOCK_HDR_MAX);
static_assert(offsetof(hookdump_sock_event, addr) == 16);
static_assert(offsetof(hookdump_sock_event, port) == 32);
static_assert(offsetof(hookdump_sock_event, caplen) == 38);

using bpf::fail_with_libbpf;

namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size() &&
            std::all_of(s.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                        s.begin() + static_cast<std::ptrdiff_t>(i) + 4,
                        [](char c) { return c >= '0' && c <= '7'; })) {
            out += static_cast<char>(std::strtol(s.substr(i + 1, 3).c_str(), nullptr, 8));
            i += 3;
        } else {
            out += s[i];
        }
    }
    return out;
}

}  // namespace

std::string cgroup2_mount(const std::string& mountinfo) {
    std::istringstream in(mountinfo);
    for (std::string line; std::getline(in, line);) {
        const size_t sep = line.find(" - ");
        if (sep == std::string::npos) continue;
        std::istringstream before(line.substr(0, sep)), after(line.substr(sep + 3));
        std::string id, parent, dev, root, point, fstype;
        if (!(before >> id >> parent >> dev >> root >> point) || !(after >> fstype)) continue;
        // The hierarchy's root (a bind mount of a subtree would attach below it).
        if (fstype == "cgroup2" && root == "/") return unescape(point);
    }
    return "";
}

Fd open_cgroup2_root() {
    std::ifstream f("/proc/self/mountinfo");
    std::stringstream text;
    text << f.rdbuf();
    if (const std::string point = cgroup2_mount(text.str()); !point.empty()) {
        Fd fd(::open(point.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!fd)
            throw RuntimeError(errno_message("cannot open the cgroup v2 root " + point, errno));
        return fd;
    }
    // Not mounted here: a mount of our own, gone from the tree as soon as it is open.
    char dir[] = "/tmp/hookdump-cgroup2.XXXXXX";
    if (!mkdtemp(dir)) throw RuntimeError(errno_message("cannot make a directory in /tmp", errno));
    if (::mount("cgroup2", dir, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
        const int err = errno;
        ::rmdir(dir);
        throw RuntimeError(
            errno_message("no cgroup v2 hierarchy is mounted, and mounting one failed", err));
    }
    Fd fd(::open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    const int err = errno;
    ::umount2(dir, MNT_DETACH);
    ::rmdir(dir);
    if (!fd) throw RuntimeError(errno_message("cannot open the cgroup v2 root", err));
    return fd;
}

void SockProgram::SkelDeleter::operator()(hookdump_sock* s) const {
    hookdump_sock__destroy(s);
}
void SockProgram::RingDeleter::operator()(ring_buffer* r) const {
    ring_buffer__free(r);
}

SockProgram::SockProgram(const SockProgramConfig& cfg, Callback cb) : cb_(std::move(cb)) {
    const std::vector<hd_rule> rules =
        to_bpf_rules(cfg.rules, HOOKDUMP_SOCK_MAX_RULES, "the socket program");
    // The programs see every namespace's sockets and tell this namespace's by its cookie:
    // through the helper where the kernel gives it to cgroup_skb programs, else read from the
    // socket (Debian 12's 6.1 and 6.12). libbpf's probe is not the last word: Debian 12's
    // libbpf takes 6.12's "program of this type cannot use helper" for a yes, so a failed load
    // with the helper is retried without it.
    const bool helper =
        libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SKB, BPF_FUNC_get_netns_cookie, nullptr) == 1;
    const Fd cgroup = open_cgroup2_root();
    bpf::libbpf_log_begin();

    auto load = [&](uint32_t netns_from) {
        skel_.reset(hookdump_sock__open());
        if (!skel_) fail_with_libbpf("cannot open the socket BPF program", errno);
        skel_->rodata->netns_cookie = cfg.netns_cookie;
        skel_->rodata->netns_from = netns_from;
        skel_->rodata->nr_rules = static_cast<uint32_t>(rules.size());
        std::copy(rules.begin(), rules.end(), skel_->bss->rules);
        return hookdump_sock__load(skel_.get());
    };
    int err = helper ? load(HOOKDUMP_SOCK_NETNS_HELPER) : -1;
    if (err) err = load(HOOKDUMP_SOCK_NETNS_SOCKET);
    if (err) fail_with_libbpf("cannot load the socket BPF program", err);
    // bpf_links (BPF_LINK_CREATE), held by the skeleton: closed by its destruction, or by the
    // kernel with the process.
    skel_->links.hookdump_sk_in =
        bpf_program__attach_cgroup(skel_->progs.hookdump_sk_in, cgroup.get());
    if (!skel_->links.hookdump_sk_in)
        fail_with_libbpf("cannot attach cgroup_skb ingress at the cgroup v2 root", errno);
    skel_->links.hookdump_sk_out =
        bpf_program__attach_cgroup(skel_->progs.hookdump_sk_out, cgroup.get());
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
