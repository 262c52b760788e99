// pcap-filter expressions in the eBPF engines: libpcap compiles the expression to classic BPF
// (cBPF), translate_cbpf() turns that into an eBPF function returning 1 (accept) or 0, which
// takes the place of the tc/XDP programs' filter stub (src/bpf/filter_splice.cpp), so the same
// expression selects the same packets on every engine.
#pragma once

#include <linux/bpf.h>
#include <linux/filter.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/pcap_filter.h"
#include "util/fd.h"

namespace hookdump::bpf {

enum class FilterHook { Tc, Xdp };

struct FilterSpec {
    FilterHook hook;  // Tc: packet bytes read in place in the skb's linear data, through
                      // bpf_skb_load_bytes beyond it (paged skbs); Xdp: direct packet access
                      // with bounds checks against data_end.
};

// cBPF (as pcap_compile produces it, struct sock_filter) -> eBPF instructions (struct bpf_insn)
// of a function of the hook's context: returns 1 on accept (RET k != 0), 0 on reject. It
// never changes a packet (the program it is part of decides its fate). Throws UsageError
// naming what cannot be translated (e.g. Linux ancillary loads SKF_AD_*, negative offsets),
// one clear line.
//
// Semantics are those of libpcap's interpreter (pcap_offline_filter): a load beyond the packet
// rejects, division by zero rejects, shifts by 32 or more give 0, scratch memory starts zeroed.
// LD LEN is skb->len at tc, data_end - data at XDP.
std::vector<bpf_insn> translate_cbpf(std::span<const sock_filter> prog, const FilterSpec& spec);

// Loads the translated program on its own (BPF_PROG_TYPE_SCHED_CLS or BPF_PROG_TYPE_XDP, GPL;
// BPF_PROG_TEST_RUN gives its verdict as the return value) and returns an owning fd;
// RuntimeError with the verifier log's last lines on failure.
Fd load_filter(std::span<const sock_filter> prog, const FilterSpec& spec, std::string_view name);

// Loads any eBPF program for the hook (SCHED_CLS or XDP, GPL); errors as load_filter's.
Fd load_program(std::span<const bpf_insn> insns, FilterHook hook, std::string_view name);

// One line per instruction, in the verifier's notation ("if w7 != 0x800 goto +12"); the
// second half of a 64-bit immediate load gets its own (empty-looking) line so that indexes
// stay those of the instructions.
std::vector<std::string> disassemble(std::span<const bpf_insn> insns);

}  // namespace hookdump::bpf
