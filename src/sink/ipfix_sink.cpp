// IPFIX export as a flow output: each flow record the table (or the kernel) hands out becomes
// one IPFIX data record (ipfix/ipfix_flow.h) sent by the exporter (ipfix/ipfix_exporter.h).
// Nothing here is fatal: what does not reach the collector is counted with its reason.
#include "sink/ipfix_sink.h"

#include "ipfix/ipfix_flow.h"

namespace hookdump {
namespace {

class IpfixSink final : public FlowSink {
  public:
    explicit IpfixSink(const IpfixSinkConfig& c)
        : where_(c.where),
          stopping_(c.stopping),
          drain_interval_ns_(c.drain_interval_ns),
          exporter_(c.exporter, ipfix::make_transport(c.transport, c.address,
                                                      {.wait_for_buffer = c.from_file})) {}

    void write(const FlowRecord& r) override {
        if (!draining_ && stopping_ && stopping_->load(std::memory_order_relaxed)) draining();
        exporter_.add(ipfix::to_record(r));
    }
    void draining() override {
        draining_ = true;
        exporter_.pace(drain_interval_ns_);
    }
    void tick(uint64_t) override { exporter_.tick(); }
    void finish(const FlowStats&) override {
        if (!finished_) exporter_.finish();
        finished_ = true;
    }
    const ipfix::ExportStats& export_stats() const { return exporter_.stats(); }
    OutputStats output_stats() const override {
        const ipfix::ExportStats& s = exporter_.stats();
        OutputStats o;
        o.path = where_;
        o.written = s.records_sent;
        for (const auto& [why, n] : s.not_sent_reasons)
            o.why_not += (o.why_not.empty() ? "" : ", ") + why + ": " + std::to_string(n);
        o.line = ipfix::export_summary(s, where_);
        return o;
    }

  private:
    std::string where_;
    const std::atomic<bool>* stopping_;
    uint64_t drain_interval_ns_;
    bool draining_ = false;
    ipfix::Exporter exporter_;
    bool finished_ = false;
};

}  // namespace

std::unique_ptr<FlowSink> make_ipfix_sink(const IpfixSinkConfig& c) {
    return std::make_unique<IpfixSink>(c);
}

const ipfix::ExportStats* ipfix_export_stats(const FlowSink& s) {
    const auto* sink = dynamic_cast<const IpfixSink*>(&s);
    return sink ? &sink->export_stats() : nullptr;
}

}  // namespace hookdump
