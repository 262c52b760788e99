// The output options every capturing command shares (-o, -w, --flows, timeouts), and the
// Pipeline they build.
#pragma once

#include <CLI/CLI.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "cli/ipfix_options.h"
#include "core/pipeline.h"

namespace hookdump {

struct OutputOptions {
    std::string format;       // -o; empty: from -w's extension, else text
    std::string write_path;   // -w; empty: standard output
    bool flows_flag = false;  // --flows
    std::string flows_file;   // --flows=FILE ("-" is standard output)
    uint64_t count = 0;
    uint32_t snaplen = 262144;
    double idle_timeout = 60;
    double active_timeout = 1800;
    size_t max_flows = 1 << 20;
    double rotate_seconds = 0;    // -G
    double rotate_megabytes = 0;  // -C, in units of 1,000,000 bytes like tcpdump
    unsigned rotate_files = 0;    // -W
    RecordFields fields;          // the engine's extra record fields (label, drop reason)
    IpfixOptions ipfix;           // --ipfix and its options
    // Reading a file (read, generate): the IPFIX exporter paces its messages, so that a
    // collector keeps up with a file read as fast as the disk goes.
    bool from_file = false;
    // The --ipfix output the last build() made, for --metrics (its exporter's counters).
    mutable const FlowSink* ipfix_sink = nullptr;

    // Flow records wanted: --flows, --flows=FILE or --ipfix.
    bool wants_flows() const { return flows_flag || !flows_file.empty() || ipfix.enabled(); }
    // Flows and no packet output: what the eBPF engines' in-kernel flow mode serves.
    bool flows_only() const { return wants_flows() && write_path.empty() && format.empty(); }

    void add_to(CLI::App& app);
    // Throws UsageError for inconsistent choices (a binary format to a terminal, unknown format).
    std::unique_ptr<Pipeline> build() const;
    // The same, writing to `path` instead of -w's (one file per worker).
    std::unique_ptr<Pipeline> build_for(const std::string& path) const;
};

// Runs an engine into a pipeline until it ends or a signal stops it; returns the exit status
// and prints the reason of a failure as one line.
// `front`, when given, is what the engine hands its events to (process attribution, in front
// of the pipeline).
int run_capture(class Engine& engine, Pipeline& pipeline, class EventHandler* front = nullptr);

// Installs SIGINT/SIGTERM handlers that ask the running engine to stop.
void install_stop_signals();
// SIGHUP: each pipeline given reopen_generation() (Pipeline::watch_reopen) reopens its files.
void install_reopen_signal();
const std::atomic<unsigned>& reopen_generation();
// The flag those handlers set; request_stop() sets it from inside (a worker failed).
const std::atomic<bool>& stop_flag();
void request_stop();

}  // namespace hookdump
