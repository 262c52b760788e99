// The live engines `capture` and `trace` run, one row each, as the output formats are one row
// each (src/sink/registry.cpp): everything the command line knows of an engine. A new engine
// is its own files (src/engine/NAME_engine.{h,cpp}) plus its row in engine_table.cpp.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.h"

namespace hookdump {

struct EngineOptions;

struct EngineRow {
    std::string_view name;  // --engine NAME (src/engine/engine_names.h), Engine::name()
    std::string_view help;  // in --engine's help after the name ("the tap"), or ""
    // The engine as `--engine auto`'s line names its options: "--workers is AF_PACKET's".
    std::string_view owner;
    // Options of `capture` only this engine honours: given, `--engine auto` picks it.
    std::vector<std::string_view> owned_options;
    // Builds the engine from the options; throws as it does (UsageError for the user's
    // mistakes, RuntimeError for the kernel's refusals).
    std::unique_ptr<Engine> (*open)(const EngineOptions& opt);
    // tcpdump's readiness line(s) once `open` made the engine, each ending in '\n' (scripts
    // and tests wait for them, byte for byte).
    std::string (*ready)(const Engine& engine, const EngineOptions& opt);
    // Output traits: packet records carry the drop reason and location fields.
    bool drop_fields = false;
    // Packet records carry the label of the rule that sent the packet (NFLOG's prefix, an
    // iptables -j HOOKDUMP rule's label) with these options; null: never.
    bool (*label_field)(const EngineOptions& opt) = nullptr;
};

// Every row, in --engine's order.
const std::vector<EngineRow>& engine_table();
// The row of `name`; UsageError naming the known engines for another name.
const EngineRow& engine_row(std::string_view name);

}  // namespace hookdump
