// The `socket` observation point of `hookdump trace`: cgroup_skb programs at the cgroup v2 root
// (bpf/hookdump_sock.bpf.c) report each packet of this network namespace handed to a socket
// (ingress) or sent by one (egress), with the socket's protocol and local address and port, and
// its process from process attribution's programs (src/bpf/proc_programs.h), loaded with it.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "trace/observation.h"

struct hookdump_sock_event;

namespace hookdump {
class Cgroup2;
class SockProgram;
namespace bpf {
class PcapFilter;
class ProcPrograms;
}  // namespace bpf
}  // namespace hookdump

namespace hookdump::trace {

class SocketTracer {
  public:
    // Loads and attaches the programs; the expression's rules in the kernel where they can be
    // expressed, else (note() says so) every packet there and the expression applied here.
    // Process attribution where its programs load, else (note() says why) no process.
    // Throws RuntimeError (no privilege, a kernel without what it needs).
    explicit SocketTracer(const std::string& expression);
    ~SocketTracer();
    SocketTracer(const SocketTracer&) = delete;
    SocketTracer& operator=(const SocketTracer&) = delete;

    const std::string& note() const { return note_; }
    void run(const std::function<void(Observation)>& sink, const std::atomic<bool>& stop);
    uint64_t lost() const;  // records the ring had no room for

  private:
    bool deliver(const hookdump_sock_event& e);

    std::string note_;
    int64_t realtime_offset_ns_ = 0;
    std::unique_ptr<bpf::PcapFilter> filter_;
    std::unique_ptr<Cgroup2> cgroup2_;          // the root both attach at, opened (mounted) once
    std::unique_ptr<bpf::ProcPrograms> procs_;  // before prog_, which reads its map
    std::unique_ptr<SockProgram> prog_;
    const std::function<void(Observation)>* sink_ = nullptr;
};

}  // namespace hookdump::trace
