#include "cli/engine_choice.h"

#include <algorithm>

#include "cli/engine_table.h"
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
    for (;;) {  // plan_auto always gives one engine at least
        const std::string kind = plan.engines.front();
        try {
            return {open_engine(kind, opt), auto_line(plan)};
        } catch (const RuntimeError& e) {
            // The last engine: its own error first (scripts read the first words), then how
            // it came to be chosen.
            if (plan.engines.size() == 1)
                throw RuntimeError(std::string(e.what()) + "; " + auto_line(plan));
            // Why it was picked no longer matters: its failure is why the next one runs.
            plan.engines.erase(plan.engines.begin());
            plan.why.clear();
            plan.reasons.push_back(kind + " failed: " + e.what());
        }
    }
}

}  // namespace hookdump
