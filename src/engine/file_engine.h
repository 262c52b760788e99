// Offline reading of pcap and pcapng files through libpcap, with a pcap-filter expression.
// Classic pcap files in this host's byte order are read by a loop of our own over large
// reads (libpcap's pcap_next_ex costs two freads and a copy a packet); anything else, and
// whatever that loop does not take as plainly well-formed, goes to libpcap, from that record.
#pragma once

#include <pcap/pcap.h>

#include <memory>
#include <string>

#include "engine/engine.h"

namespace hookdump {

class FileEngine final : public Engine {
  public:
    // Throws UsageError for an unreadable or non-capture file, or a bad expression.
    FileEngine(const std::string& path, const std::string& expression);
    ~FileEngine() override;

    std::string_view name() const override { return "file"; }
    void run(EventHandler& handler, const std::atomic<bool>& stop) override;
    Ledger ledger() const override { return ledger_; }
    int datalink() const;

  private:
    // Returns true when libpcap reads on, from the FILE's position (the first record not
    // read here, or the whole file); false when the handler or `stop` ended the run.
    bool run_direct(EventHandler& handler, const std::atomic<bool>& stop);
    void run_libpcap(EventHandler& handler, const std::atomic<bool>& stop);

    std::string path_;
    pcap_t* pcap_ = nullptr;
    bpf_program filter_{};
    bool has_filter_ = false;
    Ledger ledger_;
};

}  // namespace hookdump
