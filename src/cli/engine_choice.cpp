#include "cli/engine_choice.h"

#include <algorithm>

#include "cli/engine_table.h"
#include "engine/engine_names.h"
#include "util/error.h"

namespace hookdump {

std::unique_ptr<Engine> open_engine(std::string_view kind, const EngineOptions& opt) {
    return engine_row(kind).open(opt);
}

AutoPlan plan_auto_here(const AutoRequest& req) {
    SystemProbe probe;
    return plan_auto(req, probe);
}

AutoEngine open_auto(AutoPlan plan, EngineOptions opt) {
    // What the module copies: as much of each packet as the other engines keep, up to its limit.
    opt.kmod_snaplen = std::min(opt.snaplen, kKmodMaxSnaplen);
    for (size_t i = 0; i < plan.engines.size(); ++i) {
        const std::string& kind = plan.engines[i];
        try {
            return {open_engine(kind, opt), auto_line(kind, plan.reasons)};
        } catch (const RuntimeError& e) {
            // The last engine: its own error first (scripts read the first words), then how
            // it came to be chosen.
            if (i + 1 == plan.engines.size())
                throw RuntimeError(std::string(e.what()) + "; " + auto_line(kind, plan.reasons));
            if (kind == engine_name::kKmod && plan.reasons.size() == 1 &&
                plan.reasons[0] == "hookdump.ko is loaded")
                plan.reasons.clear();
            plan.reasons.push_back(kind + " failed: " + e.what());
        }
    }
    throw RuntimeError("no engine to run");  // plan_auto always ends with one
}

}  // namespace hookdump
