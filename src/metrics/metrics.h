// The capture's counters in the Prometheus text exposition format (version 0.0.4): a snapshot
// taken on the capture's own thread (MetricsSnapshot), rendered into the text /metrics serves.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/ledger.h"
#include "core/pipeline.h"
#include "engine/engine.h"
#include "flow/flow_table.h"
#include "sink/flow_sink.h"

namespace hookdump {

// Everything a scrape shows, copied out of the engine and the pipeline at one tick.
struct MetricsSnapshot {
    std::string engine;  // empty until the capture's first tick
    Ledger ledger;
    uint64_t captured = 0;  // packets handed to the outputs (the ledger line's "captured")
    std::vector<OutputLedger> outputs;  // the files (and standard output)
    // The IPFIX export: records sent and those the exporter gave up on.
    struct Export {
        std::string collector;  // HOST:PORT
        uint64_t sent = 0;
        uint64_t failed = 0;
    };
    std::vector<Export> exports;
    bool flows = false;         // a flow table is kept: the flow metrics are shown
    uint64_t flows_active = 0;  // the flow table's, and those the engine holds (eBPF flow mode)
    FlowStats flow_stats;
    std::vector<RingFill> rings;  // the engine's (Engine::ring_fill)
};

// The snapshot of a running capture: called on the thread that runs the engine (the
// pipeline's tick), where reading its ledger is safe.
// `ipfix` is the pipeline's IPFIX output, if it has one.
MetricsSnapshot take_snapshot(const Engine& engine, const Pipeline& pipeline,
                              const FlowSink* ipfix);

struct MetricsClock {
    double start_time_seconds = 0;  // the process's start, Unix time
    double uptime_seconds = 0;
};

// The text exposition: HELP and TYPE before each family, counters ending in _total, label
// values escaped (backslash, double quote, newline).
std::string render_metrics(const MetricsSnapshot& s, const MetricsClock& clock,
                           std::string_view version);

}  // namespace hookdump
