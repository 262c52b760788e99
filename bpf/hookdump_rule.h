/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The rule model (src/rules/rule.h) as the BPF programs match it, one definition for both
 * (hookdump_pkt.bpf.c: tc and XDP; hookdump_drop.bpf.c: skb:kfree_skb) and the C++ that fills
 * it (src/rules/bpf_rules.cpp): the packet's 5-tuple the rules look at, the rule, the matcher.
 * The matcher is plain C, compiled on the userspace side too (the unit tests run it). Fixed-size
 * types, no implicit padding: the userspace part below static_asserts the layout.
 */
#ifndef HOOKDUMP_RULE_H
#define HOOKDUMP_RULE_H

#include "hookdump.h" /* the limits (HOOKDUMP_MAX_RULES, ...), the flags HOOKDUMP_EV_* */

#ifdef __bpf__
#define HD_RULE_INLINE static __always_inline
#else
#define HD_RULE_INLINE static inline
#endif

/* The 5-tuple, as the rules see it and as the flow hash's key: addresses as on the wire
 * (network order), IPv4's in the first word, zero after; 32-bit words so that BPF compares
 * them aligned. flags: HOOKDUMP_EV_IP, _PORTS, _FRAG, _LATER_FRAG (the module's event flags). */
struct hd_tuple {
	__u32 src[4];
	__u32 dst[4];
	__u16 sport; /* host order; 0 without HOOKDUMP_EV_PORTS */
	__u16 dport; /* ICMP, with HOOKDUMP_EV_ICMP: type << 8 | code (as in src/flow/) */
	__u8 family; /* 4, 6, or 0 for a non-IP packet */
	__u8 proto;
	__u8 flags;
	__u8 point; /* flow keys only (enum hd_point); 0 elsewhere */
};

/* hd_rule.flags: the conditions a rule has. */
#define HD_RULE_SRC 0x01
#define HD_RULE_DST 0x02
#define HD_RULE_SPORT 0x04
#define HD_RULE_DPORT 0x08
#define HD_RULE_PROTO 0x10

/* One rule: a packet matches when every condition given holds; a rule set when one rule
 * matches. Prefixes as address & mask, 32 bits at a time. A rule set that has a rule with no
 * condition is given as no rule at all (every packet, IP or not). */
struct hd_rule {
	__u32 src[4], src_mask[4]; /* network order, src masked */
	__u32 dst[4], dst_mask[4];
	__u16 sport_min, sport_max; /* host order, with HD_RULE_SPORT */
	__u16 dport_min, dport_max;
	__u8 flags;  /* HD_RULE_* */
	__u8 family; /* 0 any, 4, 6 (0xff: none, prefixes of both families) */
	__u8 proto;  /* with HD_RULE_PROTO */
	__u8 pad;
};

HD_RULE_INLINE int hd_prefix_match(const __u32 *a, const __u32 *net, const __u32 *mask)
{
	return (a[0] & mask[0]) == net[0] && (a[1] & mask[1]) == net[1] &&
	       (a[2] & mask[2]) == net[2] && (a[3] & mask[3]) == net[3];
}

HD_RULE_INLINE int hd_rule_match(const struct hd_rule *r, const struct hd_tuple *t)
{
	__u8 f = r->flags;

	if (!(t->flags & HOOKDUMP_EV_IP))
		return 0;
	if (r->family && r->family != t->family)
		return 0;
	if ((f & HD_RULE_PROTO) && r->proto != t->proto)
		return 0;
	if ((f & HD_RULE_SRC) && !hd_prefix_match(t->src, r->src, r->src_mask))
		return 0;
	if ((f & HD_RULE_DST) && !hd_prefix_match(t->dst, r->dst, r->dst_mask))
		return 0;
	if ((f & HD_RULE_SPORT) && (!(t->flags & HOOKDUMP_EV_PORTS) || t->sport < r->sport_min ||
				    t->sport > r->sport_max))
		return 0;
	if ((f & HD_RULE_DPORT) && (!(t->flags & HOOKDUMP_EV_PORTS) || t->dport < r->dport_min ||
				    t->dport > r->dport_max))
		return 0;
	return 1;
}

/* Whether the protocol's header starts with ports (TCP, UDP, SCTP, UDP-Lite, DCCP). */
HD_RULE_INLINE int hd_proto_has_ports(__u8 proto)
{
	return proto == 6 || proto == 17 || proto == 132 || proto == 136 || proto == 33;
}

/* The first n of a program's rules (at most max, a constant), or every packet when n is 0. */
HD_RULE_INLINE int hd_rule_set_match(const struct hd_rule *rules, __u32 n, const __u32 max,
				     const struct hd_tuple *t)
{
	__u32 i;

	if (!n)
		return 1;
	for (i = 0; i < max; i++) {
		if (i >= n)
			break;
		if (hd_rule_match(&rules[i], t))
			return 1;
	}
	return 0;
}

#ifndef __bpf__
#ifdef __cplusplus
#include <cstddef>
static_assert(sizeof(hd_tuple) == 40);
static_assert(offsetof(hd_tuple, sport) == 32 && offsetof(hd_tuple, flags) == 38);
static_assert(sizeof(hd_rule) == 76);
static_assert(offsetof(hd_rule, dst) == 32 && offsetof(hd_rule, sport_min) == 64);
static_assert(offsetof(hd_rule, flags) == 72 && offsetof(hd_rule, proto) == 74);
#endif
#endif

#endif /* HOOKDUMP_RULE_H */
