#include "cli/commands.h"
#include "cli/status.h"
#include "engine/pcapng_engine.h"

namespace hookdump {

void ReadCommand::add_to(CLI::App& app) {
    sub_ =
        app.add_subcommand("read", "Read a pcap or pcapng file, filter it, write packets or flows");
    sub_->add_option("file", path_, "Capture file (pcap or pcapng); - for standard input")
        ->required();
    sub_->add_option("expression", expression_, "pcap-filter expression");
    out_.add_to(*sub_);
}

int ReadCommand::run() {
    std::string expr;
    for (const auto& w : expression_) expr += (expr.empty() ? "" : " ") + w;
    const auto engine = open_capture_file(path_, expr);
    out_.from_file = true;
    // hookdump's pcapng says which fields its packets carry (a capture's rule labels, drop
    // reasons): csv and jsonl give them back as the capture wrote them.
    if (const auto* pcapng = dynamic_cast<const PcapngEngine*>(engine.get()))
        out_.fields = pcapng->record_fields();
    auto pipeline = out_.build();
    install_stop_signals();
    const int rc = run_capture(*engine, *pipeline);
    print_outputs(pipeline->outputs());
    return rc;
}

}  // namespace hookdump
