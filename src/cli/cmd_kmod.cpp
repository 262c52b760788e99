// The module's own commands: rules add|del|list|flush, kmod stats, kmod listen; and the rule
// options `capture --engine kmod` shares with `rules add`.
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/engine_choice.h"
#include "cli/numbers.h"
#include "cli/status.h"
#include "engine/kmod_engine.h"
#include "hookdump.h"
#include "rules/rule.h"
#include "util/join.h"

namespace hookdump {
void KmodRuleOptions::add_to(CLI::App& app, bool with_snaplen) {
    app.add_option("--src", src, "Source address or prefix (198.18.0.1, 198.18.0.0/15)");
    app.add_option("--dst", dst, "Destination address or prefix");
    app.add_option("--sport", sport, "Source port or LOW-HIGH");
    app.add_option("--dport", dport, "Destination port or LOW-HIGH");
    app.add_option("--proto", proto, "IP protocol: tcp, udp, icmp, icmp6, sctp or a number");
    app.add_option("--hooks", hooks, "Hooks: prerouting,input,forward,output,postrouting or all");
    app.add_option("--priority", priority,
                   "Hook priority: first, last, both, or a number (e.g. -150: after conntrack)");
    if (with_snaplen)
        add_number(app, "--snaplen", snaplen, "Packet bytes to copy (0: 5-tuple only)", 0,
                   kKmodMaxSnaplen);
}

std::vector<Rule> KmodRuleOptions::rules(const std::string& expression) const {
    return rules_from_options(*this, expression);
}

void KmodCommands::add_to(CLI::App& app) {
    rules_ = app.add_subcommand("rules", "Manage hookdump.ko's rules in this network namespace");
    rules_->require_subcommand(1);
    add_ = rules_->add_subcommand("add", "Add rules (options and/or an expression subset)");
    rule_.add_to(*add_, true);
    add_->add_option("expression", add_expression_,
                     "host/net/port/portrange/src/dst/tcp/udp/... and/or");
    del_ = rules_->add_subcommand("del", "Delete rules by id");
    add_numbers(*del_, "id", del_ids_, "Rule ids")->required();
    list_ = rules_->add_subcommand("list", "List the rules with their hit counts");
    flush_ = rules_->add_subcommand("flush", "Delete every rule");

    kmod_ = app.add_subcommand("kmod", "hookdump.ko: statistics and passive listening");
    kmod_->require_subcommand(1);
    stats_ = kmod_->add_subcommand("stats", "The module's counters for this network namespace");
    listen_ = kmod_->add_subcommand(
        "listen", "Print events of every session (the multicast group), read-only");
    listen_out_.add_to(*listen_);
}

bool KmodCommands::selected() const {
    return rules_->parsed() || kmod_->parsed();
}

int KmodCommands::run() {
    if (listen_->parsed()) {
        KmodEngine engine(KmodEngine::Mode::Listen, {});
        fmt::print(stderr, "listening to hookdump.ko events (multicast group {})\n",
                   HOOKDUMP_MCGRP_EVENTS);
        listen_out_.fields.label = true;  // -j HOOKDUMP rules' events have one
        auto pipeline = listen_out_.build();
        install_stop_signals();
        const int rc = run_capture(engine, *pipeline);
        print_ledger(engine.ledger(), pipeline->packets());
        print_outputs(pipeline->outputs());
        return rc;
    }
    KmodClient client;
    if (add_->parsed()) {
        for (const auto& r : rule_.rules(join(add_expression_))) {
            Rule shown = r;
            shown.id = client.add_rule(r);
            fmt::print("added {}\n", shown.describe());
        }
    } else if (del_->parsed()) {
        for (uint32_t id : del_ids_) client.delete_rule(id);
    } else if (list_->parsed()) {
        for (const auto& r : client.list_rules()) fmt::print("{}\n", r.describe());
    } else if (flush_->parsed()) {
        client.flush_rules();
    } else if (stats_->parsed()) {
        const KmodStats s = client.stats();
        fmt::print(
            "matched {}\nqueued {}\ndelivered {}\ndropped_full {}\ndropped_nobufs {}\n"
            "dropped_nomem {}\ndropped_nosession {}\nbatches {}\nrules {}\nhooks {}\n",
            s.matched, s.queued, s.delivered, s.drop_full, s.drop_nobufs, s.drop_nomem,
            s.drop_nosession, s.batches, s.rules, s.hooks);
    }
    return kExitOk;
}

}  // namespace hookdump
