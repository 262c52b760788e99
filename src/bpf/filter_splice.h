// The translated pcap filter put in place of the tc/XDP programs' filter stub while their
// skeleton loads. Apart from the skeleton (pkt_loader.cpp) because it works on libbpf's view of
// any SEC("tc")/SEC("xdp") program's instructions, not on hookdump_pkt's maps and rodata.
#pragma once

#include <linux/bpf.h>
#include <linux/filter.h>

#include <functional>
#include <string>
#include <vector>

namespace hookdump::bpf {

// The expression's cBPF translated for both hooks (translate_cbpf: throws on what it cannot
// translate); an empty expression leaves the stub, which accepts everything.
class FilterSplice {
  public:
    explicit FilterSplice(const std::vector<sock_filter>& cbpf);
    FilterSplice(const FilterSplice&) = delete;
    FilterSplice& operator=(const FilterSplice&) = delete;

    // Runs load (a skeleton's __load) with the splice in place for this thread's loads and
    // returns what it returned. Programs loaded outside it are left as they are.
    int during(const std::function<int()>& load);
    // Why the splice failed (the load then fails with EINVAL); empty when it did not.
    const std::string& error() const { return error_; }
    // What takes the stub's place in the XDP or the tc programs; empty: the stub stays.
    const std::vector<bpf_insn>& insns(bool xdp) const { return xdp ? xdp_ : tc_; }

  private:
    std::vector<bpf_insn> tc_, xdp_;  // empty: keep the stub (accept everything)
    std::string error_;
};

}  // namespace hookdump::bpf
