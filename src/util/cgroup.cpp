#include "util/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "util/error.h"

namespace hookdump {
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

std::string cgroup2_mount() {
    std::ifstream f("/proc/self/mountinfo");
    std::stringstream text;
    text << f.rdbuf();
    return cgroup2_mount(text.str());
}

Cgroup2Root open_cgroup2_root() {
    if (std::string point = cgroup2_mount(); !point.empty()) {
        Fd fd(::open(point.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!fd)
            throw RuntimeError(errno_message("cannot open the cgroup v2 root " + point, errno));
        return {std::move(fd), std::move(point)};
    }
    // Not mounted here (`ip netns exec` mounts a /sys of its own): a mount of our own that is
    // never in the tree (fsopen/fsmount, 5.2), so a killed run cannot leave it behind; it
    // lives as long as the descriptor does.
    Fd fs(::fsopen("cgroup2", FSOPEN_CLOEXEC));
    if (!fs || ::fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0)
        throw RuntimeError(
            errno_message("no cgroup v2 hierarchy is mounted, and mounting one failed", errno));
    const Fd mnt(::fsmount(fs.get(), FSMOUNT_CLOEXEC,
                           MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC));
    if (!mnt)
        throw RuntimeError(
            errno_message("no cgroup v2 hierarchy is mounted, and mounting one failed", errno));
    // fsmount's descriptor is O_PATH: cgroup programs attach to a directory opened for real.
    Fd fd(::openat(mnt.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) throw RuntimeError(errno_message("cannot open the cgroup v2 root", errno));
    std::string path = "/proc/self/fd/" + std::to_string(fd.get());
    return {std::move(fd), std::move(path)};
}

void CgroupPaths::walk() {
    // Depth-first over the directories of the mount; a cgroup's id is its directory's inode.
    std::vector<std::string> todo = {""};
    while (!todo.empty()) {
        const std::string rel = std::move(todo.back());
        todo.pop_back();
        const std::string dir = mount_ + rel;
        struct stat st {};
        if (::stat(dir.c_str(), &st) != 0) continue;
        paths_[st.st_ino] = rel.empty() ? "/" : rel;
        DIR* d = ::opendir(dir.c_str());
        if (!d) continue;
        while (const dirent* e = ::readdir(d))
            if (e->d_type == DT_DIR && std::strcmp(e->d_name, ".") != 0 &&
                std::strcmp(e->d_name, "..") != 0)
                todo.push_back(rel + "/" + e->d_name);
        ::closedir(d);
    }
}

std::string_view CgroupPaths::path(uint64_t id, uint64_t now_ns) {
    if (id && id == last_id_) return last_path_;
    auto it = paths_.find(id);
    if (it == paths_.end()) {
        if (mount_.empty() || (walked_ns_ && now_ns < walked_ns_ + 1'000'000'000)) return {};
        walked_ns_ = now_ns ? now_ns : 1;
        walk();
        it = paths_.find(id);
        if (it == paths_.end()) return {};
    }
    last_id_ = id;
    last_path_ = it->second;
    return last_path_;
}

uint64_t CgroupPaths::id_of(const std::string& path) const {
    std::string full = path;
    if (full.rfind(mount_, 0) != 0) full = mount_ + (path.starts_with('/') ? "" : "/") + path;
    struct stat st {};
    if (::stat(full.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return 0;
    return st.st_ino;
}

}  // namespace hookdump
