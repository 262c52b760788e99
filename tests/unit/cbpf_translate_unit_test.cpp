// cBPF -> eBPF translation (src/bpf/cbpf_translate.h) without a kernel: the structure of the
// output for small hand-written programs, and refusals of what cannot be translated. Whether
// the kernel accepts the output and decides as libpcap does is netns_cbpf_translate's job.
#ifdef HOOKDUMP_HAVE_BPF

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bpf/cbpf_translate.h"
#include "packet/builder.h"
#include "util/error.h"

namespace hookdump::bpf {
namespace {

sock_filter stmt(uint16_t code, uint32_t k) {
    return sock_filter{code, 0, 0, k};
}
sock_filter jmp(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) {
    return sock_filter{code, jt, jf, k};
}

std::vector<std::string> listing(const std::vector<sock_filter>& prog, FilterHook hook) {
    return disassemble(translate_cbpf(prog, FilterSpec{hook}));
}

std::string refusal(const std::vector<sock_filter>& prog) {
    try {
        translate_cbpf(prog, FilterSpec{FilterHook::Tc});
    } catch (const UsageError& e) {
        const std::string msg = e.what();
        EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
        EXPECT_EQ(msg.rfind("cannot translate the filter to eBPF: ", 0), 0u) << msg;
        return msg;
    }
    ADD_FAILURE() << "translated; expected a refusal";
    return "";
}

using Lines = std::vector<std::string>;

// The exits: accept returns 1, reject 0; an exit nothing jumps to is not emitted.
const Lines kAcceptOnly = {"r0 = 1", "exit"};
const Lines kAcceptTc = {"r0 = 1", "exit", "r0 = 0", "exit"};

TEST(CbpfTranslate, AcceptAllReturnsOne) {
    Lines want = {"r6 = r1", "w7 = 0", "w8 = 0", "goto +0"};
    want.insert(want.end(), kAcceptOnly.begin(), kAcceptOnly.end());
    EXPECT_EQ(listing({stmt(BPF_RET | BPF_K, 262144)}, FilterHook::Tc), want);
}

TEST(CbpfTranslate, RejectAllHasNoAcceptExit) {
    EXPECT_EQ(listing({stmt(BPF_RET | BPF_K, 0)}, FilterHook::Tc),
              (Lines{"r6 = r1", "w7 = 0", "w8 = 0", "goto +0", "r0 = 0", "exit"}));
    EXPECT_EQ(listing({stmt(BPF_RET | BPF_K, 0)}, FilterHook::Xdp),
              (Lines{"r6 = r1", "r9 = *(u32 *)(r6 + 0)", "r5 = *(u32 *)(r6 + 4)", "w7 = 0",
                     "w8 = 0", "goto +0", "r0 = 0", "exit"}));
}

// ldh [12]; jeq #0x800 jt 0 jf 1; ret #1; ret #0 ("ip").
const std::vector<sock_filter> kIp = {stmt(BPF_LD | BPF_H | BPF_ABS, 12),
                                      jmp(BPF_JMP | BPF_JEQ | BPF_K, 0x800, 0, 1),
                                      stmt(BPF_RET | BPF_K, 1), stmt(BPF_RET | BPF_K, 0)};

// At tc, a program that reads below byte 20 first copies the wire's first 20 bytes when the
// skb holds a VLAN tag in its metadata (the MACs, the tag, skb bytes 12..15).
const Lines kTcVlanPrologue = {"r9 = *(u32 *)(r6 + 20)",  // skb->vlan_present
                               "if w9 == 0 goto +24",
                               "*(u64 *)(r10 - 96) = 0",
                               "*(u64 *)(r10 - 88) = 0",
                               "*(u32 *)(r10 - 80) = 0",
                               "r1 = r6",
                               "r2 = 0",
                               "r3 = r10",
                               "r3 += -96",
                               "r4 = 12",
                               "call bpf_skb_load_bytes",
                               "r2 = *(u32 *)(r6 + 28)",  // vlan_proto, network order
                               "*(u16 *)(r10 - 84) = r2",
                               "r2 = *(u32 *)(r6 + 24)",  // vlan_tci
                               "r2 = be16 r2",
                               "*(u16 *)(r10 - 82) = r2",
                               "r4 = *(u32 *)(r6 + 0)",  // min(len - 12, 4) bytes from 12
                               "r4 -= 12",
                               "if r4 s< 1 goto +7",
                               "if r4 <= 4 goto +1",
                               "r4 = 4",
                               "r1 = r6",
                               "r2 = 12",
                               "r3 = r10",
                               "r3 += -80",
                               "call bpf_skb_load_bytes"};

TEST(CbpfTranslate, TcLoadsInPlaceElseThroughTheHelperBigEndian) {
    Lines want = {"r6 = r1"};
    want.insert(want.end(), kTcVlanPrologue.begin(), kTcVlanPrologue.end());
    // With a tag: bytes 12-13 of the wire (the TPID) from the copy, byte by byte (the stack
    // allows no misaligned load), after a length check; without, the skb's bytes. jf is not
    // the next instruction and jt's target is an exit: jump to jt, then goto jf.
    const Lines rest = {"w7 = 0", "w8 = 0", "if w9 == 0 goto +8", "r3 = *(u32 *)(r6 + 0)",
                        "r3 += 4", "if r3 < 14 goto +27", "r7 = *(u8 *)(r10 - 84)",
                        "r3 = *(u8 *)(r10 - 83)", "w7 <<= 8", "w7 |= w3", "goto +18", "r2 = 12",
                        // in the linear data: read in place
                        "if r2 > 0xfffd goto +8",
                        "r3 = *(u32 *)(r6 + 76)",  // data
                        "r4 = *(u32 *)(r6 + 80)",  // data_end
                        "r3 += r2", "r5 = r3", "r5 += 2", "if r5 > r4 goto +2",
                        "r7 = *(u16 *)(r3 + 0)", "goto +7",
                        // else through the helper
                        "r1 = r6", "r3 = r10", "r3 += -72", "r4 = 2", "call bpf_skb_load_bytes",
                        "if r0 != 0 goto +6", "r7 = *(u16 *)(r10 - 72)", "r7 = be16 r7",
                        "if w7 == 0x800 goto +1", "goto +2"};
    want.insert(want.end(), rest.begin(), rest.end());
    want.insert(want.end(), kAcceptTc.begin(), kAcceptTc.end());
    EXPECT_EQ(listing(kIp, FilterHook::Tc), want);
}

TEST(CbpfTranslate, TcLoadsBeyondTheTagReadTheSkbFourBytesEarlier) {
    // ldb [23] (the IPv4 protocol behind a tag); ldx len; ret a. No load below byte 20: no
    // copy, only the flag.
    const Lines got = listing({stmt(BPF_LD | BPF_B | BPF_ABS, 23),
                               stmt(BPF_LDX | BPF_W | BPF_LEN, 0), stmt(BPF_RET | BPF_A, 0)},
                              FilterHook::Tc);
    const Lines want = {"r6 = r1",
                        "r9 = *(u32 *)(r6 + 20)",
                        "w7 = 0",
                        "w8 = 0",
                        "r2 = 23",
                        "if w9 == 0 goto +1",
                        "r2 -= 4",
                        "if r2 > 0xfffe goto +8",
                        "r3 = *(u32 *)(r6 + 76)",
                        "r4 = *(u32 *)(r6 + 80)",
                        "r3 += r2",
                        "r5 = r3",
                        "r5 += 1",
                        "if r5 > r4 goto +2",
                        "r7 = *(u8 *)(r3 + 0)",
                        "goto +7",
                        "r1 = r6",
                        "r3 = r10",
                        "r3 += -72",
                        "r4 = 1",
                        "call bpf_skb_load_bytes",
                        "if r0 != 0 goto +8",
                        "r7 = *(u8 *)(r10 - 72)",
                        "r8 = *(u32 *)(r6 + 0)",
                        "if w9 == 0 goto +1",
                        "w8 += 4"};  // the tag counts in the length
    ASSERT_GE(got.size(), want.size());
    EXPECT_EQ(Lines(got.begin(), got.begin() + want.size()), want);
}

TEST(CbpfTranslate, TcVariableLoadsBelowByte20ReadTheCopy) {
    // ldx #2; ldh [x + 12]; ret a
    const Lines got = listing(
        {stmt(BPF_LDX | BPF_IMM, 2), stmt(BPF_LD | BPF_H | BPF_IND, 12), stmt(BPF_RET | BPF_A, 0)},
        FilterHook::Tc);
    const Lines want = {"w8 = 2",
                        "r2 = r8",
                        "r2 += 12",
                        "if r2 > 0x7fffffff goto +37",
                        "if w9 == 0 goto +15",
                        "if r2 > 18 goto +13",  // 20 - 2: the copy holds the whole load
                        "r3 = *(u32 *)(r6 + 0)",
                        "r3 += 4",
                        "r4 = r2",
                        "r4 += 2",
                        "if r4 > r3 goto +30",
                        "r4 = r10",
                        "r4 += -96",
                        "r4 += r2",
                        "r7 = *(u8 *)(r4 + 0)",
                        "r3 = *(u8 *)(r4 + 1)",
                        "w7 <<= 8",
                        "w7 |= w3",
                        "goto +18",
                        "r2 -= 4",  // beyond the copy: the skb, 4 bytes earlier
                        "if r2 > 0xfffd goto +8"};
    const size_t at = 1 + kTcVlanPrologue.size() + 2;
    ASSERT_GE(got.size(), at + want.size());
    EXPECT_EQ(Lines(got.begin() + at, got.begin() + at + want.size()), want);
}

TEST(CbpfTranslate, XdpLoadsDirectlyWithBoundsCheck) {
    const Lines got = listing(kIp, FilterHook::Xdp);
    const Lines head = {"r6 = r1",
                        "r9 = *(u32 *)(r6 + 0)",
                        "r5 = *(u32 *)(r6 + 4)",
                        "w7 = 0",
                        "w8 = 0",
                        "r2 = r9",
                        "r2 += 14",
                        "if r2 > r5 goto +6",
                        "r7 = *(u16 *)(r9 + 12)",
                        "r7 = be16 r7"};
    ASSERT_GT(got.size(), head.size());
    EXPECT_EQ(Lines(got.begin(), got.begin() + head.size()), head);
    EXPECT_EQ(got[got.size() - 2], "r0 = 0");  // reject
}

TEST(CbpfTranslate, XdpVariableOffsetIsBoundedForTheVerifier) {
    // ldxb 4*([14]&0xf); ldh [x + 16]; ret a
    const Lines got = listing({stmt(BPF_LDX | BPF_B | BPF_MSH, 14),
                               stmt(BPF_LD | BPF_H | BPF_IND, 16), stmt(BPF_RET | BPF_A, 0)},
                              FilterHook::Xdp);
    const Lines want = {"w8 &= 15",
                        "w8 <<= 2",
                        "r2 = r8",
                        "r2 += 16",
                        "if r2 > 0xfffd goto +11",  // 0xffff - 2: the verifier's MAX_PACKET_OFF
                        "r3 = r9",
                        "r3 += r2",
                        "r4 = r3",
                        "r4 += 2",
                        "if r4 > r5 goto +6",
                        "r7 = *(u16 *)(r3 + 0)",
                        "r7 = be16 r7",
                        "if w7 != 0 goto +1",  // RET A: accept when A != 0
                        "goto +2"};
    ASSERT_GE(got.size(), 9 + want.size());
    EXPECT_EQ(Lines(got.begin() + 9, got.begin() + 9 + want.size()), want);
}

TEST(CbpfTranslate, ScratchMemoryZeroedOnlyWhereRead) {
    // st M[3]; ld M[3]; ldx M[15]; ret a
    const Lines got = listing({stmt(BPF_ST, 3), stmt(BPF_LD | BPF_MEM, 3),
                               stmt(BPF_LDX | BPF_MEM, 15), stmt(BPF_RET | BPF_A, 0)},
                              FilterHook::Tc);
    const Lines want = {"r6 = r1",
                        "w7 = 0",
                        "w8 = 0",
                        "*(u32 *)(r10 - 52) = 0",
                        "*(u32 *)(r10 - 4) = 0",
                        "*(u32 *)(r10 - 52) = r7",
                        "r7 = *(u32 *)(r10 - 52)",
                        "r8 = *(u32 *)(r10 - 4)"};
    ASSERT_GE(got.size(), want.size());
    EXPECT_EQ(Lines(got.begin(), got.begin() + want.size()), want);
}

TEST(CbpfTranslate, DivisionByZeroRejectsAndShiftsBeyond31GiveZero) {
    const Lines got = listing(
        {stmt(BPF_LD | BPF_IMM, 100), stmt(BPF_LDX | BPF_W | BPF_LEN, 0),
         stmt(BPF_ALU | BPF_DIV | BPF_X, 0), stmt(BPF_ALU | BPF_LSH | BPF_X, 0),
         stmt(BPF_ALU | BPF_RSH | BPF_K, 40), stmt(BPF_ALU | BPF_NEG, 0), stmt(BPF_RET | BPF_A, 0)},
        FilterHook::Tc);
    const Lines want = {"w7 = 100",
                        "r8 = *(u32 *)(r6 + 0)",  // skb->len
                        "if w9 == 0 goto +1",     // + 4 for a VLAN tag in the metadata
                        "w8 += 4",
                        "if w8 == 0 goto +11",  // A / 0: reject, as cBPF
                        "w7 /= w8",
                        "if w8 > 31 goto +2",
                        "w7 <<= w8",
                        "goto +1",
                        "w7 = 0",
                        "w7 = 0",  // A >> 40
                        "w7 = -w7"};
    ASSERT_GE(got.size(), 4 + want.size());
    EXPECT_EQ(got[1], "r9 = *(u32 *)(r6 + 20)");  // vlan_present, for the length
    EXPECT_EQ(Lines(got.begin() + 4, got.begin() + 4 + want.size()), want);
    // A constant division by 0 is a plain reject.
    const Lines k0 =
        listing({stmt(BPF_ALU | BPF_MOD | BPF_K, 0), stmt(BPF_RET | BPF_K, 1)}, FilterHook::Tc);
    EXPECT_EQ(k0[3], "goto +3");  // to the reject exit, over the (reachable) RET and accept exit
}

TEST(CbpfTranslate, UnreachableCodeIsNotEmitted) {
    // ret #1 followed by dead code: the verifier refuses unreachable instructions.
    const Lines got = listing(
        {stmt(BPF_RET | BPF_K, 1), stmt(BPF_LD | BPF_W | BPF_ABS, 0), stmt(BPF_RET | BPF_K, 0)},
        FilterHook::Tc);
    Lines want = {"r6 = r1", "w7 = 0", "w8 = 0", "goto +0"};
    want.insert(want.end(), kAcceptOnly.begin(), kAcceptOnly.end());
    EXPECT_EQ(got, want);
}

TEST(CbpfTranslate, JsetWithFallThroughTrueBranch) {
    // jset #0x10 jt 0 jf 1 has no inverse: "if set goto +1; goto jf".
    const Lines got =
        listing({stmt(BPF_LD | BPF_IMM, 0x30), jmp(BPF_JMP | BPF_JSET | BPF_K, 0x10, 0, 1),
                 stmt(BPF_LD | BPF_IMM, 1), stmt(BPF_RET | BPF_A, 0)},
                FilterHook::Tc);
    EXPECT_EQ(got[4], "if w7 & 16 goto +1");
    EXPECT_EQ(got[5], "goto +1");
    EXPECT_EQ(got[6], "w7 = 1");
}

TEST(CbpfTranslate, RefusesAncillaryLoads) {
    EXPECT_NE(refusal({stmt(BPF_LD | BPF_B | BPF_ABS, SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT),
                       stmt(BPF_RET | BPF_A, 0)})
                  .find("Linux ancillary load SKF_AD_VLAN_TAG_PRESENT"),
              std::string::npos);
    EXPECT_NE(refusal({stmt(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_IFINDEX),
                       stmt(BPF_RET | BPF_A, 0)})
                  .find("SKF_AD_IFINDEX"),
              std::string::npos);
    EXPECT_NE(refusal({stmt(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + 100), stmt(BPF_RET | BPF_A, 0)})
                  .find("SKF_AD_OFF+100"),
              std::string::npos);
}

TEST(CbpfTranslate, RefusesNegativeOffsets) {
    EXPECT_NE(refusal({stmt(BPF_LD | BPF_B | BPF_ABS, static_cast<uint32_t>(SKF_NET_OFF + 9)),
                       stmt(BPF_RET | BPF_A, 0)})
                  .find("SKF_NET_OFF"),
              std::string::npos);
    EXPECT_NE(refusal({stmt(BPF_LD | BPF_H | BPF_IND, static_cast<uint32_t>(SKF_LL_OFF)),
                       stmt(BPF_RET | BPF_A, 0)})
                  .find("SKF_LL_OFF"),
              std::string::npos);
    EXPECT_NE(refusal({stmt(BPF_LD | BPF_W | BPF_ABS, static_cast<uint32_t>(-0x300000)),
                       stmt(BPF_RET | BPF_A, 0)})
                  .find("negative packet offset -3145728"),
              std::string::npos);
    EXPECT_NE(refusal({stmt(BPF_LD | BPF_W | BPF_IND, static_cast<uint32_t>(-8)),
                       stmt(BPF_RET | BPF_A, 0)})
                  .find("negative packet offset -8"),
              std::string::npos);
}

TEST(CbpfTranslate, RefusesMalformedPrograms) {
    EXPECT_NE(refusal({stmt(BPF_LD | BPF_MEM, 16), stmt(BPF_RET | BPF_A, 0)}).find("M[16]"),
              std::string::npos);
    EXPECT_NE(refusal({stmt(BPF_LD | BPF_IMM, 1), stmt(BPF_JMP | BPF_JA, static_cast<uint32_t>(-2)),
                       stmt(BPF_RET | BPF_A, 0)})
                  .find("backward jump"),
              std::string::npos);
    EXPECT_NE(refusal({jmp(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 5), stmt(BPF_RET | BPF_A, 0)})
                  .find("beyond the end"),
              std::string::npos);
    EXPECT_NE(refusal({stmt(BPF_LD | BPF_IMM, 1)}).find("without a return"), std::string::npos);
    EXPECT_NE(refusal({stmt(BPF_RET | BPF_X, 0)}).find("unsupported cBPF opcode"),
              std::string::npos);
    EXPECT_NE(refusal({stmt(BPF_MISC | 0x10, 0), stmt(BPF_RET | BPF_A, 0)}).find("code 0x17"),
              std::string::npos);
    try {
        translate_cbpf({}, FilterSpec{FilterHook::Xdp});
        ADD_FAILURE() << "empty program translated";
    } catch (const UsageError& e) {
        EXPECT_STREQ(e.what(), "cannot translate an empty cBPF program");
    }
}

TEST(CbpfTranslate, RefusesWhatAnEbpfJumpCannotReach) {
    // ld #0; jeq #0 jt 1 jf 0; ja <ret>; 4000 loads; ret #1: the ja spans 40000 instructions.
    std::vector<sock_filter> prog = {stmt(BPF_LD | BPF_IMM, 0),
                                     jmp(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0),
                                     stmt(BPF_JMP | BPF_JA, 4000)};
    for (int i = 0; i < 4000; ++i) prog.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, i));
    prog.push_back(stmt(BPF_RET | BPF_K, 1));
    EXPECT_NE(refusal(prog).find("too large"), std::string::npos);
}

