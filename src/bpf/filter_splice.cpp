// The filter in the programs. libbpf calls a section handler's prepare callback with a
// program's final instructions (subprograms appended, in the order of their calls); the filter
// stub, the last of them, gives way to the translated expression there. The program then calls
// the filter as a bpf-to-bpf function: ~90 ns a packet less than the tail calls it replaced
// (entry -> filter program -> record program), and unlike freplace, which does the same in the
// kernel, it needs no tracing programs (refused by some kernels: this host's).
#include "bpf/filter_splice.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <utility>

#include "bpf/cbpf_translate.h"
#include "hookdump_pkt.h"
#include "util/error.h"

namespace hookdump::bpf {

namespace {

struct Active {
    const FilterSplice* splice;
    std::string error;
};
thread_local Active* t_active = nullptr;  // during FilterSplice::during only

bool is_magic(const bpf_insn& in) {
    const uint8_t cls = BPF_CLASS(in.code);
    return in.imm == HD_FILTER_STUB_MAGIC &&
           ((cls == BPF_ALU64 || cls == BPF_ALU || cls == BPF_ST) &&
            (cls == BPF_ST || BPF_OP(in.code) == BPF_MOV));
}

std::string splice_filter(bpf_program* prog, bpf_prog_load_opts* opts,
                          const std::vector<bpf_insn>& filter) {
    const bpf_insn* insns = bpf_program__insns(prog);
    const size_t n = bpf_program__insn_cnt(prog);
    // The stub: the function a bpf-to-bpf call enters that holds the magic number.
    size_t start = n;
    for (size_t i = 0; i < n; ++i) {
        if (insns[i].code != (BPF_JMP | BPF_CALL) || insns[i].src_reg != BPF_PSEUDO_CALL) continue;
        const int64_t t = static_cast<int64_t>(i) + insns[i].imm + 1;
        if (t <= 0 || t >= static_cast<int64_t>(n)) continue;
        for (size_t j = static_cast<size_t>(t); j < n && insns[j].code != (BPF_JMP | BPF_EXIT); ++j)
            if (is_magic(insns[j])) start = static_cast<size_t>(t);
    }
    if (start == n) return "the filter stub is not in the program";
    for (size_t j = start; j + 1 < n; ++j)
        if (insns[j].code == (BPF_JMP | BPF_EXIT))
            return "the filter stub is not the program's last function";
    std::vector<bpf_insn> out(insns, insns + start);
    out.insert(out.end(), filter.begin(), filter.end());
    if (const int err = bpf_program__set_insns(prog, out.data(), out.size()); err)
        return errno_message("replacing the filter stub", -err);
    // Line info for the stub's instructions past the translation's end would be refused.
    if (opts->line_info && opts->line_info_rec_size >= sizeof(uint32_t)) {
        const auto* base = static_cast<const uint8_t*>(opts->line_info);
        uint32_t keep = 0;
        for (; keep < opts->line_info_cnt; ++keep) {
            uint32_t off = 0;
            std::memcpy(&off, base + size_t{keep} * opts->line_info_rec_size, sizeof(off));
            if (off >= out.size()) break;
        }
        opts->line_info_cnt = keep;
    }
    return {};
}

int prepare_load(bpf_program* prog, bpf_prog_load_opts* opts, long cookie) {
    if (!t_active) return 0;  // another object's "tc"/"xdp" program: left as it is
    const std::vector<bpf_insn>& filter = t_active->splice->insns(cookie != 0);
    if (filter.empty()) return 0;
    t_active->error = splice_filter(prog, opts, filter);
    return t_active->error.empty() ? 0 : -EINVAL;
}

// Once a process: our handlers take SEC("tc") and SEC("xdp") before libbpf's own.
void register_handlers() {
    static std::once_flag once;
    std::call_once(once, [] {
        LIBBPF_OPTS(libbpf_prog_handler_opts, tc, .cookie = 0,
                    .prog_prepare_load_fn = prepare_load);
        LIBBPF_OPTS(libbpf_prog_handler_opts, xdp, .cookie = 1,
                    .prog_prepare_load_fn = prepare_load);
        if (libbpf_register_prog_handler("tc", BPF_PROG_TYPE_SCHED_CLS, bpf_attach_type{}, &tc) <
                0 ||
            libbpf_register_prog_handler("xdp", BPF_PROG_TYPE_XDP, BPF_XDP, &xdp) < 0)
            throw RuntimeError("registering the tc/XDP section handlers with libbpf failed");
    });
}

}  // namespace

FilterSplice::FilterSplice(const std::vector<sock_filter>& cbpf) {
    register_handlers();
    if (!cbpf.empty()) {
        tc_ = translate_cbpf(cbpf, FilterSpec{FilterHook::Tc});
        xdp_ = translate_cbpf(cbpf, FilterSpec{FilterHook::Xdp});
    }
}

int FilterSplice::during(const std::function<int()>& load) {
    Active active{this, {}};
    t_active = &active;
    const int err = load();
    t_active = nullptr;
    error_ = std::move(active.error);
    return err;
}

}  // namespace hookdump::bpf
