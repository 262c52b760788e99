// Factories of the packet sinks; sink/registry.cpp maps format names and extensions to them.
#pragma once

#include <memory>
#include <string>

#include "sink/sink.h"

namespace hookdump {

// The packet csv header, from the rows' own field walk; with the extra fields `f` asks for.
const std::string& csv_header(RecordFields f = {});

std::unique_ptr<Sink> make_text_sink(const SinkOptions& o);
std::unique_ptr<Sink> make_csv_sink(const SinkOptions& o);
std::unique_ptr<Sink> make_jsonl_sink(const SinkOptions& o);
std::unique_ptr<Sink> make_pcap_sink(const SinkOptions& o);
std::unique_ptr<Sink> make_pcapng_sink(const SinkOptions& o);

}  // namespace hookdump

namespace hookdump {
class LocalClock;
// The text sink's line for one packet (exposed for tests and the trace printer).
void format_text_line(std::string& out, LocalClock& clock, const PacketEvent& ev);
}  // namespace hookdump
