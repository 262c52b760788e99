// cBPF -> eBPF, in the manner of the kernel's bpf_convert_filter() and cloudflare's cbpfc:
// A and X live in callee-saved registers as zero-extended 32-bit values, the scratch memory
// M[] on the stack, every cBPF RET becomes a jump to one of two exits (accept: return 1;
// reject: return 0). Unlike the kernel's converter the result goes through the
// verifier, so packet loads are bounds-checked explicitly and no unreachable code is emitted.
#include "bpf/cbpf_translate.h"

#include <bpf/bpf.h>
#include <linux/pkt_cls.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "util/error.h"

namespace hookdump::bpf {

namespace {

// Register use. r1-r5 are scratch (clobbered by helper calls).
constexpr uint8_t kCtx = BPF_REG_6;
constexpr uint8_t kA = BPF_REG_7;
constexpr uint8_t kX = BPF_REG_8;
constexpr uint8_t kData = BPF_REG_9;     // Xdp: ctx->data
constexpr uint8_t kDataEnd = BPF_REG_5;  // Xdp: ctx->data_end (no helper call clobbers it)
constexpr uint8_t kVlan = BPF_REG_9;     // Tc: skb->vlan_present

constexpr uint32_t kMemWords = 16;          // BPF_MEMWORDS
constexpr int16_t kMemBase = -4 * 16;       // M[i] at fp - 64 + 4 * i
constexpr int16_t kLoadBuf = kMemBase - 8;  // bpf_skb_load_bytes() destination
// Tc, with a VLAN tag in the skb's metadata: the frame as it was on the wire starts with the
// MACs (skb bytes 0-11), the tag, then skb bytes 12.. . Its first 20 bytes are copied here.
constexpr int16_t kWireHead = kLoadBuf - 24;
constexpr uint32_t kWireHeadLen = 20;
constexpr uint32_t kMacsLen = 12;
constexpr uint32_t kTagLen = 4;
constexpr int16_t wire_head(uint32_t at) {
    return static_cast<int16_t>(kWireHead + static_cast<int16_t>(at));
}
constexpr uint32_t kMaxPacketOff = 0xffff;      // the verifier's MAX_PACKET_OFF
constexpr uint32_t kMaxHelperOff = 0x7fffffff;  // bpf_skb_load_bytes() refuses more

bpf_insn make(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    bpf_insn i{};
    i.code = code;
    i.dst_reg = dst & 0xf;
    i.src_reg = src & 0xf;
    i.off = off;
    i.imm = imm;
    return i;
}

// Where a jump goes: a cBPF instruction, or one of the two exits.
struct Target {
    enum Kind : uint8_t { Insn, Accept, Reject } kind;
    uint32_t index = 0;  // for Insn
    bool operator==(const Target&) const = default;
};

const char* ancillary_name(uint32_t k) {
    switch (k) {
        case SKF_AD_PROTOCOL:
            return "SKF_AD_PROTOCOL";
        case SKF_AD_PKTTYPE:
            return "SKF_AD_PKTTYPE";
        case SKF_AD_IFINDEX:
            return "SKF_AD_IFINDEX";
        case SKF_AD_NLATTR:
            return "SKF_AD_NLATTR";
        case SKF_AD_NLATTR_NEST:
            return "SKF_AD_NLATTR_NEST";
        case SKF_AD_MARK:
            return "SKF_AD_MARK";
        case SKF_AD_QUEUE:
            return "SKF_AD_QUEUE";
        case SKF_AD_HATYPE:
            return "SKF_AD_HATYPE";
        case SKF_AD_RXHASH:
            return "SKF_AD_RXHASH";
        case SKF_AD_CPU:
            return "SKF_AD_CPU";
        case SKF_AD_ALU_XOR_X:
            return "SKF_AD_ALU_XOR_X";
        case SKF_AD_VLAN_TAG:
            return "SKF_AD_VLAN_TAG";
        case SKF_AD_VLAN_TAG_PRESENT:
            return "SKF_AD_VLAN_TAG_PRESENT";
        case SKF_AD_PAY_OFFSET:
            return "SKF_AD_PAY_OFFSET";
        case SKF_AD_RANDOM:
            return "SKF_AD_RANDOM";
        case SKF_AD_VLAN_TPID:
            return "SKF_AD_VLAN_TPID";
        default:
            return nullptr;
    }
}

class Translator {
  public:
    Translator(std::span<const sock_filter> prog, const FilterSpec& spec)
        : prog_(prog), xdp_(spec.hook == FilterHook::Xdp) {}

    std::vector<bpf_insn> run() {
        if (prog_.empty()) throw UsageError("cannot translate an empty cBPF program");
        check_and_mark_reachable();
        prologue();
        start_.assign(prog_.size(), 0);
        for (uint32_t i = 0; i < prog_.size(); ++i) {
            if (!reachable_[i]) continue;
            start_[i] = static_cast<uint32_t>(out_.size());
            translate(i);
        }
        epilogue();
        resolve();
        return std::move(out_);
    }

  private:
    [[noreturn]] void refuse(uint32_t i, const std::string& why) const {
        throw UsageError(
            fmt::format("cannot translate the filter to eBPF: cBPF instruction {} "
                        "(code {:#x}, k {:#x}): {}",
                        i, prog_[i].code, prog_[i].k, why));
    }

