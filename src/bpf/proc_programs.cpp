// The cgroup socket programs of process attribution (bpf/hookdump_proc.bpf.c): loaded, seeded,
// attached at the cgroup2 root by bpf_links (owned by the skeleton: destroyed, detached).
#include "bpf/proc_programs.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <vector>

#include "bpf/libbpf_log.h"
#include "hookdump_proc.skel.h"
#include "util/error.h"

namespace hookdump::bpf {

namespace {

[[noreturn]] void fail(const std::string& what, int err) {
    std::string msg = errno_message(what, err < 0 ? -err : err);
    if (const std::string& w = libbpf_last_warning(); !w.empty()) msg += " (libbpf: " + w + ")";
    throw RuntimeError(msg);
}

// One inet socket as sock_diag reports it.
struct DiagSocket {
    uint64_t cookie;
    uint32_t inode;
    uint32_t uid;
    uint8_t family;  // 4 or 6
    uint8_t proto;
    uint8_t state;
    uint16_t sport;  // host order
    uint32_t src[4];
};

// Every TCP and UDP socket of this process's namespace, in every state (NETLINK_SOCK_DIAG,
// inet_diag_req_v2): their cookies are the ones bpf_get_socket_cookie() gives.
std::vector<DiagSocket> diag_sockets() {
    std::vector<DiagSocket> out;
    const Fd nl(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
    if (!nl) return out;
    for (const uint8_t family : {AF_INET, AF_INET6})
        for (const uint8_t proto : {IPPROTO_TCP, IPPROTO_UDP}) {
            struct {
                nlmsghdr h;
                inet_diag_req_v2 r;
            } req{};
            req.h.nlmsg_len = sizeof req;
            req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
            req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
            req.r.sdiag_family = family;
            req.r.sdiag_protocol = proto;
            req.r.idiag_states = ~0u;
            if (::send(nl.get(), &req, sizeof req, 0) < 0) continue;
            alignas(nlmsghdr) char buf[32768];
            bool done = false;
            while (!done) {
                const ssize_t n = ::recv(nl.get(), buf, sizeof buf, 0);
                if (n <= 0) break;
                // The messages one after another (NLMSG_OK's int/unsigned compare, spelled out).
                for (size_t at = 0; at + sizeof(nlmsghdr) <= static_cast<size_t>(n);) {
                    auto* h = reinterpret_cast<nlmsghdr*>(buf + at);
                    if (h->nlmsg_len < sizeof(nlmsghdr) ||
                        at + h->nlmsg_len > static_cast<size_t>(n)) {
                        done = true;  // malformed: the rest is not read
                        break;
                    }
                    at += NLMSG_ALIGN(h->nlmsg_len);
                    if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
                        done = true;
                        break;
                    }
                    const auto* m = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
                    DiagSocket s{};
                    s.cookie = m->id.idiag_cookie[0] | uint64_t{m->id.idiag_cookie[1]} << 32;
                    s.inode = m->idiag_inode;
                    s.uid = m->idiag_uid;
                    s.family = family == AF_INET ? 4 : 6;
                    s.proto = proto;
                    s.state = m->idiag_state;
                    s.sport = ntohs(m->id.idiag_sport);
                    std::memcpy(s.src, m->id.idiag_src, 16);
                    if (family == AF_INET) s.src[1] = s.src[2] = s.src[3] = 0;
                    out.push_back(s);
                }
            }
        }
    return out;
}

// Socket inode -> the lowest pid holding it open (/proc/PID/fd/N -> "socket:[INODE]").
std::unordered_map<uint32_t, uint32_t> socket_owners() {
    std::unordered_map<uint32_t, uint32_t> owners;
    DIR* proc = ::opendir("/proc");
    if (!proc) return owners;
    while (const dirent* p = ::readdir(proc)) {
        char* end = nullptr;
        const unsigned long pid = std::strtoul(p->d_name, &end, 10);
        if (*end || !pid) continue;
        const std::string fds = std::string("/proc/") + p->d_name + "/fd";
        DIR* d = ::opendir(fds.c_str());
        if (!d) continue;
        while (const dirent* e = ::readdir(d)) {
            char link[64];
            const std::string path = fds + "/" + e->d_name;
            const ssize_t n = ::readlink(path.c_str(), link, sizeof link - 1);
            if (n <= 8 || std::strncmp(link, "socket:[", 8) != 0) continue;
            link[n] = 0;
            const auto inode = static_cast<uint32_t>(std::strtoul(link + 8, nullptr, 10));
            auto [it, added] = owners.emplace(inode, static_cast<uint32_t>(pid));
            if (!added && it->second > pid) it->second = static_cast<uint32_t>(pid);
        }
        ::closedir(d);
    }
    ::closedir(proc);
    return owners;
}

std::string read_first_line(const std::string& path) {
    std::ifstream f(path);
    std::string line;
    std::getline(f, line);
    return line;
}

// The process's cgroup v2 id: its path in /proc/PID/cgroup ("0::/PATH") under the mount.
uint64_t cgroup_of(uint32_t pid, const CgroupPaths& cg) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/cgroup");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("0::", 0) == 0) return cg.id_of(line.substr(3));
    return 0;
}

}  // namespace

