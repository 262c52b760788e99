// Offline reading of pcapng files with hookdump's own reader (src/capfile/pcapng_reader.h):
// every interface's link type in one file, and what hookdump's pcapng writer keeps beside the
// bytes given back to the packet: the interface's name, the direction (epb_flags) and the
// capture point, verdict, NFLOG prefix and drop reason and location (the `hookdump point=...`
// comment). A pcap-filter expression is compiled once per link type and run per packet.
#pragma once

#include <pcap/pcap.h>

#include <exception>
#include <map>
#include <memory>
#include <string>

#include "capfile/pcapng_reader.h"
#include "engine/engine.h"
#include "sink/sink.h"

namespace hookdump {

class PcapngEngine final : public Engine {
  public:
    // Throws UsageError for a bad expression; RuntimeError for a file that is not pcapng.
    PcapngEngine(Fd fd, const std::string& path, const std::string& expression);
    ~PcapngEngine() override;

    std::string_view name() const override { return "file"; }
    void run(EventHandler& handler, const std::atomic<bool>& stop) override;
    Ledger ledger() const override { return ledger_; }
    // The opt_comment of the section being read (from the first packet on), empty when none.
    const std::string& section_comment() const { return reader_.section_comment(); }
    // The csv/jsonl fields the first section's packets carry (label, drop reason), as
    // hookdump's writer named them in its section header ("hookdump fields=label,drop").
    RecordFields record_fields() const { return fields_; }

  private:
    // The expression compiled for a link type (nullptr without an expression).
    const bpf_program* filter_for(uint16_t linktype);

    PcapngReader reader_;
    std::string path_, expression_;
    std::map<uint16_t, bpf_program> filters_;
    RecordFields fields_;
    // The first packet, read ahead at construction so that the first section's header (its
    // fields comment) is known before the outputs are made; or what reading it threw.
    PcapngPacket first_;
    bool has_first_ = false;
    std::exception_ptr first_error_;
    Ledger ledger_;
};

// The packets hookdump's pcapng comment describes, parsed back: "hookdump point=output:last
// verdict=drop prefix=P reason=R location=L" sets ev's point, slot, verdict, label,
// drop_reason and drop_location (borrowed from `comment`). False for another comment.
bool parse_hookdump_comment(std::string_view comment, PacketEvent& ev);

// A capture file for `read`: pcapng through PcapngEngine, anything else through libpcap
// (FileEngine). Throws UsageError for a file that cannot be opened or read as a capture.
std::unique_ptr<Engine> open_capture_file(const std::string& path, const std::string& expression);

}  // namespace hookdump
