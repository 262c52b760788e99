// Classic pcap, nanosecond timestamps. A pcap file holds one link type: packets of another (or
// without bytes) are counted and reported, never written wrongly.
//
// The file header comes from libpcap's own writer (so it is byte for byte what pcap_dump_open
// writes, link-type mapping included); the records are written here, straight into one large
// buffer: libpcap's pcap_dump costs two locked fwrite calls a packet, which was most of the
// capture path's CPU for small packets.
#include <pcap/pcap.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "sink/output_file.h"
#include "sink/sinks.h"
#include "util/error.h"

namespace hookdump {
namespace {

// What libpcap writes in front of each packet (struct pcap_sf_pkthdr): 32-bit seconds.
struct RecordHeader {
    uint32_t sec;
    uint32_t frac;  // nanoseconds in a nanosecond file
    uint32_t caplen;
    uint32_t len;
};
static_assert(sizeof(RecordHeader) == 16);

// The 24-byte file header libpcap writes for this link type and snap length.
std::string libpcap_file_header(uint16_t linktype, uint32_t snaplen) {
    // Events carry LINKTYPE_ values; libpcap's writer takes DLT_ values, which differ for
    // raw IP (LINKTYPE_RAW 101 is DLT_RAW 12 on Linux). libpcap writes it back as 101.
    const int dlt = linktype == 101 ? DLT_RAW : linktype;
    pcap_t* dead = pcap_open_dead_with_tstamp_precision(dlt, static_cast<int>(snaplen),
                                                        PCAP_TSTAMP_PRECISION_NANO);
    if (!dead) throw RuntimeError("cannot set up a pcap writer");
    char* mem = nullptr;
    size_t size = 0;
    FILE* f = open_memstream(&mem, &size);
    pcap_dumper_t* d = f ? pcap_dump_fopen(dead, f) : nullptr;
    if (!d) {
        if (f) fclose(f);
        free(mem);
        pcap_close(dead);
        throw RuntimeError("cannot set up a pcap writer");
    }
    pcap_dump_close(d);  // closes f: mem/size now hold the header
    pcap_close(dead);
    std::string header(mem, size);
    free(mem);
    if (header.size() != 24) throw RuntimeError("unexpected pcap file header from libpcap");
    return header;
}

class PcapSink final : public Sink {
  public:
    // The file is created here, before any engine is opened; its header waits for the first
    // packet's link type.
    explicit PcapSink(const SinkOptions& o) : snaplen_(o.snaplen), out_(o.path, 4096, o.file_ops) {}

    void write(const PacketEvent& ev) override { write_one(ev); }
    void write_batch(std::span<const PacketEvent> evs) override {
        for (const PacketEvent& ev : evs) write_one(ev);
    }

    void flush() override { records_.flush(); }

    bool needs_parsed() const override { return false; }
    uint64_t bytes_written() const override { return out_.bytes_written() + records_.pending(); }
    OutputStats output_stats() const override {
        OutputStats s = out_.stats();
        if (s.why_not.empty() && skipped_)
            s.why_not = "pcap holds one link type and needs packet bytes: use pcapng";
        return s;
    }

    void finish(const Ledger&, uint64_t) override {
        if (!opened_) open(1);  // an empty capture is still a valid file
        flush();
        out_.close();
    }

  private:
    void write_one(const PacketEvent& ev) {
        if (!opened_) open(ev.linktype);
        if (ev.linktype != linktype_ || ev.bytes.empty()) {
            ++skipped_;
            return;
        }
        RecordHeader h;
        h.sec = static_cast<uint32_t>(ev.ts_ns / 1000000000u);
        h.frac = static_cast<uint32_t>(ev.ts_ns % 1000000000u);
        h.caplen = ev.caplen();
        h.len = ev.len < h.caplen ? h.caplen : ev.len;
        const size_t need = sizeof h + ev.bytes.size();
        char* const p = records_.room(need);
        if (!p) {  // only with a snap length above the buffer's size
            std::string big(reinterpret_cast<const char*>(&h), sizeof h);
            big.append(reinterpret_cast<const char*>(ev.bytes.data()), ev.bytes.size());
            records_.write_alone(big);
            return;
        }
        std::memcpy(p, &h, sizeof h);
        std::memcpy(p + sizeof h, ev.bytes.data(), ev.bytes.size());
        records_.commit(need);
    }

    void open(uint16_t linktype) {
        const std::string header = libpcap_file_header(linktype, snaplen_);
        linktype_ = linktype;
        opened_ = true;
        out_.write(header);
        out_.end_record(0);
    }

    uint32_t snaplen_;
    uint16_t linktype_ = 0;
    bool opened_ = false;  // the file header is written
    OutputFile out_;
    RecordBuffer records_{out_};
    uint64_t skipped_ = 0;
};

}  // namespace

std::unique_ptr<Sink> make_pcap_sink(const SinkOptions& o) {
    return std::make_unique<PcapSink>(o);
}

}  // namespace hookdump