ProcPrograms::ProcPrograms(uint64_t netns, Cgroup2& cgroup2) : cgroup2_(cgroup2) {
    libbpf_log_begin();
    skel_ = hookdump_proc__open();
    if (!skel_) fail("opening the process attribution programs", errno);
    if (const int err = hookdump_proc__load(skel_)) {
        hookdump_proc__destroy(skel_);
        skel_ = nullptr;
        fail("loading the process attribution programs (needs CAP_BPF and CAP_NET_ADMIN)", err);
    }
    try {
        // Seeded before the attach: an entry the programs write meanwhile (a socket made now)
        // is newer than the seed's and wins (the seed writes only what is missing).
        seed(netns);
        bpf_program* progs[] = {
            skel_->progs.hd_sock_create, skel_->progs.hd_post_bind4, skel_->progs.hd_post_bind6,
            skel_->progs.hd_connect4,    skel_->progs.hd_connect6,   skel_->progs.hd_sendmsg4,
            skel_->progs.hd_sendmsg6,    skel_->progs.hd_recvmsg4,   skel_->progs.hd_recvmsg6,
            skel_->progs.hd_sockops,     skel_->progs.hd_skb_egress, skel_->progs.hd_sock_release,
        };
        bpf_link** links[] = {
            &skel_->links.hd_sock_create, &skel_->links.hd_post_bind4,
            &skel_->links.hd_post_bind6,  &skel_->links.hd_connect4,
            &skel_->links.hd_connect6,    &skel_->links.hd_sendmsg4,
            &skel_->links.hd_sendmsg6,    &skel_->links.hd_recvmsg4,
            &skel_->links.hd_recvmsg6,    &skel_->links.hd_sockops,
            &skel_->links.hd_skb_egress,  &skel_->links.hd_sock_release,
        };
        static_assert(std::size(progs) == std::size(links));
        for (size_t i = 0; i < std::size(progs); ++i) {
            bpf_link* l = bpf_program__attach_cgroup(progs[i], cgroup2_.fd());
            if (!l)
                fail(std::string("attaching ") + bpf_program__name(progs[i]) + " at " +
                         cgroups().mount(),
                     errno);
            *links[i] = l;
        }
    } catch (...) {
        hookdump_proc__destroy(skel_);
        skel_ = nullptr;
        throw;
    }
}

ProcPrograms::~ProcPrograms() {
    if (skel_) hookdump_proc__destroy(skel_);
}

int ProcPrograms::socks_fd() const {
    return bpf_map__fd(skel_->maps.hd_socks);
}
int ProcPrograms::ports_fd() const {
    return bpf_map__fd(skel_->maps.hd_ports);
}

uint64_t ProcPrograms::ports_gen() const {
    return __atomic_load_n(&skel_->bss->hd_ports_gen, __ATOMIC_ACQUIRE);
}

hd_proc_stats ProcPrograms::stats() const {
    const int ncpu = libbpf_num_possible_cpus();
    std::vector<hd_proc_stats> per(static_cast<size_t>(ncpu > 0 ? ncpu : 1));
    const uint32_t zero = 0;
    hd_proc_stats sum{};
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.proc_stats), &zero, per.data()) != 0)
        return sum;
    for (const hd_proc_stats& s : per) {
        sum.socks_added += s.socks_added;
        sum.socks_full += s.socks_full;
        sum.ports_added += s.ports_added;
        sum.ports_full += s.ports_full;
        sum.released += s.released;
    }
    return sum;
}

// The sockets of `netns` (this process's) that exist now, each the lowest pid's that holds it
// (a socket shared by a parent and its children: the parent, usually its creator); bound
// endpoints into the port map: listening TCP sockets and UDP sockets first, then connections
// whose port no listener has.
void ProcPrograms::seed(uint64_t netns) {
    const std::vector<DiagSocket> socks = diag_sockets();
    if (socks.empty()) return;
    const auto owners = socket_owners();
    std::unordered_map<uint32_t, hd_proc> procs;
    const auto proc_of = [&](uint32_t pid, uint32_t uid) -> const hd_proc& {
        auto [it, added] = procs.emplace(pid, hd_proc{});
        if (added) {
            hd_proc& p = it->second;
            p.tgid = pid;
            p.uid = uid;
            p.cgroup_id = cgroup_of(pid, cgroups());
            const std::string comm = read_first_line("/proc/" + std::to_string(pid) + "/comm");
            std::memcpy(p.comm, comm.data(), std::min(comm.size(), sizeof p.comm - 1));
        }
        return it->second;
    };
    constexpr uint8_t kTcpListen = 10;
    for (const int pass : {0, 1})
        for (const DiagSocket& s : socks) {
            const bool bound = s.proto == IPPROTO_UDP || s.state == kTcpListen;
            if ((pass == 0) != bound) continue;
            const auto o = owners.find(s.inode);
            if (o == owners.end() || !s.cookie) continue;
            hd_sock_value v{};
            v.proc = proc_of(o->second, s.uid);
            v.netns = netns;
            if (s.sport) {
                hd_sock_key& k = v.port;
                k.netns = netns;
                std::memcpy(k.addr, s.src, sizeof k.addr);
                k.port = s.sport;
                k.family = s.family;
                k.proto = s.proto;
                hd_port_value pv{v.proc, s.cookie, 0, 0};
                if (bpf_map_update_elem(ports_fd(), &k, &pv, bound ? BPF_ANY : BPF_NOEXIST) != 0)
                    v.port = hd_sock_key{};  // not this socket's entry: release leaves it
            }
            if (bpf_map_update_elem(socks_fd(), &s.cookie, &v, BPF_NOEXIST) == 0) ++seeded_;
        }
}

}  // namespace hookdump::bpf
