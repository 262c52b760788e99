// Offline reading of pcap and pcapng files through libpcap, with a pcap-filter expression.
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
    std::string path_;
    pcap_t* pcap_ = nullptr;
    Ledger ledger_;
};

}  // namespace hookdump
