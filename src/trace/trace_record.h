// `hookdump trace --record FILE` and `hookdump trace -r FILE`: every observation as a pcapng
// Enhanced Packet Block (its bytes, interface, time; point, verdict, drop reason and location
// in hookdump's comment, as `capture` writes them), with a second comment for what only trace
// keeps (the nft or socket step, the slot, the interface index) and for when the correlator
// completed packets, so that a replay makes the same calls in the same order and prints the
// same paths. The section header's comment holds the correlator's options. docs/FORMATS.md.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "trace/correlator.h"

namespace hookdump {
class Sink;
}

namespace hookdump::trace {

// "hookdump trace window_ms=200 both_slots=0 tap_egress=1"
std::string section_comment(const CorrelatorOptions& opt);
// The options of a section comment written by trace; nullopt for any other.
std::optional<CorrelatorOptions> parse_section_comment(std::string_view c);

// "hookdump trace slot=first ifindex=3 done=1764770000000000000 socket=in,4,17,0.0.0.0,8888
// proc=4242,1000,python3,/user.slice" (comm and cgroup path with %XX for space, comma, %)
// (done: the correlator completed packets up to that time before this observation was added;
// 0: no such call since the previous one).
std::string annotation(const Observation& o, uint64_t done_ns);
// Applies an annotation to an observation made from the block (observe()): its slot, ifindex,
// nft or socket step. Returns false (o untouched) for text that is not trace's.
bool apply_annotation(std::string_view a, Observation& o, uint64_t& done_ns);

class TraceRecorder {
  public:
    // Creates the file (before anything is attached: RuntimeError naming it).
    explicit TraceRecorder(const std::string& path);
    // Starts it with the section header: once the points are open, their options known.
    void start(const CorrelatorOptions& opt);
    ~TraceRecorder();
    TraceRecorder(const TraceRecorder&) = delete;
    TraceRecorder& operator=(const TraceRecorder&) = delete;

    // The observation, as it is handed to Correlator::add.
    void add(const Observation& o);
    // Correlator::take_done(now_ns) completed packets.
    void done(uint64_t now_ns) { done_ns_ = std::max(done_ns_, now_ns); }
    // Writes what is buffered and closes the file; RuntimeError on a failed write.
    void finish();
    uint64_t recorded() const { return recorded_; }

  private:
    std::string path_;
    std::unique_ptr<Sink> sink_;
    uint64_t done_ns_ = 0;
    uint64_t recorded_ = 0;
    std::string annotation_;
};

}  // namespace hookdump::trace
