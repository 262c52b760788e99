#include "core/pipeline.h"

#include "util/error.h"

namespace hookdump {

void Pipeline::set_flows(FlowConfig cfg, std::unique_ptr<FlowWriter> writer) {
    flow_writer_ = std::move(writer);
    flows_ = std::make_unique<FlowTable>(cfg, [this, w = flow_writer_.get()](const FlowRecord& r) {
        ++flows_handed_;
        w->write(r);
    });
}

// Packets are counted before the sinks write them: one that a failed write did not write is
// captured and not written.
bool Pipeline::on_event(const PacketEvent& ev) {
    ++packets_;
    bytes_ += ev.len;
    for (auto& s : sinks_) s->write(ev);
    if (flows_) flows_->add(ev);
    return count_ == 0 || packets_ < count_;
}

bool Pipeline::on_events(std::span<const PacketEvent> evs) {
    if (count_ && evs.size() > count_ - packets_) evs = evs.first(count_ - packets_);
    packets_ += evs.size();
    for (const PacketEvent& ev : evs) bytes_ += ev.len;
    for (auto& s : sinks_) s->write_batch(evs);
    if (flows_)
        for (const PacketEvent& ev : evs) flows_->add(ev);
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
}

void Pipeline::on_idle(uint64_t now_ns) {
    if (flows_) flows_->expire(now_ns);
    for (auto& s : sinks_) s->flush();
    if (tick_) tick_(now_ns);
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
        attempt([&] { flows_->flush_all(); });
        attempt([&] { flow_writer_->finish(flows_->stats()); });
    }
    for (auto& s : sinks_) attempt([&] { s->finish(ledger, packets_); });
    if (!error.empty()) throw RuntimeError(error);
}

std::vector<OutputLedger> Pipeline::outputs() const {
    std::vector<OutputLedger> out;
    for (const auto& s : sinks_) out.push_back({"packets", packets_, s->output_stats()});
    if (flow_writer_) out.push_back({"flows", flows_handed_, flow_writer_->output_stats()});
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
