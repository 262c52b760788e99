#include "cli/commands.h"
#include "cli/status.h"
#include "engine/synthetic_engine.h"

namespace hookdump {

void GenerateCommand::add_to(CLI::App& app) {
    sub_ = app.add_subcommand("generate",
                              "Write synthetic traffic (TCP, UDP, ICMP, IPv6, VLAN on 198.18.0.0/15) "
                              "built by hookdump's packet builder");
    sub_->add_option("-n,--packets", packets_, "Number of packets (1000)")->check(CLI::PositiveNumber);
    sub_->add_option("--flow-count", flows_, "Number of distinct flows (16)")->check(CLI::PositiveNumber);
    sub_->add_option("--payload", payload_, "Transport payload bytes per packet (64)")
        ->check(CLI::Range(0, 9000));
    sub_->add_option("--seed", seed_, "Varies addresses and ports");
    out_.add_to(*sub_);
}

int GenerateCommand::run() {
    SyntheticConfig cfg;
    cfg.packets = packets_;
    cfg.flows = flows_;
    cfg.payload = payload_;
    cfg.seed = seed_;
    SyntheticEngine engine(cfg);
    auto pipeline = out_.build();
    install_stop_signals();
    const int rc = run_capture(engine, *pipeline);
    print_outputs(pipeline->outputs());
    return rc;
}

}  // namespace hookdump
