// Test runs of tc programs on a packet whose outermost VLAN tag is in the skb's metadata, as
// the kernel hands packets to tc ingress (and often egress): BPF_PROG_TEST_RUN cannot set
// vlan_present/vlan_tci through the context, so a small wrapper program moves the tag there
// with bpf_skb_vlan_push() (which, on an untagged skb, only sets the metadata) and tail-calls
// the program under test. The tag travels in __sk_buff.mark, which a test run can set.
#pragma once

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include <cerrno>
#include <cstdint>
#include <optional>
#include <vector>

#include "bpf/cbpf_translate.h"
#include "util/error.h"
#include "util/fd.h"

namespace hookdump::test {

// The frame without its outermost tag (bytes 12-15) and the tag, when it has one the kernel
// would move to metadata (802.1Q or 802.1ad) and is long enough to hold it.
struct Untagged {
    std::vector<uint8_t> frame;
    uint16_t tpid;
    uint16_t tci;
};
inline std::optional<Untagged> strip_outer_tag(const std::vector<uint8_t>& f) {
    if (f.size() < 18) return std::nullopt;
    const uint16_t tpid = static_cast<uint16_t>(f[12] << 8 | f[13]);
    if (tpid != 0x8100 && tpid != 0x88a8) return std::nullopt;
    Untagged u{{}, tpid, static_cast<uint16_t>(f[14] << 8 | f[15])};
    u.frame.assign(f.begin(), f.begin() + 12);
    u.frame.insert(u.frame.end(), f.begin() + 16, f.end());
    return u;
}

// Owns the wrapper and its program array; slot 0 holds the program under test.
class VlanPushRunner {
  public:
    VlanPushRunner() {
        const int map = bpf_map_create(BPF_MAP_TYPE_PROG_ARRAY, "hd_vlan_test", 4, 4, 1, nullptr);
        if (map < 0) throw RuntimeError(errno_message("creating a prog array", errno));
        array_.reset(map);
        // r6 = ctx; r2 = be16(mark >> 16); r3 = mark & 0xffff; bpf_skb_vlan_push(ctx, r2, r3);
        // bpf_tail_call(ctx, array, 0); return TC_ACT_UNSPEC
        const bpf_insn insns[] = {
            {BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_6, BPF_REG_1, 0, 0},
            {BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_6,
             static_cast<__s16>(offsetof(__sk_buff, mark)), 0},
            {BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_3, BPF_REG_2, 0, 0},
            {BPF_ALU | BPF_RSH | BPF_K, BPF_REG_2, 0, 0, 16},
            {BPF_ALU | BPF_END | BPF_TO_BE, BPF_REG_2, 0, 0, 16},
            {BPF_ALU | BPF_AND | BPF_K, BPF_REG_3, 0, 0, 0xffff},
            {BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_6, 0, 0},
            {BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_skb_vlan_push},
            {BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_6, 0, 0},
            {BPF_LD | BPF_DW | BPF_IMM, BPF_REG_2, BPF_PSEUDO_MAP_FD, 0, map},
            {0, 0, 0, 0, 0},
            {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_3, 0, 0, 0},
            {BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_tail_call},
            {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, TC_ACT_UNSPEC},
            {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
        };
        prog_ = bpf::load_program(insns, bpf::FilterHook::Tc, "hd_vlan_push");
    }

    // The program the wrapper tail-calls.
    void set_target(int prog_fd) {
        const uint32_t slot = 0;
        if (bpf_map_update_elem(array_.get(), &slot, &prog_fd, BPF_ANY) != 0)
            throw RuntimeError(errno_message("prog array update", errno));
    }

    // Runs the target on `frame` with the tag in metadata; returns the verdict, or nothing
    // (errno set) when the kernel refused the test run.
    std::optional<uint32_t> run(const std::vector<uint8_t>& frame, uint16_t tpid,
                                uint16_t tci) const {
        __sk_buff ctx{};
        ctx.mark = static_cast<uint32_t>(tpid) << 16 | tci;
        LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame.data(),
                    .data_size_in = static_cast<__u32>(frame.size()), .ctx_in = &ctx,
                    .ctx_size_in = sizeof ctx, .repeat = 1);
        if (bpf_prog_test_run_opts(prog_.get(), &o) != 0) return std::nullopt;
        return o.retval;
    }

  private:
    Fd array_;
    Fd prog_;
};

}  // namespace hookdump::test