    // Where jumping to cBPF instruction t really goes: a RET K is an exit.
    Target resolve_target(uint32_t t) const {
        const sock_filter& f = prog_[t];
        if (f.code == (BPF_RET | BPF_K)) return {f.k ? Target::Accept : Target::Reject};
        return {Target::Insn, t};
    }

    uint32_t jump_dest(uint32_t i, uint32_t rel) const {
        const uint64_t t = uint64_t{i} + 1 + rel;
        if (t >= prog_.size()) refuse(i, "jump beyond the end of the program");
        return static_cast<uint32_t>(t);
    }

    // Validates every instruction (so that what cannot be translated is refused with its
    // reason even where it is unreachable) and marks what is reachable: the verifier refuses
    // unreachable instructions. Jumps to a RET K go straight to an exit, so such a RET is
    // emitted only when something falls through into it.
    void check_and_mark_reachable() {
        for (uint32_t i = 0; i < prog_.size(); ++i) check(i);
        reachable_.assign(prog_.size(), false);
        reachable_[0] = true;
        for (uint32_t i = 0; i < prog_.size(); ++i) {
            if (!reachable_[i]) continue;
            const sock_filter& f = prog_[i];
            auto mark = [&](uint32_t t) {
                if (resolve_target(t).kind == Target::Insn) reachable_[t] = true;
            };
            switch (BPF_CLASS(f.code)) {
                case BPF_RET:
                    break;
                case BPF_JMP:
                    if (BPF_OP(f.code) == BPF_JA) {
                        mark(jump_dest(i, f.k));
                    } else {
                        mark(jump_dest(i, f.jt));
                        mark(jump_dest(i, f.jf));
                    }
                    break;
                default:
                    if (i + 1 >= prog_.size()) refuse(i, "the program ends without a return");
                    reachable_[i + 1] = true;
            }
        }
    }

    void check_offset(uint32_t i, uint32_t k) const {
        if (k < 0x80000000u) return;
        const int32_t off = static_cast<int32_t>(k);
        // Only absolute loads reach the kernel's ancillary data; a negative X + k does not.
        if (BPF_MODE(prog_[i].code) == BPF_ABS && off >= SKF_AD_OFF) {
            const char* name = ancillary_name(static_cast<uint32_t>(off - SKF_AD_OFF));
            refuse(i, fmt::format("Linux ancillary load {} (socket metadata, not packet bytes)",
                                  name ? name : fmt::format("SKF_AD_OFF+{}", off - SKF_AD_OFF)));
        }
        if (off >= SKF_NET_OFF && off < SKF_NET_OFF + 0x10000)
            refuse(i, "load relative to the network header (SKF_NET_OFF)");
        if (off >= SKF_LL_OFF && off < SKF_LL_OFF + 0x10000)
            refuse(i, "load relative to the link-layer header (SKF_LL_OFF)");
        refuse(i, fmt::format("negative packet offset {}", off));
    }

    void check(uint32_t i) const {
        const sock_filter& f = prog_[i];
        switch (f.code) {
            case BPF_LD | BPF_W | BPF_ABS:
            case BPF_LD | BPF_H | BPF_ABS:
            case BPF_LD | BPF_B | BPF_ABS:
            case BPF_LD | BPF_W | BPF_IND:
            case BPF_LD | BPF_H | BPF_IND:
            case BPF_LD | BPF_B | BPF_IND:
            case BPF_LDX | BPF_B | BPF_MSH:
                check_offset(i, f.k);
                return;
            case BPF_LD | BPF_MEM:
            case BPF_LDX | BPF_MEM:
            case BPF_ST:
            case BPF_STX:
                if (f.k >= kMemWords)
                    refuse(i, fmt::format("scratch memory M[{}] does not exist", f.k));
                return;
            case BPF_JMP | BPF_JA:
                if (static_cast<int32_t>(f.k) < 0)
                    refuse(i, "backward jump (a loop, as libpcap's 'protochain' emits)");
                jump_dest(i, f.k);
                return;
            case BPF_JMP | BPF_JEQ | BPF_K:
            case BPF_JMP | BPF_JGT | BPF_K:
            case BPF_JMP | BPF_JGE | BPF_K:
            case BPF_JMP | BPF_JSET | BPF_K:
            case BPF_JMP | BPF_JEQ | BPF_X:
            case BPF_JMP | BPF_JGT | BPF_X:
            case BPF_JMP | BPF_JGE | BPF_X:
            case BPF_JMP | BPF_JSET | BPF_X:
                jump_dest(i, f.jt);
                jump_dest(i, f.jf);
                return;
            case BPF_RET | BPF_K:
            case BPF_RET | BPF_A:
            case BPF_LD | BPF_W | BPF_LEN:
            case BPF_LDX | BPF_W | BPF_LEN:
            case BPF_LD | BPF_IMM:
            case BPF_LDX | BPF_IMM:
            case BPF_MISC | BPF_TAX:
            case BPF_MISC | BPF_TXA:
            case BPF_ALU | BPF_NEG:
                return;
            default:
                break;
        }
        if (BPF_CLASS(f.code) == BPF_ALU) {
            switch (BPF_OP(f.code)) {
                case BPF_ADD:
                case BPF_SUB:
                case BPF_MUL:
                case BPF_DIV:
                case BPF_MOD:
                case BPF_AND:
                case BPF_OR:
                case BPF_XOR:
                case BPF_LSH:
                case BPF_RSH:
                    return;
                default:
                    break;
            }
        }
        refuse(i, "unknown or unsupported cBPF opcode");
    }

