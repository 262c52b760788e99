// Process attribution (issue 17): bpf/hookdump_proc.bpf.c's cgroup v2 socket programs loaded
// and attached at the cgroup2 root by bpf_links (the kernel detaches them when the links' fds
// close, also after kill -9), their two maps seeded with the sockets that existed before the
// start (sock_diag and /proc), and the cgroup ids' paths.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "hookdump_proc.h"
#include "util/fd.h"

struct hookdump_proc;  // the bpftool skeleton

namespace hookdump::bpf {

// The cgroup2 mount point, from /proc/self/mountinfo; empty when there is none.
std::string cgroup2_mount();

// Paths of cgroup v2 ids (the inode of the cgroup's directory), found by walking the mount and
// kept; an id not found is looked for again at most once a second (a cgroup made meanwhile).
class CgroupPaths {
  public:
    explicit CgroupPaths(std::string mount) : mount_(std::move(mount)) {}
    // "/" for the root, "/system.slice/x.service", ...; empty when not found.
    std::string_view path(uint64_t id, uint64_t now_ns);
    // The id of PATH (absolute under the mount, or the mount's own path and below); 0 when it
    // is no cgroup directory.
    uint64_t id_of(const std::string& path) const;
    const std::string& mount() const { return mount_; }

  private:
    void walk();
    std::string mount_;
    std::unordered_map<uint64_t, std::string> paths_;
    uint64_t walked_ns_ = 0;
    uint64_t last_id_ = 0;  // the last id found (a flow's packets come in runs), and its path
    std::string_view last_path_;
};

class ProcPrograms {
  public:
    // Loads, seeds the maps with the namespace `netns`'s existing sockets, attaches at the
    // cgroup2 root. Throws RuntimeError when the kernel refuses.
    explicit ProcPrograms(uint64_t netns);
    ~ProcPrograms();
    ProcPrograms(const ProcPrograms&) = delete;
    ProcPrograms& operator=(const ProcPrograms&) = delete;

    int socks_fd() const;
    int ports_fd() const;
    // The programs' count of changes of the ports map (hd_ports_gen, read from the mapped
    // .bss: no system call): an answer read from the map holds while it has not moved.
    uint64_t ports_gen() const;
    hd_proc_stats stats() const;
    size_t seeded() const { return seeded_; }
    CgroupPaths& cgroups() { return cgroups_; }

  private:
    void seed(uint64_t netns);
    hookdump_proc* skel_ = nullptr;
    Fd root_;
    CgroupPaths cgroups_;
    size_t seeded_ = 0;
};

}  // namespace hookdump::bpf