TEST(CbpfTranslate, ProtochainFromLibpcapIsRefused) {
    const std::vector<sock_filter> prog = compile_pcap_filter("ip6 protochain 6");
    EXPECT_NE(refusal(prog).find("backward jump (a loop, as libpcap's 'protochain' emits)"),
              std::string::npos);
}

TEST(PcapFilter, CompilesAndDecidesAsLibpcap) {
    const PcapFilter f("tcp dst port 80");
    EXPECT_GT(f.program().size(), 4u);
    EXPECT_TRUE(
        f.matches(PacketBuilder().ethernet().ipv4("198.18.0.1", "198.18.0.2").tcp(1, 80).build()));
    EXPECT_FALSE(
        f.matches(PacketBuilder().ethernet().ipv4("198.18.0.1", "198.18.0.2").udp(1, 80).build()));
    EXPECT_THROW(compile_pcap_filter("tcp port"), UsageError);
    // Every expression libpcap compiles for Ethernet without loops translates.
    for (const char* e : {"", "ip", "vlan 100 and tcp", "ip6 and udp portrange 1-99", "len > 60",
                          "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420", "geneve"}) {
        SCOPED_TRACE(e);
        EXPECT_NO_THROW(translate_cbpf(compile_pcap_filter(e), FilterSpec{FilterHook::Xdp}));
    }
}

}  // namespace
}  // namespace hookdump::bpf

#endif  // HOOKDUMP_HAVE_BPF