    // --- emission -------------------------------------------------------------------------

    void emit(bpf_insn insn) { out_.push_back(insn); }
    void mov64_reg(uint8_t dst, uint8_t src) {
        emit(make(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0));
    }
    void mov64_imm(uint8_t dst, int32_t imm) {
        emit(make(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm));
    }
    void mov32_imm(uint8_t dst, uint32_t imm) {
        emit(make(BPF_ALU | BPF_MOV | BPF_K, dst, 0, 0, static_cast<int32_t>(imm)));
    }
    void alu64_imm(uint8_t op, uint8_t dst, int32_t imm) {
        emit(make(BPF_ALU64 | op | BPF_K, dst, 0, 0, imm));
    }
    void alu32_imm(uint8_t op, uint8_t dst, uint32_t imm) {
        emit(make(BPF_ALU | op | BPF_K, dst, 0, 0, static_cast<int32_t>(imm)));
    }
    void alu32_reg(uint8_t op, uint8_t dst, uint8_t src) {
        emit(make(BPF_ALU | op | BPF_X, dst, src, 0, 0));
    }

    // A jump whose offset resolve() fills in.
    void jump(uint8_t code, uint8_t dst, uint8_t src, int32_t imm, Target t) {
        fixups_.push_back({out_.size(), t});
        emit(make(code, dst, src, 0, imm));
    }
    void jump_to(Target t) { jump(BPF_JMP | BPF_JA, 0, 0, 0, t); }
    void reject_if(uint8_t code, uint8_t dst, uint8_t src, int32_t imm) {
        jump(code, dst, src, imm, {Target::Reject});
    }

    void prologue() {
        mov64_reg(kCtx, BPF_REG_1);
        if (xdp_) {
            emit(make(BPF_LDX | BPF_MEM | BPF_W, kData, kCtx, offsetof(xdp_md, data), 0));
            emit(make(BPF_LDX | BPF_MEM | BPF_W, kDataEnd, kCtx, offsetof(xdp_md, data_end), 0));
        }
        if (!xdp_) vlan_prologue();
        mov32_imm(kA, 0);
        mov32_imm(kX, 0);
        // libpcap's interpreter zeroes M[]; the verifier refuses reads of unwritten stack.
        std::vector<bool> used(kMemWords, false);
        for (uint32_t i = 0; i < prog_.size(); ++i) {
            const uint16_t c = prog_[i].code;
            if (reachable_[i] && (c == (BPF_LD | BPF_MEM) || c == (BPF_LDX | BPF_MEM)))
                used[prog_[i].k] = true;
        }
        for (uint32_t m = 0; m < kMemWords; ++m)
            if (used[m]) emit(make(BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, mem_off(m), 0));
    }

    static int16_t mem_off(uint32_t m) { return static_cast<int16_t>(kMemBase + 4 * m); }

    // A forward jump within the code being emitted; land() points it at what comes next.
    size_t local_jump(uint8_t code, uint8_t dst, uint8_t src, int32_t imm) {
        emit(make(code, dst, src, 0, imm));
        return out_.size() - 1;
    }
    void land(size_t at) { out_[at].off = static_cast<int16_t>(out_.size() - at - 1); }

    void skb_load_bytes(int32_t off, int16_t to, int32_t len) {
        mov64_reg(BPF_REG_1, kCtx);
        mov64_imm(BPF_REG_2, off);
        mov64_reg(BPF_REG_3, BPF_REG_10);
        alu64_imm(BPF_ADD, BPF_REG_3, to);
        mov64_imm(BPF_REG_4, len);
        emit(make(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_skb_load_bytes));
    }

