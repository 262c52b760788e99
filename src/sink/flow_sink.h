// The flow output interface: flow records (text table, csv, jsonl; IPFIX next) go to
// FlowSinks, as packets go to Sinks. A new flow format is a new file plus one row in
// sink/registry.cpp (flow_sink_formats).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "flow/flow_table.h"
#include "sink/output_file.h"

namespace hookdump {

class FlowSink {
  public:
    virtual ~FlowSink() = default;
    // Throws RuntimeError on a write error.
    virtual void write(const FlowRecord& r) = 0;
    // Writes anything held back (the table) and the table's counters where the format has
    // them, flushes and closes. Called once, also after a failed write.
    virtual void finish(const FlowStats& stats) = 0;
    // Flows in the records that reached the output whole, and why the others did not.
    virtual OutputStats output_stats() const = 0;
    // Called when the engine is idle (at least every 100 ms on live engines): for outputs
    // that send on a timer.
    virtual void tick(uint64_t /*now_ns*/) {}
    // The capture has stopped: what comes now is the final flush of every flow, which no
    // engine waits for (an output may take its time, e.g. pace its messages).
    virtual void draining() {}
};

struct FlowSinkOptions {
    std::string path = "-";             // "-" is standard output
    bool proc_fields = false;           // csv/jsonl: pid, comm, uid, cgroup last (--proc)
    const FileOps* file_ops = nullptr;  // tests: a file that fails where they want
};

using FlowSinkFactory = std::unique_ptr<FlowSink> (*)(const FlowSinkOptions&);

struct FlowSinkFormat {
    std::string_view name;                     // the format's name (tests, messages)
    std::vector<std::string_view> extensions;  // what --flows=FILE ends with
    FlowSinkFactory make;
};

const std::vector<FlowSinkFormat>& flow_sink_formats();
// Throws UsageError naming the format.
const FlowSinkFormat& flow_sink_format_by_name(std::string_view name);
// nullptr when the extension names no flow format (--flows then writes the text table).
const FlowSinkFormat* flow_sink_format_by_path(std::string_view path);

std::unique_ptr<FlowSink> make_flow_text_sink(const FlowSinkOptions& o);
std::unique_ptr<FlowSink> make_flow_csv_sink(const FlowSinkOptions& o);
std::unique_ptr<FlowSink> make_flow_jsonl_sink(const FlowSinkOptions& o);

// The flow csv header, from the rows' own field walk.
const std::string& flow_csv_header(bool proc_fields = false);

}  // namespace hookdump
