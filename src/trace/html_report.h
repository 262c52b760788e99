// `hookdump trace --report FILE.html`: the hook graph with packet counts on its edges and the
// drop points marked, as one self-contained page (inline SVG, no scripts, no network).
#pragma once

#include <string>
#include <vector>

#include "trace/correlator.h"

namespace hookdump::trace {

struct ReportInfo {
    std::string expression;
    std::vector<std::string> points;   // observation points that ran
    std::vector<std::string> missing;  // "LOCAL_IN: hookdump.ko is not loaded", ...
};

std::string html_report(const PathSummary& summary, const ReportInfo& info);

}  // namespace hookdump::trace
