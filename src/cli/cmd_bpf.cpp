#include <pcap/pcap.h>

#include "cli/commands.h"
#include "util/error.h"

namespace hookdump {

int dump_bpf(const std::string& expression, const std::string& linktype, int level) {
    const int dlt = pcap_datalink_name_to_val(linktype.c_str());
    if (dlt < 0) throw UsageError("unknown link type '" + linktype + "'");
    pcap_t* p = pcap_open_dead(dlt, 262144);
    if (!p) throw RuntimeError("cannot set up libpcap");
    bpf_program prog{};
    if (pcap_compile(p, &prog, expression.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        std::string msg = std::string("bad filter expression: ") + pcap_geterr(p);
        pcap_close(p);
        throw UsageError(msg);
    }
    bpf_dump(&prog, level);
    pcap_freecode(&prog);
    pcap_close(p);
    return kExitOk;
}

}  // namespace hookdump
