#include "cli/commands.h"
#include "cli/numbers.h"
#include "cli/status.h"
#include "engine/synthetic_engine.h"

namespace hookdump {

void GenerateCommand::add_to(CLI::App& app) {
    sub_ =
        app.add_subcommand("generate",
                           "Write synthetic traffic (TCP, UDP, ICMP, IPv6, VLAN on 198.18.0.0/15) "
                           "built by hookdump's packet builder");
    add_number(*sub_, "-n,--packets", packets_, "Number of packets (1000)", 1);
    add_number(*sub_, "--flow-count", flows_, "Number of distinct flows (16)", 1);
    add_number(*sub_, "--payload", payload_, "Transport payload bytes per packet (64)", 0, 9000);
    add_number(*sub_, "--seed", seed_, "Varies addresses and ports", 0);
    out_.add_to(*sub_);
}

int GenerateCommand::run() {
    SyntheticConfig cfg;
    cfg.packets = packets_;
    cfg.flows = flows_;
    cfg.payload = payload_;
    cfg.seed = seed_;
    SyntheticEngine engine(cfg);
    out_.from_file = true;  // as fast as a file read
    auto pipeline = out_.build();
    install_stop_signals();
    const int rc = run_capture(engine, *pipeline);
    print_outputs(pipeline->outputs());
    return rc;
}

}  // namespace hookdump
