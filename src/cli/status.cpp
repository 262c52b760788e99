#include "cli/status.h"

#include <fmt/format.h>

#include <algorithm>
#include <thread>

#include "cli/output_options.h"
#include "engine/afpacket_engine.h"
#include "sink/output_file.h"
#include "sink/rows.h"
#include "util/error.h"

namespace hookdump {

void StatusLine::tick(uint64_t now_ns, uint64_t packets, uint64_t bytes) {
    if (last_ns_ == 0) {
        last_ns_ = now_ns;
        return;
    }
    if (now_ns < last_ns_ + 1000000000ull) return;
    const double secs = static_cast<double>(now_ns - last_ns_) / 1e9;
    const InterfaceCounters t = engine_.ledger().total();
    fmt::print(stderr,
               "\r{:.0f} packets/s, {:.0f} bytes/s, {} captured, {} dropped by kernel\033[K",
               static_cast<double>(packets - last_packets_) / secs,
               static_cast<double>(bytes - last_bytes_) / secs, packets, t.kernel_drops);
    last_ns_ = now_ns;
    last_packets_ = packets;
    last_bytes_ = bytes;
    printed_ = true;
}

void StatusLine::clear() {
    if (printed_) fmt::print(stderr, "\n");
}

void print_ledger(const Ledger& ledger, uint64_t captured) {
    const InterfaceCounters t = ledger.total();
    fmt::print(stderr, "{} packets captured, {} received by filter, {} dropped by kernel\n",
               captured, t.filter_accepted, t.kernel_drops);
}

void print_outputs(const std::vector<OutputLedger>& outputs) {
    for (const auto& o : outputs) {
        const OutputStats& s = o.stats;
        if (!s.line.empty()) {
            fmt::print(stderr, "{}\n", s.line);
            continue;
        }
        if (s.written == o.handed && !s.overwritten) continue;
        std::string line = fmt::format("{} {} written to {}", s.written, o.unit, s.path);
        if (s.files)
            line += fmt::format(
                " ({} file{}{})", s.files, s.files == 1 ? "" : "s",
                s.overwritten ? fmt::format(", {} since overwritten by -W", s.overwritten) : "");
        if (s.written != o.handed)
            line += fmt::format(", {} not written ({})", o.handed - s.written, s.why_not);
        fmt::print(stderr, "{}\n", line);
    }
}

void write_ledger_json(OutputFile& out, std::string_view engine, const Ledger& ledger,
                       uint64_t captured, const std::vector<OutputLedger>& outputs) {
    // Room: every number at its longest, names and separators, the texts escaped.
    size_t room = 512 + JsonRow::room(engine.size());
    for (const auto& c : ledger.interfaces) room += 256 + JsonRow::room(c.ifname.view().size());
    for (const auto& w : outputs)
        room += 512 + JsonRow::room(w.stats.path.size()) + JsonRow::room(w.stats.why_not.size());
    auto counters = [](JsonRow& e, const InterfaceCounters& c) {
        e.uint("received_by_filter", c.filter_accepted);
        e.uint("read", c.received);
        e.uint("dropped_by_kernel", c.kernel_drops);
    };
    // An array of objects, each written by fill(row) with a cursor of its own.
    auto array = [](JsonRow& e, std::string_view name, const auto& items, auto&& fill) {
        e.key(name);
        e.put('[');
        bool first = true;
        for (const auto& item : items) {
            if (!first) e.put(',');
            first = false;
            JsonRow o(e.end());
            o.begin();
            fill(o, item);
            o.close();
            e.seek(o.end());
        }
        e.put(']');
    };
    append_row<JsonRow>(out.buffer(), room, [&](JsonRow& e) {
        e.begin();
        e.text("engine", engine);
        e.uint("packets_captured", captured);
        e.key("total");
        JsonRow total(e.end());
        total.begin();
        counters(total, ledger.total());
        total.close();
        e.seek(total.end());
        array(e, "interfaces", ledger.interfaces, [&](JsonRow& o, const InterfaceCounters& c) {
            o.uint("ifindex", static_cast<uint32_t>(c.ifindex));
            o.text("ifname", c.ifname.view());
            counters(o, c);
        });
        array(e, "outputs", outputs, [](JsonRow& o, const OutputLedger& w) {
            o.text("path", w.stats.path);
            o.word("records", w.unit);
            o.uint("written", w.stats.written);
            o.uint("not_written", w.handed - w.stats.written);
            if (w.stats.why_not.empty())
                o.null("why_not");
            else
                o.text("why_not", w.stats.why_not);
            if (w.stats.files) {
                o.uint("files", w.stats.files);
                o.uint("overwritten", w.stats.overwritten);
            }
        });
        e.finish();
    });
    out.close();
}

int run_workers(AfPacketEngine& engine, std::vector<std::unique_ptr<Pipeline>>& pipes) {
    std::vector<std::thread> threads;
    std::vector<std::string> errors(pipes.size());
    for (unsigned i = 0; i < pipes.size(); ++i) {
        threads.emplace_back([&, i] {
            try {
                engine.run_worker(i, *pipes[i], stop_flag());
            } catch (const std::exception& e) {
                errors[i] = e.what();
                request_stop();
            }
        });
    }
    for (auto& t : threads) t.join();
    int rc = kExitOk;
    const Ledger ledger = engine.ledger();
    std::vector<std::string> printed;
    for (unsigned i = 0; i < pipes.size(); ++i) {
        try {
            pipes[i]->finish(ledger);
        } catch (const RuntimeError& e) {
            if (errors[i].empty()) errors[i] = e.what();
        }
        if (!errors[i].empty()) {
            rc = kExitRuntime;
            // Every worker sees an interface go away: say it once.
            if (std::find(printed.begin(), printed.end(), errors[i]) != printed.end()) continue;
            fmt::print(stderr, "hookdump: {}\n", errors[i]);
            printed.push_back(errors[i]);
        }
    }
    return rc;
}

}  // namespace hookdump
