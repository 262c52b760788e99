#include "trace/html_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

namespace hookdump::trace {
namespace {

struct Node {
    const char* name;
    const char* label;
    int x, y;
};

// The netfilter picture: ingress left to right along the bottom row, local delivery and local
// output above it, the packet's fates as the graph's sinks.
constexpr Node kNodes[] = {
    {"xdp", "xdp", 70, 300},
    {"tap-in", "tap-in", 200, 300},
    {"tc-ingress", "tc ingress", 330, 300},
    {"PRE_ROUTING", "PRE_ROUTING", 470, 300},
    {"FORWARD", "FORWARD", 640, 300},
    {"POST_ROUTING", "POST_ROUTING", 810, 300},
    {"tc-egress", "tc egress", 950, 300},
    {"tap-out", "tap-out", 1080, 300},
    {"LOCAL_IN", "LOCAL_IN", 560, 170},
    {"LOCAL_OUT", "LOCAL_OUT", 720, 170},
    {"delivered", "local socket", 560, 50},
    {"sent", "sent", 1080, 430},
    {"forwarded", "forwarded", 950, 430},
    {"unknown", "fate unknown", 470, 430},
};

const Node* node(const std::string& name) {
    for (const auto& n : kNodes)
        if (name == n.name) return &n;
    return nullptr;
}

std::string esc(std::string_view s) {
    std::string o;
    for (char c : s) {
        switch (c) {
            case '<':
                o += "&lt;";
                break;
            case '>':
                o += "&gt;";
                break;
            case '&':
                o += "&amp;";
                break;
            case '"':
                o += "&quot;";
                break;
            default:
                o += c;
        }
    }
    return o;
}

}  // namespace

std::string html_report(const PathSummary& summary, const ReportInfo& info) {
    std::string svg;
    uint64_t max_edge = 1;
    for (const auto& [e, n] : summary.edges()) max_edge = std::max(max_edge, n);

    svg +=
        R"x(<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" markerWidth="14" markerHeight="14" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#2563eb"/></marker></defs>)x";
    // Edges first, so that nodes are drawn over their ends.
    for (const auto& [e, n] : summary.edges()) {
        const Node* a = node(e.first);
        const Node* b = node(e.second);
        if (!a || !b) continue;
        const double w = 2.0 + 8.0 * std::log1p(static_cast<double>(n)) /
                                   std::log1p(static_cast<double>(max_edge));
        // Stop short of the target node's box.
        const double dx = b->x - a->x, dy = b->y - a->y;
        const double len = std::max(1.0, std::hypot(dx, dy));
        const double shrink =
            std::min(len / 2, 62.0 * std::abs(dx) / len + 24.0 * std::abs(dy) / len);
        const double x2 = b->x - dx / len * shrink, y2 = b->y - dy / len * shrink;
        svg += fmt::format(
            R"x(<line x1="{}" y1="{}" x2="{:.1f}" y2="{:.1f}" stroke="#2563eb" stroke-width="{:.1f}" marker-end="url(#arrow)"><title>{} → {}: {} packets</title></line>)x",
            a->x, a->y, x2, y2, w, esc(e.first), esc(e.second), n);
        svg += fmt::format(
            R"x(<text x="{:.1f}" y="{:.1f}" font-size="15" font-weight="bold" fill="#1e3a8a" text-anchor="middle">{}</text>)x",
            (a->x + b->x) / 2.0 + (dy != 0 ? 14 : 0), (a->y + b->y) / 2.0 - 8, n);
    }
    for (const auto& n : kNodes) {
        svg += fmt::format(
            R"x(<rect x="{}" y="{}" width="116" height="44" rx="8" fill="#dbeafe" stroke="#1d4ed8" stroke-width="2"/><text x="{}" y="{}" font-size="14" text-anchor="middle" fill="#0f172a">{}</text>)x",
            n.x - 58, n.y - 22, n.x, n.y + 5, esc(n.label));
    }
    // Drop points: a red badge on the node where packets died ("after X" marks X).
    for (const auto& [where, n] : summary.drops()) {
        std::string name = where.starts_with("after ") ? where.substr(6) : where;
        if (auto p = name.find('('); p != std::string::npos) name.resize(p);
        const Node* at = node(name);
        if (!at) at = node("unknown");
        svg += fmt::format(
            R"x(<g><title>dropped {}: {} packets</title><circle cx="{}" cy="{}" r="22" fill="#dc2626"/><text x="{}" y="{}" font-size="13" font-weight="bold" text-anchor="middle" fill="#ffffff">✗ {}</text></g>)x",
            esc(where), n, at->x + 60, at->y - 26, at->x + 60, at->y - 21, n);
    }

    std::string rows;
    for (const auto& r : summary.rows())
        rows += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td></tr>", r.packets,
                            esc(to_string(r.fate)), esc(r.signature));
    std::string points;
    for (const auto& p : info.points) points += (points.empty() ? "" : ", ") + esc(p);
    std::string missing;
    for (const auto& m : info.missing) missing += "<li>" + esc(m) + "</li>";

    return fmt::format(
        R"x(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>hookdump trace: {expr}</title>
<style>
body {{ font-family: sans-serif; margin: 24px; color: #0f172a; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #cbd5e1; padding: 4px 8px; text-align: left; }}
.missing {{ color: #92400e; }}
</style></head><body>
<h1>hookdump trace</h1>
<p>Filter: <code>{expr}</code>. {total} packets traced. Observation points: {points}.</p>
{missing_block}
<svg id="hook-graph" width="1160" height="480" viewBox="0 0 1160 480">{svg}</svg>
<h2>Paths</h2>
<table><tr><th>packets</th><th>fate</th><th>path</th></tr>{rows}</table>
</body></html>
)x",
        fmt::arg("expr", esc(info.expression.empty() ? "(all)" : info.expression)),
        fmt::arg("total", summary.total()), fmt::arg("points", points.empty() ? "none" : points),
        fmt::arg("missing_block",
                 missing.empty() ? ""
                                 : "<p class=\"missing\">Not observed:</p><ul class=\"missing\">" +
                                       missing + "</ul>"),
        fmt::arg("svg", svg), fmt::arg("rows", rows));
}

}  // namespace hookdump::trace
