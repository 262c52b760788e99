// Classic pcap through libpcap's own writer, nanosecond timestamps. A pcap file holds one link
// type: packets of another (or without bytes) are counted and reported, never written wrongly.
#include <pcap/pcap.h>

#include <cerrno>
#include <cstdio>

#include "sink/sinks.h"
#include "util/error.h"

namespace hookdump {
namespace {

class PcapSink final : public Sink {
public:
    explicit PcapSink(const SinkOptions& o) : path_(o.path), snaplen_(o.snaplen) {}
    ~PcapSink() override {
        if (dumper_) pcap_dump_close(dumper_);
        if (dead_) pcap_close(dead_);
    }

    void write(const PacketEvent& ev) override {
        if (!dumper_) open(ev.linktype);
        if (ev.linktype != linktype_ || ev.bytes.empty()) {
            ++skipped_;
            return;
        }
        pcap_pkthdr h{};
        h.ts.tv_sec = static_cast<time_t>(ev.ts_ns / 1000000000u);
        h.ts.tv_usec = static_cast<suseconds_t>(ev.ts_ns % 1000000000u);  // nanosecond file
        h.caplen = ev.caplen();
        h.len = ev.len < h.caplen ? h.caplen : ev.len;
        pcap_dump(reinterpret_cast<u_char*>(dumper_), &h, ev.bytes.data());
        check();
    }

    void flush() override {
        if (dumper_ && pcap_dump_flush(dumper_) != 0) fail(errno);
    }

    bool needs_parsed() const override { return false; }
    uint64_t bytes_written() const override {
        if (!dumper_) return 0;
        const int64_t pos = pcap_dump_ftell64(dumper_);
        return pos > 0 ? static_cast<uint64_t>(pos) : 0;
    }

    void finish(const Ledger&) override {
        if (!dumper_) open(1);  // an empty capture is still a valid file
        flush();
        FILE* f = pcap_dump_file(dumper_);
        if (f != stdout) {
            pcap_dump_close(dumper_);
        }
        dumper_ = nullptr;
        if (skipped_)
            fprintf(stderr, "hookdump: %llu packets not written to %s: pcap holds one link type "
                            "and needs packet bytes (use pcapng)\n",
                    static_cast<unsigned long long>(skipped_), path_.c_str());
    }

private:
    void open(uint16_t linktype) {
        linktype_ = linktype;
        // Events carry LINKTYPE_ values; libpcap's writer takes DLT_ values, which differ for
        // raw IP (LINKTYPE_RAW 101 is DLT_RAW 12 on Linux). libpcap writes it back as 101.
        const int dlt = linktype == 101 ? DLT_RAW : linktype;
        dead_ = pcap_open_dead_with_tstamp_precision(dlt, static_cast<int>(snaplen_),
                                                     PCAP_TSTAMP_PRECISION_NANO);
        if (!dead_) throw RuntimeError("cannot set up a pcap writer");
        dumper_ = pcap_dump_open(dead_, path_.c_str());
        if (!dumper_) throw RuntimeError("cannot create " + path_ + ": " + pcap_geterr(dead_));
        // stdio's default 4 KiB buffer means a write(2) every few dozen small packets.
        setvbuf(pcap_dump_file(dumper_), nullptr, _IOFBF, 1 << 20);
    }
    void check() {
        if (ferror(pcap_dump_file(dumper_))) fail(errno);
    }
    [[noreturn]] void fail(int err) {
        throw RuntimeError(errno_message("write " + path_, err ? err : EIO));
    }

    std::string path_;
    uint32_t snaplen_;
    uint16_t linktype_ = 0;
    pcap_t* dead_ = nullptr;
    pcap_dumper_t* dumper_ = nullptr;
    uint64_t skipped_ = 0;
};

}  // namespace

std::unique_ptr<Sink> make_pcap_sink(const SinkOptions& o) { return std::make_unique<PcapSink>(o); }

}  // namespace hookdump
