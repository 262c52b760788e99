#include "core/pipeline.h"

namespace hookdump {

void Pipeline::set_flows(FlowConfig cfg, std::unique_ptr<FlowWriter> writer) {
    flow_writer_ = std::move(writer);
    flows_ = std::make_unique<FlowTable>(cfg, [w = flow_writer_.get()](const FlowRecord& r) { w->write(r); });
}

bool Pipeline::on_event(const PacketEvent& ev) {
    for (auto& s : sinks_) s->write(ev);
    if (flows_) flows_->add(ev);
    ++packets_;
    bytes_ += ev.len;
    return count_ == 0 || packets_ < count_;
}

bool Pipeline::on_events(std::span<const PacketEvent> evs) {
    if (count_ && evs.size() > count_ - packets_) evs = evs.first(count_ - packets_);
    for (auto& s : sinks_) s->write_batch(evs);
    for (const PacketEvent& ev : evs) {
        if (flows_) flows_->add(ev);
        bytes_ += ev.len;
    }
    packets_ += evs.size();
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
    if (flows_) {
        flows_->flush_all();
        flow_writer_->finish(flows_->stats());
    }
    for (auto& s : sinks_) s->finish(ledger);
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
