#include "bpf/pcap_filter.h"

#include <pcap/pcap.h>

#include <cstring>
#include <string>

#include "util/error.h"

namespace hookdump::bpf {

static_assert(sizeof(::bpf_insn) == sizeof(sock_filter));

struct PcapFilter::Compiled {
    bpf_program prog{};
    ~Compiled() { pcap_freecode(&prog); }
};

namespace {

// pcap_compile into `out`; UsageError with libpcap's message.
void compile(std::string_view expression, int linktype, int snaplen, bpf_program& out) {
    pcap_t* p = pcap_open_dead(linktype, snaplen);
    if (!p) throw RuntimeError("cannot set up libpcap");
    const std::string expr(expression);
    if (pcap_compile(p, &out, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        std::string msg = std::string("bad filter expression: ") + pcap_geterr(p);
        pcap_close(p);
        throw UsageError(msg);
    }
    pcap_close(p);
}

std::vector<sock_filter> to_sock_filter(const bpf_program& prog) {
    std::vector<sock_filter> out(prog.bf_len);
    for (size_t i = 0; i < out.size(); ++i) {
        const ::bpf_insn& in = prog.bf_insns[i];
        out[i] = sock_filter{in.code, in.jt, in.jf, in.k};
    }
    return out;
}

}  // namespace

std::vector<sock_filter> compile_pcap_filter(std::string_view expression, int linktype,
                                             int snaplen) {
    bpf_program prog{};
    compile(expression, linktype, snaplen, prog);
    std::vector<sock_filter> out = to_sock_filter(prog);
    pcap_freecode(&prog);
    return out;
}

PcapFilter::PcapFilter(std::string_view expression, int linktype, int snaplen)
    : compiled_(std::make_unique<Compiled>()) {
    compile(expression, linktype, snaplen, compiled_->prog);
    insns_ = to_sock_filter(compiled_->prog);
}

PcapFilter::~PcapFilter() = default;

bool PcapFilter::matches(std::span<const uint8_t> packet) const {
    pcap_pkthdr hdr{};
    hdr.caplen = hdr.len = static_cast<bpf_u_int32>(packet.size());
    return pcap_offline_filter(&compiled_->prog, &hdr, packet.data()) != 0;
}

}  // namespace hookdump::bpf