    // At tc the kernel has taken the outermost VLAN tag out of the frame (always at ingress,
    // often at egress) and keeps it in the skb. libpcap's code reads the frame as it was on
    // the wire (`vlan` checks bytes 12-13, then everything is 4 bytes further): when a tag is
    // there, loads below byte 20 read a copy of the wire's first 20 bytes on the stack, loads
    // beyond read the skb 4 bytes earlier, and the length is 4 more. The skb is not touched.
    void vlan_prologue() {
        // Only what the program needs: the flag for any packet or length load, the copy for
        // loads that may read below byte 20 of the wire.
        bool flag = false, copy = false;
        for (uint32_t i = 0; i < prog_.size(); ++i) {
            if (!reachable_[i]) continue;
            const sock_filter& f = prog_[i];
            const uint16_t cls = BPF_CLASS(f.code), mode = BPF_MODE(f.code);
            if (cls != BPF_LD && cls != BPF_LDX) continue;
            const uint32_t size = BPF_SIZE(f.code) == BPF_W ? 4 : BPF_SIZE(f.code) == BPF_H ? 2 : 1;
            if (mode == BPF_LEN) {
                flag = true;
            } else if (mode == BPF_IND) {
                flag = copy = true;
            } else if (mode == BPF_ABS || mode == BPF_MSH) {
                flag = true;
                copy |= uint64_t{f.k} + size > kMacsLen && f.k < kMacsLen + kTagLen;
            }
        }
        if (!flag) return;
        emit(make(BPF_LDX | BPF_MEM | BPF_W, kVlan, kCtx, offsetof(__sk_buff, vlan_present), 0));
        if (!copy) return;
        const size_t skip = local_jump(BPF_JMP32 | BPF_JEQ | BPF_K, kVlan, 0, 0);
        // Zeroed first (the verifier wants the copy initialised; a short frame leaves a gap
        // at the end), and the length check of each load guards what is past the frame.
        emit(make(BPF_ST | BPF_MEM | BPF_DW, BPF_REG_10, 0, kWireHead, 0));
        emit(make(BPF_ST | BPF_MEM | BPF_DW, BPF_REG_10, 0, wire_head(8), 0));
        emit(make(BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, wire_head(16), 0));
        skb_load_bytes(0, kWireHead, kMacsLen);
        emit(make(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, kCtx, offsetof(__sk_buff, vlan_proto), 0));
        emit(make(BPF_STX | BPF_MEM | BPF_H, BPF_REG_10, BPF_REG_2, wire_head(kMacsLen), 0));
        emit(make(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, kCtx, offsetof(__sk_buff, vlan_tci), 0));
        emit(make(BPF_ALU | BPF_END | BPF_TO_BE, BPF_REG_2, 0, 0, 16));
        emit(make(BPF_STX | BPF_MEM | BPF_H, BPF_REG_10, BPF_REG_2, wire_head(kMacsLen + 2), 0));
        // skb bytes 12..min(len, 16): the helper takes a length the verifier can bound.
        emit(make(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_4, kCtx, offsetof(__sk_buff, len), 0));
        alu64_imm(BPF_SUB, BPF_REG_4, kMacsLen);
        const size_t short_frame = local_jump(BPF_JMP | BPF_JSLT | BPF_K, BPF_REG_4, 0, 1);
        emit(make(BPF_JMP | BPF_JLE | BPF_K, BPF_REG_4, 0, 1,
                  static_cast<int32_t>(kWireHeadLen - kMacsLen - kTagLen)));
        mov64_imm(BPF_REG_4, static_cast<int32_t>(kWireHeadLen - kMacsLen - kTagLen));
        mov64_reg(BPF_REG_1, kCtx);
        mov64_imm(BPF_REG_2, kMacsLen);
        mov64_reg(BPF_REG_3, BPF_REG_10);
        alu64_imm(BPF_ADD, BPF_REG_3, wire_head(kMacsLen + kTagLen));
        emit(make(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_skb_load_bytes));
        land(short_frame);
        land(skip);
    }

    // With a tag: reject unless the wire's bytes [r2, r2 + size) exist, then read them from the
    // stack copy, byte by byte (the stack allows no misaligned load), as a big-endian value:
    // no byte swap follows. r2 is at most kWireHeadLen - size (checked by the caller), or the
    // offset is the constant k.
    void load_wire_head(uint8_t dst, uint32_t size, bool variable, uint32_t k) {
        emit(make(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_3, kCtx, offsetof(__sk_buff, len), 0));
        alu64_imm(BPF_ADD, BPF_REG_3, static_cast<int32_t>(kTagLen));
        uint8_t base = BPF_REG_10;
        int16_t off = wire_head(k);
        if (variable) {
            mov64_reg(BPF_REG_4, BPF_REG_2);
            alu64_imm(BPF_ADD, BPF_REG_4, static_cast<int32_t>(size));
            reject_if(BPF_JMP | BPF_JGT | BPF_X, BPF_REG_4, BPF_REG_3, 0);
            mov64_reg(BPF_REG_4, BPF_REG_10);
            alu64_imm(BPF_ADD, BPF_REG_4, kWireHead);
            emit(make(BPF_ALU64 | BPF_ADD | BPF_X, BPF_REG_4, BPF_REG_2, 0, 0));
            base = BPF_REG_4;
            off = 0;
        } else {
            reject_if(BPF_JMP | BPF_JLT | BPF_K, BPF_REG_3, 0, static_cast<int32_t>(k + size));
        }
        for (uint32_t j = 0; j < size; ++j) {
            const int16_t at = static_cast<int16_t>(off + static_cast<int16_t>(j));
            if (j == 0) {
                emit(make(BPF_LDX | BPF_MEM | BPF_B, dst, base, at, 0));
                continue;
            }
            emit(make(BPF_LDX | BPF_MEM | BPF_B, BPF_REG_3, base, at, 0));
            alu32_imm(BPF_LSH, dst, 8);
            alu32_reg(BPF_OR, dst, BPF_REG_3);
        }
    }

