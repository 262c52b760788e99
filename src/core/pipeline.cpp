#include "core/pipeline.h"

#include "util/error.h"

namespace hookdump {

namespace {

// `step` on each flow output that has not failed; one that throws is failed from then on, and
// the first error is kept for raise_flow_error.
template <class Outputs, class Step>
void each_flow_output(Outputs& outputs, std::string& first_error, Step&& step) {
    for (auto& o : outputs) {
        if (o.failed) continue;
        try {
            step(*o.sink);
        } catch (const RuntimeError& e) {
            o.failed = true;
            if (first_error.empty()) first_error = e.what();
        }
    }
}

}  // namespace

void Pipeline::set_flows(FlowConfig cfg) {
    flows_ = std::make_unique<FlowTable>(cfg, [this](const FlowRecord& r) { export_flow(r); });
}

// Called from inside the flow table (add, expire, flush_all): never throws, so that a failed
// sink stops neither the table's walk nor the other sinks (a full disk must not keep records
// from another file or a collector). A sink that threw is given nothing more; its error is
// thrown once the table is done (raise_flow_error).
void Pipeline::export_flow(const FlowRecord& r) {
    ++flows_handed_;
    each_flow_output(flow_sinks_, flow_error_, [&](FlowSink& s) { s.write(r); });
}

void Pipeline::raise_flow_error() {
    if (flow_error_.empty() || flow_error_thrown_) return;
    flow_error_thrown_ = true;
    throw RuntimeError(flow_error_);
}

// Packets are counted before the sinks write them: one that a failed write did not write is
// captured and not written.
bool Pipeline::on_event(const PacketEvent& ev) {
    ++packets_;
    bytes_ += ev.len;
    for (auto& s : sinks_) s->write(ev);
    if (flows_) {
        flows_->add(ev);
        raise_flow_error();
    }
    return count_ == 0 || packets_ < count_;
}

bool Pipeline::on_events(std::span<const PacketEvent> evs) {
    if (count_ && evs.size() > count_ - packets_) evs = evs.first(count_ - packets_);
    packets_ += evs.size();
    for (const PacketEvent& ev : evs) bytes_ += ev.len;
    for (auto& s : sinks_) s->write_batch(evs);
    if (flows_) {
        for (const PacketEvent& ev : evs) flows_->add(ev);
        raise_flow_error();
    }
    return count_ == 0 || packets_ < count_;
}

bool Pipeline::wants_parsed() const {
    if (flows_) return true;
    for (const auto& s : sinks_)
        if (s->needs_parsed()) return true;
    return false;
}

void Pipeline::on_flow(const FlowRecord& r) {
    if (!flows_) return;
    flows_->add_record(r);
    packets_ += r.packets;
    bytes_ += r.bytes;
    raise_flow_error();
}

void Pipeline::on_idle(uint64_t now_ns) {
    if (flows_) flows_->expire(now_ns);
    // A flow sink that fails here (its file's flush) is given nothing more, as in export_flow.
    each_flow_output(flow_sinks_, flow_error_, [&](FlowSink& s) { s.tick(now_ns); });
    if (reopen_ && reopen_->load() != reopen_seen_) {
        reopen_seen_ = reopen_->load();
        for (auto& s : sinks_) s->reopen();
    }
    for (auto& s : sinks_) s->flush();
    if (tick_) tick_(now_ns);
    raise_flow_error();
}

void Pipeline::finish(const Ledger& ledger) {
    std::string error;
    auto attempt = [&](auto&& step) {
        try {
            step();
        } catch (const RuntimeError& e) {
            if (error.empty()) error = e.what();
        }
    };
    if (flows_) {
        for (auto& o : flow_sinks_)
            if (!o.failed) o.sink->draining();
        flows_->flush_all();
        attempt([&] { raise_flow_error(); });
        for (auto& o : flow_sinks_) attempt([&] { o.sink->finish(flows_->stats()); });
    }
    for (auto& s : sinks_) attempt([&] { s->finish(ledger, packets_); });
    if (!error.empty()) throw RuntimeError(error);
}

std::vector<OutputLedger> Pipeline::outputs() const {
    std::vector<OutputLedger> out;
    for (const auto& s : sinks_) out.push_back({"packets", packets_, s->output_stats()});
    for (const auto& o : flow_sinks_)
        out.push_back({"flows", flows_handed_, o.sink->output_stats()});
    return out;
}

void Pipeline::abandon() noexcept {
    for (auto& s : sinks_) {
        try {
            s->flush();
        } catch (...) {
            // already failing: the first error is the one reported
        }
    }
}

}  // namespace hookdump
