// What a capture tells the user about itself: the live status line, the loss ledger at exit
// (tcpdump's line), and the ledger as JSON.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/pipeline.h"
#include "engine/engine.h"

namespace hookdump {

class StatusLine {
  public:
    explicit StatusLine(const Engine& engine) : engine_(engine) {}
    // Prints at most once a second: packets/s, bytes/s, drops.
    void tick(uint64_t now_ns, uint64_t packets, uint64_t bytes);
    void clear();

  private:
    const Engine& engine_;
    uint64_t last_ns_ = 0;
    uint64_t last_packets_ = 0;
    uint64_t last_bytes_ = 0;
    bool printed_ = false;
};

// "N packets captured, N received by filter, N dropped by kernel"
void print_ledger(const Ledger& ledger, uint64_t captured);
// "N packets written to FILE, M not written (WHY)" for each output that did not get everything;
// rotated: "N packets written to FIRST..LAST (K files, O since overwritten by -W)[, M not ...]",
// also when everything was written but -W overwrote files.
void print_outputs(const std::vector<OutputLedger>& outputs);
// `out` is created when the capture starts (before any engine), written at exit.
void write_ledger_json(class OutputFile& out, std::string_view engine, const Ledger& ledger,
                       uint64_t captured, const std::vector<OutputLedger>& outputs);

// One pipeline per worker ring, each on its own thread; returns the exit status.
int run_workers(class AfPacketEngine& engine, std::vector<std::unique_ptr<Pipeline>>& pipes);

}  // namespace hookdump