    // dst = packet[offset .. offset+size) big-endian; out of bounds rejects. The offset is the
    // constant k (variable = false) or X + k (variable = true).
    void load_packet(uint8_t dst, uint32_t size, uint32_t k, bool variable) {
        const uint8_t sz = size == 4 ? BPF_W : size == 2 ? BPF_H : BPF_B;
        if (xdp_) {
            const uint32_t limit = kMaxPacketOff - size;
            if (!variable && k + size <= 0x7fff) {
                mov64_reg(BPF_REG_2, kData);
                alu64_imm(BPF_ADD, BPF_REG_2, static_cast<int32_t>(k + size));
                reject_if(BPF_JMP | BPF_JGT | BPF_X, BPF_REG_2, kDataEnd, 0);
                emit(make(BPF_LDX | BPF_MEM | sz, dst, kData, static_cast<int16_t>(k), 0));
            } else {
                // XDP's linear data is far shorter than 64 KiB: a larger offset is out of
                // bounds, and the bound lets the verifier accept the variable pointer.
                if (variable) {
                    mov64_reg(BPF_REG_2, kX);
                    alu64_imm(BPF_ADD, BPF_REG_2, static_cast<int32_t>(k));
                } else {
                    mov64_imm(BPF_REG_2, static_cast<int32_t>(k));
                }
                reject_if(BPF_JMP | BPF_JGT | BPF_K, BPF_REG_2, 0, static_cast<int32_t>(limit));
                mov64_reg(BPF_REG_3, kData);
                emit(make(BPF_ALU64 | BPF_ADD | BPF_X, BPF_REG_3, BPF_REG_2, 0, 0));
                mov64_reg(BPF_REG_4, BPF_REG_3);
                alu64_imm(BPF_ADD, BPF_REG_4, static_cast<int32_t>(size));
                reject_if(BPF_JMP | BPF_JGT | BPF_X, BPF_REG_4, kDataEnd, 0);
                emit(make(BPF_LDX | BPF_MEM | sz, dst, BPF_REG_3, 0, 0));
            }
        } else {
            // Where a VLAN tag in the skb's metadata changes where the bytes are (see
            // vlan_prologue): `done` jumps over the skb load when they came from the stack.
            size_t done = SIZE_MAX;
            if (variable) {
                // 64-bit sum: X + k never wraps around (libpcap rejects, it does not wrap).
                mov64_reg(BPF_REG_2, kX);
                alu64_imm(BPF_ADD, BPF_REG_2, static_cast<int32_t>(k));
                reject_if(BPF_JMP | BPF_JGT | BPF_K, BPF_REG_2, 0,
                          static_cast<int32_t>(kMaxHelperOff));
                const size_t untagged = local_jump(BPF_JMP32 | BPF_JEQ | BPF_K, kVlan, 0, 0);
                const size_t beyond = local_jump(BPF_JMP | BPF_JGT | BPF_K, BPF_REG_2, 0,
                                                 static_cast<int32_t>(kWireHeadLen - size));
                load_wire_head(dst, size, true, 0);
                done = local_jump(BPF_JMP | BPF_JA, 0, 0, 0);
                land(beyond);
                alu64_imm(BPF_SUB, BPF_REG_2, static_cast<int32_t>(kTagLen));
                land(untagged);
            } else if (uint64_t{k} + size <= kMacsLen) {
                mov64_imm(BPF_REG_2, static_cast<int32_t>(k));  // the same with or without
            } else if (uint64_t{k} + size <= kWireHeadLen && k < kMacsLen + kTagLen) {
                const size_t untagged = local_jump(BPF_JMP32 | BPF_JEQ | BPF_K, kVlan, 0, 0);
                load_wire_head(dst, size, false, k);
                done = local_jump(BPF_JMP | BPF_JA, 0, 0, 0);
                land(untagged);
                mov64_imm(BPF_REG_2, static_cast<int32_t>(k));
            } else {
                mov64_imm(BPF_REG_2, static_cast<int32_t>(k));
                emit(make(BPF_JMP32 | BPF_JEQ | BPF_K, kVlan, 0, 1, 0));
                alu64_imm(BPF_SUB, BPF_REG_2, static_cast<int32_t>(kTagLen));
            }
            // r2 is the offset in the skb. The bytes in its linear data (nearly always): read
            // in place; else through the helper (paged data; a helper call and a copy cost
            // more than the rest of a short filter).
            const size_t paged = local_jump(BPF_JMP | BPF_JGT | BPF_K, BPF_REG_2, 0,
                                            static_cast<int32_t>(kMaxPacketOff - size));
            emit(make(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_3, kCtx, offsetof(__sk_buff, data), 0));
            emit(
                make(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_4, kCtx, offsetof(__sk_buff, data_end), 0));
            emit(make(BPF_ALU64 | BPF_ADD | BPF_X, BPF_REG_3, BPF_REG_2, 0, 0));
            mov64_reg(BPF_REG_5, BPF_REG_3);
            alu64_imm(BPF_ADD, BPF_REG_5, static_cast<int32_t>(size));
            const size_t outside = local_jump(BPF_JMP | BPF_JGT | BPF_X, BPF_REG_5, BPF_REG_4, 0);
            emit(make(BPF_LDX | BPF_MEM | sz, dst, BPF_REG_3, 0, 0));
            const size_t loaded = local_jump(BPF_JMP | BPF_JA, 0, 0, 0);
            land(paged);
            land(outside);
            mov64_reg(BPF_REG_1, kCtx);
            mov64_reg(BPF_REG_3, BPF_REG_10);
            alu64_imm(BPF_ADD, BPF_REG_3, kLoadBuf);
            mov64_imm(BPF_REG_4, static_cast<int32_t>(size));
            emit(make(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_skb_load_bytes));
            reject_if(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_0, 0, 0);
            emit(make(BPF_LDX | BPF_MEM | sz, dst, BPF_REG_10, kLoadBuf, 0));
            land(loaded);
            if (size > 1)
                emit(
                    make(BPF_ALU | BPF_END | BPF_TO_BE, dst, 0, 0, static_cast<int32_t>(size * 8)));
            if (done != SIZE_MAX) land(done);
            return;
        }
        if (size > 1)
            emit(make(BPF_ALU | BPF_END | BPF_TO_BE, dst, 0, 0, static_cast<int32_t>(size * 8)));
    }

