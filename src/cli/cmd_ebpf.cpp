// hookdump --ebpf tc|xdp EXPRESSION: the eBPF program the tc or XDP engine runs for a
// pcap-filter expression, as -d prints the classic BPF one.
#include <fmt/format.h>

#include "bpf/cbpf_translate.h"
#include "cli/commands.h"
#include "util/error.h"

namespace hookdump {

int dump_ebpf(const std::string& expression, const std::string& hook) {
    bpf::FilterHook h;
    if (hook == "tc")
        h = bpf::FilterHook::Tc;
    else if (hook == "xdp")
        h = bpf::FilterHook::Xdp;
    else
        throw UsageError("--ebpf takes 'tc' or 'xdp', not '" + hook + "'");
    const auto cbpf = bpf::compile_pcap_filter(expression);
    const auto lines = bpf::disassemble(bpf::translate_cbpf(cbpf, bpf::FilterSpec{h}));
    fmt::print(
        "; {} cBPF instructions -> {} eBPF instructions ({}); the function replaces the {} "
        "program's filter stub: returns 1 to accept, 0 to reject\n",
        cbpf.size(), lines.size(), hook, hook);
    for (size_t i = 0; i < lines.size(); ++i)
        if (!lines[i].empty()) fmt::print("({:03}) {}\n", i, lines[i]);
    return kExitOk;
}

}  // namespace hookdump
