#include "cli/command_line.h"

#include <fmt/format.h>
#include <pcap/pcap.h>

#include "util/error.h"
#include "util/join.h"
#include "version.h"

namespace hookdump {
CommandLine::CommandLine() {
    app_.set_version_flag("--version",
                          std::string("hookdump " HOOKDUMP_VERSION "\n") + pcap_lib_version());
    app_.require_subcommand(0, 1);
    app_.add_flag(
        "-d", dump_level_,
        "Print the compiled classic BPF program of EXPRESSION (-dd as C, -ddd as decimal)");
    app_.add_option("-y,--linktype", dump_linktype_, "Link type for -d (default EN10MB)");
#ifdef HOOKDUMP_HAVE_BPF
    app_.add_option("--ebpf", ebpf_hook_,
                    "Print EXPRESSION translated to eBPF for the tc or xdp engine")
        ->check(CLI::IsMember({"tc", "xdp"}));
#endif
    app_.add_option("expression", top_expression_, "pcap-filter expression (with -d)");
    read_.add_to(app_);
    generate_.add_to(app_);
    capture_.add_to(app_);
    kmod_.add_to(app_);
    trace_.add_to(app_);
}

int CommandLine::run() {
    if (read_.selected()) return read_.run();
    if (generate_.selected()) return generate_.run();
    if (capture_.selected()) return capture_.run();
    if (kmod_.selected()) return kmod_.run();
    if (trace_.selected()) return trace_.run();
#ifdef HOOKDUMP_HAVE_BPF
    if (!ebpf_hook_.empty()) return dump_ebpf(join(top_expression_), ebpf_hook_);
#endif
    if (dump_level_ > 0) return dump_bpf(join(top_expression_), dump_linktype_, dump_level_);
    if (!top_expression_.empty())
        throw UsageError("unknown command '" + top_expression_.front() + "'");
    fmt::print(stderr, "{}", app_.help());
    return kExitUsage;
}

}  // namespace hookdump
