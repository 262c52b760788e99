// hookdump's command line: subcommands in tcpdump's habits where they fit.
// Exit status: 0 success, 1 runtime failure, 2 bad usage or input.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <pcap/pcap.h>

#include <cstdio>

#include "cli/commands.h"
#include "util/error.h"
#include "version.h"

using namespace hookdump;

namespace {

std::string join(const std::vector<std::string>& words) {
    std::string s;
    for (const auto& w : words) s += (s.empty() ? "" : " ") + w;
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"hookdump: see a packet at every point of the Linux network stack"};
    app.set_version_flag("--version", std::string("hookdump " HOOKDUMP_VERSION "\n") + pcap_lib_version());
    app.require_subcommand(0, 1);

    int dump_level = 0;
    std::string dump_linktype = "EN10MB";
    std::vector<std::string> top_expression;
    app.add_flag("-d", dump_level,
                 "Print the compiled classic BPF program of EXPRESSION (-dd as C, -ddd as decimal)");
    app.add_option("-y,--linktype", dump_linktype, "Link type for -d (default EN10MB)");
    std::string ebpf_hook;
#ifdef HOOKDUMP_HAVE_BPF
    app.add_option("--ebpf", ebpf_hook, "Print EXPRESSION translated to eBPF for the tc or xdp engine")
        ->check(CLI::IsMember({"tc", "xdp"}));
#endif
    app.add_option("expression", top_expression, "pcap-filter expression (with -d)");

    ReadCommand read;
    read.add_to(app);
    GenerateCommand generate;
    generate.add_to(app);
    CaptureCommand capture;
    capture.add_to(app);
    KmodCommands kmod;
    kmod.add_to(app);
    TraceCommand trace;
    trace.add_to(app);

    // "--flows=FILE" is the only way to give --flows a file (see OutputOptions).
    std::vector<std::string> args(argv, argv + argc);
    for (auto& a : args)
        if (a.rfind("--flows=", 0) == 0) a = "--flows-file=" + a.substr(8);
    std::vector<char*> cargs;
    for (auto& a : args) cargs.push_back(a.data());

    try {
        app.parse(static_cast<int>(cargs.size()), cargs.data());
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        // One line, like every other error (scripts read the first line of stderr).
        fmt::print(stderr, "hookdump: {} (see 'hookdump --help')\n", e.what());
        return kExitUsage;
    }

    try {
        if (read.selected()) return read.run();
        if (generate.selected()) return generate.run();
        if (capture.selected()) return capture.run();
        if (kmod.selected()) return kmod.run();
        if (trace.selected()) return trace.run();
#ifdef HOOKDUMP_HAVE_BPF
        if (!ebpf_hook.empty()) return dump_ebpf(join(top_expression), ebpf_hook);
#endif
        if (dump_level > 0) return dump_bpf(join(top_expression), dump_linktype, dump_level);
        if (!top_expression.empty())
            throw UsageError("unknown command '" + top_expression.front() + "'");
        fmt::print(stderr, "{}", app.help());
        return kExitUsage;
    } catch (const UsageError& e) {
        fmt::print(stderr, "hookdump: {}\n", e.what());
        return kExitUsage;
    } catch (const RuntimeError& e) {
        fmt::print(stderr, "hookdump: {}\n", e.what());
        return kExitRuntime;
    }
}
