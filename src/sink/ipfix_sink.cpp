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
          exporter_(c.exporter, ipfix::make_transport(c.transport, c.address,
                                                      {.wait_for_buffer = c.from_file})) {}

    void write(const FlowRecord& r) override { exporter_.add(ipfix::to_record(r)); }
    void tick(uint64_t) override { exporter_.tick(); }
    void finish(const FlowStats&) override {
        if (!finished_) exporter_.finish();
        finished_ = true;
    }
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
    ipfix::Exporter exporter_;
    bool finished_ = false;
};

}  // namespace

std::unique_ptr<FlowSink> make_ipfix_sink(const IpfixSinkConfig& c) {
    return std::make_unique<IpfixSink>(c);
}

}  // namespace hookdump