    void load_len(uint8_t dst) {
        if (xdp_) {
            mov64_reg(dst, kDataEnd);
            emit(make(BPF_ALU64 | BPF_SUB | BPF_X, dst, kData, 0, 0));
            emit(make(BPF_ALU | BPF_MOV | BPF_X, dst, dst, 0, 0));  // a scalar, zero-extended
        } else {
            emit(make(BPF_LDX | BPF_MEM | BPF_W, dst, kCtx, offsetof(__sk_buff, len), 0));
            emit(make(BPF_JMP32 | BPF_JEQ | BPF_K, kVlan, 0, 1, 0));
            alu32_imm(BPF_ADD, dst, kTagLen);
        }
    }

    // A conditional cBPF jump: "if cond goto jt else goto jf", omitting a jump to the next
    // instruction.
    void cond_jump(uint32_t i) {
        const sock_filter& f = prog_[i];
        const Target t = resolve_target(jump_dest(i, f.jt));
        const Target e = resolve_target(jump_dest(i, f.jf));
        const Target next{Target::Insn, i + 1};
        const bool x = BPF_SRC(f.code) == BPF_X;
        const uint8_t src = x ? kX : 0;
        const int32_t imm = x ? 0 : static_cast<int32_t>(f.k);
        const uint8_t op = BPF_OP(f.code);
        auto code = [&](uint8_t o) -> uint8_t { return BPF_JMP32 | o | (x ? BPF_X : BPF_K); };
        if (t == e) {
            if (!(t == next)) jump_to(t);
        } else if (e == next) {
            jump(code(op), kA, src, imm, t);
        } else if (t == next) {
            uint8_t inverse = 0;
            switch (op) {
                case BPF_JEQ:
                    inverse = BPF_JNE;
                    break;
                case BPF_JGT:
                    inverse = BPF_JLE;
                    break;
                case BPF_JGE:
                    inverse = BPF_JLT;
                    break;
                default:
                    break;  // JSET has no inverse
            }
            if (inverse) {
                jump(code(inverse), kA, src, imm, e);
            } else {
                emit(make(code(op), kA, src, 1, imm));  // over the jump to jf
                jump_to(e);
            }
        } else {
            jump(code(op), kA, src, imm, t);
            jump_to(e);
        }
    }

    void shift(uint8_t op, const sock_filter& f) {
        if (BPF_SRC(f.code) == BPF_K) {
            if (f.k < 32)
                alu32_imm(op, kA, f.k);
            else
                mov32_imm(kA, 0);
            return;
        }
        // libpcap: a shift by X >= 32 gives 0 (eBPF would shift by X & 31).
        emit(make(BPF_JMP32 | BPF_JGT | BPF_K, kX, 0, 2, 31));
        alu32_reg(op, kA, kX);
        emit(make(BPF_JMP | BPF_JA, 0, 0, 1, 0));
        mov32_imm(kA, 0);
    }

    void translate(uint32_t i) {
        const sock_filter& f = prog_[i];
        switch (BPF_CLASS(f.code)) {
            case BPF_RET:
                if (BPF_RVAL(f.code) == BPF_K) {
                    jump_to({f.k ? Target::Accept : Target::Reject});
                } else {  // RET A
                    jump(BPF_JMP32 | BPF_JNE | BPF_K, kA, 0, 0, {Target::Accept});
                    jump_to({Target::Reject});
                }
                return;
            case BPF_LD:
            case BPF_LDX: {
                const uint8_t dst = BPF_CLASS(f.code) == BPF_LD ? kA : kX;
                switch (BPF_MODE(f.code)) {
                    case BPF_IMM:
                        mov32_imm(dst, f.k);
                        return;
                    case BPF_MEM:
                        emit(make(BPF_LDX | BPF_MEM | BPF_W, dst, BPF_REG_10, mem_off(f.k), 0));
                        return;
                    case BPF_LEN:
                        load_len(dst);
                        return;
                    case BPF_ABS:
                    case BPF_IND: {
                        const uint32_t size = BPF_SIZE(f.code) == BPF_W   ? 4
                                              : BPF_SIZE(f.code) == BPF_H ? 2
                                                                          : 1;
                        load_packet(dst, size, f.k, BPF_MODE(f.code) == BPF_IND);
                        return;
                    }
                    case BPF_MSH:  // X = 4 * (P[k] & 0xf)
                        load_packet(kX, 1, f.k, false);
                        alu32_imm(BPF_AND, kX, 0xf);
                        alu32_imm(BPF_LSH, kX, 2);
                        return;
                }
                break;
            }
            case BPF_ST:
            case BPF_STX:
                emit(make(BPF_STX | BPF_MEM | BPF_W, BPF_REG_10,
                          BPF_CLASS(f.code) == BPF_ST ? kA : kX, mem_off(f.k), 0));
                return;
            case BPF_MISC:
                if (BPF_MISCOP(f.code) == BPF_TAX)
                    emit(make(BPF_ALU | BPF_MOV | BPF_X, kX, kA, 0, 0));
                else
                    emit(make(BPF_ALU | BPF_MOV | BPF_X, kA, kX, 0, 0));
                return;
            case BPF_JMP:
                if (BPF_OP(f.code) == BPF_JA) {
                    const Target t = resolve_target(jump_dest(i, f.k));
                    if (!(t == Target{Target::Insn, i + 1})) jump_to(t);
                } else {
                    cond_jump(i);
                }
                return;
            case BPF_ALU: {
                const uint8_t op = BPF_OP(f.code);
                if (op == BPF_NEG) {
                    emit(make(BPF_ALU | BPF_NEG, kA, 0, 0, 0));
                } else if (op == BPF_LSH || op == BPF_RSH) {
                    shift(op, f);
                } else if (BPF_SRC(f.code) == BPF_X) {
                    if (op == BPF_DIV || op == BPF_MOD)  // eBPF gives 0 or A; cBPF rejects
                        reject_if(BPF_JMP32 | BPF_JEQ | BPF_K, kX, 0, 0);
                    alu32_reg(op, kA, kX);
                } else if ((op == BPF_DIV || op == BPF_MOD) && f.k == 0) {
                    jump_to({Target::Reject});
                } else {
                    alu32_imm(op, kA, f.k);
                }
                return;
            }
        }
        refuse(i, "unknown or unsupported cBPF opcode");
    }

