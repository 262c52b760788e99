// Process attribution (issue 17): bpf/hookdump_proc.bpf.c's cgroup v2 socket programs loaded
// and attached at the cgroup2 root by bpf_links (the kernel detaches them when the links' fds
// close, also after kill -9), their two maps seeded with the sockets that existed before the
// start (sock_diag and /proc), and the cgroup ids' paths.
#pragma once

#include <cstdint>
#include <string>

#include "hookdump_proc.h"
#include "util/cgroup.h"

struct hookdump_proc;  // the bpftool skeleton

namespace hookdump::bpf {

class ProcPrograms {
  public:
    // Loads, seeds the maps with the namespace `netns`'s existing sockets, attaches at
    // `cgroup2`'s root (the command's, which outlives these programs: one root a run, so one
    // mount of it where none is in the tree). Throws RuntimeError when the kernel refuses.
    ProcPrograms(uint64_t netns, Cgroup2& cgroup2);
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
    CgroupPaths& cgroups() { return cgroup2_.paths(); }

  private:
    void seed(uint64_t netns);
    hookdump_proc* skel_ = nullptr;
    Cgroup2& cgroup2_;
    size_t seeded_ = 0;
};

}  // namespace hookdump::bpf
