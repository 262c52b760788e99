// Writes flow records as csv, jsonl, or (for a terminal) an aligned table at the end.
#pragma once

#include <memory>
#include <string>

#include "flow/flow_table.h"
#include "sink/sink.h"

namespace hookdump {

class FlowWriter {
  public:
    virtual ~FlowWriter() = default;
    virtual void write(const FlowRecord& r) = 0;
    // Writes anything held back (the table) and a summary line with the table's counters.
    virtual void finish(const FlowStats& stats) = 0;
    // Flows in the records that reached the file whole, and why the others did not.
    virtual OutputStats output_stats() const = 0;
};

// format: "csv", "jsonl" or "text"; path "-" is standard output.
std::unique_ptr<FlowWriter> make_flow_writer(const std::string& format, const std::string& path);
// The format a --flows=FILE path implies: csv, jsonl; text otherwise.
std::string flow_format_for_path(const std::string& path);

extern const char* const kFlowCsvHeader;

}  // namespace hookdump
