// Several sources of events (the AF_PACKET engine's fanout rings), each read on a thread of
// its own, merged into one stream in timestamp order for one handler.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>

#include "engine/engine.h"

namespace hookdump {

// Runs source `index` until `stop` is set, delivering to `handler` (on a worker thread).
using SourceRunner =
    std::function<void(size_t index, EventHandler& handler, const std::atomic<bool>& stop)>;

// Runs `n` sources on threads of their own and hands their events to `handler`, on the calling
// thread, oldest first. An event is handed over once every other source has said that nothing
// older will come: by a newer event, or, when idle, by the time now minus `slack_ns` (how long
// a source may hold a packet before delivering it). On `stop`, a handler that says stop, or a
// failed source, every source is asked to stop (and drain); what they queued is still merged
// and delivered, in order. Rethrows a source's failure as RuntimeError after all have ended.
// Each queue is bounded: a slow handler pushes back into the sources.
void merge_sources(size_t n, const SourceRunner& run_source, EventHandler& handler,
                   const std::atomic<bool>& stop, uint64_t slack_ns);

}  // namespace hookdump
