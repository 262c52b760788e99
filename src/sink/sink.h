// The one sink interface: packet outputs (text, csv, jsonl, pcap, pcapng) implement it.
// A new format is a new file plus one line in sink/registry.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/ledger.h"
#include "packet/event.h"
#include "sink/output_file.h"

namespace hookdump {

class Sink {
  public:
    virtual ~Sink() = default;
    // Throws RuntimeError on a write error.
    virtual void write(const PacketEvent& ev) = 0;
    // The same as write() on each, in order; sinks override it to save the per-packet calls.
    virtual void write_batch(std::span<const PacketEvent> evs) {
        for (const PacketEvent& ev : evs) write(ev);
    }
    // Writes trailers (pcapng statistics), flushes and closes. Called once, also after SIGINT
    // and after a failed write (then it does not throw that error again). `handed`: the
    // packets the pipeline gave this output (the ledger's written + not written), which a
    // trailer written after a failed write counts as the ledger does.
    virtual void finish(const Ledger& ledger, uint64_t handed) = 0;
    // Flushes buffered output so that what is written so far is complete (signals, rotation).
    virtual void flush() = 0;
    // Finishes the file (complete and valid, as at exit) and starts a new one at the same path
    // (SIGHUP, after logrotate moved it); rotated outputs start the next file. Standard output
    // is not reopened. Throws RuntimeError when the new file cannot be created.
    virtual void reopen() {}
    // False for sinks that write the bytes only (pcap, pcapng): engines may skip parsing.
    virtual bool needs_parsed() const { return true; }
    // Bytes of output so far, buffered ones included (for size-based rotation).
    virtual uint64_t bytes_written() const = 0;
    virtual OutputStats output_stats() const = 0;
};

// csv/jsonl: the fields some engines add after the others; off for the other engines, whose
// records stay as they were.
struct RecordFields {
    bool label = false;  // `label`: the rule's label (NFLOG's prefix, -j HOOKDUMP's label)
    bool drop = false;   // `reason`, `location`: the drop engine's
    bool proc = false;   // `pid`, `comm`, `uid`, `cgroup`: capture --proc's, last
};

struct SinkOptions {
    std::string path = "-";  // "-" is standard output
    uint32_t snaplen = 262144;
    RecordFields fields;
    const FileOps* file_ops = nullptr;  // tests: a file that fails where they want
    std::string section_comment;        // pcapng: the section header's opt_comment, if any
};

using SinkFactory = std::unique_ptr<Sink> (*)(const SinkOptions&);

struct SinkFormat {
    std::string_view name;                     // what -o takes
    std::vector<std::string_view> extensions;  // what -w FILE ends with
    bool binary;                               // refuses to write to a terminal
    SinkFactory make;
};

const std::vector<SinkFormat>& sink_formats();
// Throws UsageError naming the format.
const SinkFormat& sink_format_by_name(std::string_view name);
// nullptr when the extension names no format.
const SinkFormat* sink_format_by_path(std::string_view path);

}  // namespace hookdump
