// The cgroup v2 hierarchy: where it is mounted, a descriptor of its root, and the paths of its
// ids (the inode of a cgroup's directory: what bpf_get_current_cgroup_id(), sock_cgroup_ptr and
// hookdump.ko's HOOKDUMP_A_EVENT_PROC report). No BPF: the kmod engine names cgroups with it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "util/fd.h"

namespace hookdump {

// The mount point of the cgroup v2 hierarchy's root in /proc/self/mountinfo ("" when none is
// mounted: `ip netns exec` mounts a fresh /sys without it). `mountinfo` is the file's text.
std::string cgroup2_mount(const std::string& mountinfo);
// The same, of this process's /proc/self/mountinfo.
std::string cgroup2_mount();

// The cgroup v2 root: a descriptor, and a path to its directories. Where /proc/self/mountinfo
// has no cgroup2 mount, a mount of our own that is never in the tree (fsopen/fsmount): the
// path is then /proc/self/fd/N, valid while `fd` is open. Throws RuntimeError.
struct Cgroup2Root {
    Fd fd;
    std::string path;
};
Cgroup2Root open_cgroup2_root();

// Paths of cgroup v2 ids, found by walking the hierarchy from its root directory and kept; an
// id not found is looked for again at most once a second (a cgroup made meanwhile).
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

// The root opened (open_cgroup2_root) and its ids' paths: what process attribution and the kmod
// engine's --proc name cgroups with. Throws RuntimeError.
class Cgroup2 {
  public:
    Cgroup2() : root_(open_cgroup2_root()), paths_(root_.path) {}
    int fd() const { return root_.fd.get(); }
    CgroupPaths& paths() { return paths_; }

  private:
    Cgroup2Root root_;
    CgroupPaths paths_;
};

}  // namespace hookdump