    void epilogue() {
        // Only the exits something jumps to: the verifier refuses unreachable instructions.
        bool accept_used = false, reject_used = false;
        for (const Fixup& fx : fixups_) {
            accept_used |= fx.target.kind == Target::Accept;
            reject_used |= fx.target.kind == Target::Reject;
        }
        if (accept_used) {
            accept_at_ = out_.size();
            mov64_imm(BPF_REG_0, 1);
            emit(make(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
        }
        if (reject_used || !accept_used) {
            reject_at_ = out_.size();
            mov64_imm(BPF_REG_0, 0);
            emit(make(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
        }
    }

    void resolve() {
        for (const Fixup& fx : fixups_) {
            size_t dest = 0;
            switch (fx.target.kind) {
                case Target::Insn:
                    dest = start_[fx.target.index];
                    break;
                case Target::Accept:
                    dest = accept_at_;
                    break;
                case Target::Reject:
                    dest = reject_at_;
                    break;
            }
            const int64_t off = static_cast<int64_t>(dest) - static_cast<int64_t>(fx.at) - 1;
            if (off > INT16_MAX || off < INT16_MIN)
                throw UsageError(fmt::format(
                    "cannot translate the filter to eBPF: the program is too large ({} cBPF "
                    "instructions give {} eBPF ones, beyond the reach of an eBPF jump)",
                    prog_.size(), out_.size()));
            out_[fx.at].off = static_cast<int16_t>(off);
        }
    }

    struct Fixup {
        size_t at;
        Target target;
    };

    std::span<const sock_filter> prog_;
    const bool xdp_;
    std::vector<bool> reachable_;
    std::vector<uint32_t> start_;
    std::vector<bpf_insn> out_;
    std::vector<Fixup> fixups_;
    size_t accept_at_ = 0;
    size_t reject_at_ = 0;
};

std::string last_lines(const std::string& log, size_t n) {
    std::vector<std::string> lines;
    size_t pos = 0;
    while (pos < log.size()) {
        size_t nl = log.find('\n', pos);
        if (nl == std::string::npos) nl = log.size();
        if (nl > pos) lines.push_back(log.substr(pos, nl - pos));
        pos = nl + 1;
    }
    std::string out;
    for (size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i) {
        if (!out.empty()) out += " | ";
        out += lines[i];
    }
    return out;
}

// Kernel program names: 15 characters of [A-Za-z0-9_.].
std::string prog_name(std::string_view name) {
    std::string out;
    for (char c : name) {
        if (out.size() == BPF_OBJ_NAME_LEN - 1) break;
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '.';
        out += ok ? c : '_';
    }
    return out;
}

std::string reg(uint8_t r, bool w) {
    return fmt::format("{}{}", w ? 'w' : 'r', r);
}

const char* alu_op(uint8_t op) {
    switch (op) {
        case BPF_ADD:
            return "+=";
        case BPF_SUB:
            return "-=";
        case BPF_MUL:
            return "*=";
        case BPF_DIV:
            return "/=";
        case BPF_MOD:
            return "%=";
        case BPF_OR:
            return "|=";
        case BPF_AND:
            return "&=";
        case BPF_XOR:
            return "^=";
        case BPF_LSH:
            return "<<=";
        case BPF_RSH:
            return ">>=";
        case BPF_ARSH:
            return "s>>=";
        case BPF_MOV:
            return "=";
        default:
            return nullptr;
    }
}

const char* jmp_op(uint8_t op) {
    switch (op) {
        case BPF_JEQ:
            return "==";
        case BPF_JNE:
            return "!=";
        case BPF_JGT:
            return ">";
        case BPF_JGE:
            return ">=";
        case BPF_JLT:
            return "<";
        case BPF_JLE:
            return "<=";
        case BPF_JSET:
            return "&";
        case BPF_JSGT:
            return "s>";
        case BPF_JSGE:
            return "s>=";
        case BPF_JSLT:
            return "s<";
        case BPF_JSLE:
            return "s<=";
        default:
            return nullptr;
    }
}

const char* size_name(uint8_t sz) {
    switch (sz) {
        case BPF_W:
            return "u32";
        case BPF_H:
            return "u16";
        case BPF_B:
            return "u8";
        default:
            return "u64";
    }
}

std::string mem_ref(uint8_t sz, uint8_t r, int16_t off) {
    return fmt::format("*({} *)(r{} {} {})", size_name(sz), r, off < 0 ? '-' : '+',
                       off < 0 ? -int32_t{off} : int32_t{off});
}

std::string imm_text(int32_t imm) {
    if (imm > -1024 && imm < 1024) return std::to_string(imm);
    return imm < 0 ? fmt::format("-{:#x}", -int64_t{imm}) : fmt::format("{:#x}", imm);
}

std::string helper_name(int32_t id) {
    switch (id) {
        case BPF_FUNC_skb_load_bytes:
            return "bpf_skb_load_bytes";
        case BPF_FUNC_tail_call:
            return "bpf_tail_call";
        default:
            return fmt::format("helper#{}", id);
    }
}

std::string format_insn(const bpf_insn& in) {
    const uint8_t cls = BPF_CLASS(in.code);
    const uint8_t op = BPF_OP(in.code);
    const bool x = BPF_SRC(in.code) == BPF_X;
    switch (cls) {
        case BPF_ALU:
        case BPF_ALU64: {
            const bool w = cls == BPF_ALU;
            if (op == BPF_END)
                return fmt::format("{} = {}{} {}", reg(in.dst_reg, false), x ? "be" : "le", in.imm,
                                   reg(in.dst_reg, false));
            if (op == BPF_NEG)
                return fmt::format("{} = -{}", reg(in.dst_reg, w), reg(in.dst_reg, w));
            const char* o = alu_op(op);
            if (!o) break;
            return fmt::format("{} {} {}", reg(in.dst_reg, w), o,
                               x ? reg(in.src_reg, w) : imm_text(in.imm));
        }
        case BPF_JMP:
        case BPF_JMP32: {
            const bool w = cls == BPF_JMP32;
            if (op == BPF_JA) return fmt::format("goto {:+d}", in.off);
            if (op == BPF_EXIT) return "exit";
            if (op == BPF_CALL) return "call " + helper_name(in.imm);
            const char* o = jmp_op(op);
            if (!o) break;
            return fmt::format("if {} {} {} goto {:+d}", reg(in.dst_reg, w), o,
                               x ? reg(in.src_reg, w) : imm_text(in.imm), in.off);
        }
        case BPF_LDX:
            return fmt::format("{} = {}", reg(in.dst_reg, false),
                               mem_ref(BPF_SIZE(in.code), in.src_reg, in.off));
        case BPF_STX:
            return fmt::format("{} = {}", mem_ref(BPF_SIZE(in.code), in.dst_reg, in.off),
                               reg(in.src_reg, false));
        case BPF_ST:
            return fmt::format("{} = {}", mem_ref(BPF_SIZE(in.code), in.dst_reg, in.off),
                               imm_text(in.imm));
        case BPF_LD:
            if (in.code == (BPF_LD | BPF_DW | BPF_IMM)) {
                std::string value = imm_text(in.imm);
                if (in.src_reg == BPF_PSEUDO_MAP_FD)
                    value = in.imm < 0 ? "map[prog array]" : fmt::format("map[fd {}]", in.imm);
                return fmt::format("{} = {} ll", reg(in.dst_reg, false), value);
            }
            break;
        default:
            break;
    }
    return fmt::format("(unknown code {:#04x})", in.code);
}

}  // namespace

std::vector<bpf_insn> translate_cbpf(std::span<const sock_filter> prog, const FilterSpec& spec) {
    return Translator(prog, spec).run();
}

Fd load_program(std::span<const bpf_insn> insns, FilterHook hook, std::string_view name) {
    const bpf_prog_type type =
        hook == FilterHook::Xdp ? BPF_PROG_TYPE_XDP : BPF_PROG_TYPE_SCHED_CLS;
    const std::string pname = prog_name(name);
    // As libbpf loads SEC("xdp") and SEC("tc").
    const bpf_attach_type attach = hook == FilterHook::Xdp ? BPF_XDP : bpf_attach_type{};
    LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach);
    int fd = bpf_prog_load(type, pname.c_str(), "GPL", insns.data(), insns.size(), &opts);
    if (fd >= 0) return Fd(fd);
    const int err = errno;
    // Again with the verifier's log, for the message.
    std::string log(4 << 20, '\0');
    opts.log_level = 1;
    opts.log_size = static_cast<__u32>(log.size());
    opts.log_buf = log.data();
    fd = bpf_prog_load(type, pname.c_str(), "GPL", insns.data(), insns.size(), &opts);
    if (fd >= 0) return Fd(fd);  // passed the second time: a transient failure
    log.resize(std::strlen(log.c_str()));
    std::string msg = errno_message(
        fmt::format("loading the eBPF filter '{}' ({} instructions) failed", pname, insns.size()),
        err);
    const std::string tail = last_lines(log, 1);
    if (tail.rfind("processed ", 0) == 0) {
        msg += " after verification";
    } else if (!tail.empty()) {
        msg += ": verifier: " + last_lines(log, 3);
    }
    throw RuntimeError(msg);
}

Fd load_filter(std::span<const sock_filter> prog, const FilterSpec& spec, std::string_view name) {
    const std::vector<bpf_insn> insns = translate_cbpf(prog, spec);
    return load_program(insns, spec.hook, name);
}

}  // namespace hookdump::bpf

namespace hookdump::bpf {

std::vector<std::string> disassemble(std::span<const bpf_insn> insns) {
    std::vector<std::string> out;
    for (size_t i = 0; i < insns.size(); ++i) {
        out.push_back(format_insn(insns[i]));
        // The second half of a 64-bit immediate load.
        if (insns[i].code == (BPF_LD | BPF_DW | BPF_IMM) && i + 1 < insns.size()) out.push_back("");
        if (insns[i].code == (BPF_LD | BPF_DW | BPF_IMM)) ++i;
    }
    return out;
}

}  // namespace hookdump::bpf
