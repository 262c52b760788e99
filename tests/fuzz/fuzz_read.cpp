// libFuzzer target: the offline read path end to end. The input is a capture file (classic
// pcap through FileEngine's own record loop, handing over to libpcap at the first record it
// does not take; pcapng through hookdump's own reader; the rest through libpcap: as
// open_capture_file picks), read into a Pipeline with csv and pcapng sinks to /dev/null and a
// small flow table with its writer (ours). The text and jsonl lines are fuzz_parse's business:
// every sink holds a 1 MiB buffer, and under ASan each one costs (quarantine, shadow poisoning)
// more than reading a small file does.
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/pipeline.h"
#include "engine/pcapng_engine.h"
#include "sink/flow_sink.h"
#include "sink/sinks.h"
#include "util/error.h"

using namespace hookdump;

namespace {

int input_fd() {
    static const int fd = [] {
        const int f = memfd_create("fuzz_read", MFD_CLOEXEC);
        if (f < 0) {
            std::perror("memfd_create");
            std::abort();
        }
        return f;
    }();
    return fd;
}

void write_all(int fd, const uint8_t* data, size_t size) {
    if (ftruncate(fd, 0) != 0) std::abort();
    size_t off = 0;
    while (off < size) {
        const ssize_t w = pwrite(fd, data + off, size - off, static_cast<off_t>(off));
        if (w <= 0) std::abort();
        off += static_cast<size_t>(w);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const int fd = input_fd();
    write_all(fd, data, size);
    static const std::string path = "/proc/self/fd/" + std::to_string(fd);

    try {
        const auto engine = open_capture_file(path, "");
        Pipeline pipeline;
        SinkOptions so;
        so.path = "/dev/null";
        pipeline.add_sink(make_csv_sink(so));
        pipeline.add_sink(make_pcapng_sink(so));
        FlowConfig cfg;
        cfg.max_flows = 8;  // small, so that eviction is exercised too
        cfg.idle_timeout_ns = 1'000'000'000;
        cfg.active_timeout_ns = 5'000'000'000;
        const auto& formats = flow_sink_formats();
        FlowSinkOptions fo;
        fo.path = "/dev/null";
        pipeline.set_flows(cfg);
        pipeline.add_flow_sink(formats[size % formats.size()].make(fo));
        const std::atomic<bool> stop{false};
        try {
            engine->run(pipeline, stop);
            pipeline.finish(engine->ledger());
        } catch (const RuntimeError&) {
            pipeline.abandon();  // a truncated or corrupt file: what was read stays written
        }
    } catch (const UsageError&) {
        // not a capture file libpcap accepts
    }
    return 0;
}
