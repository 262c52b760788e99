/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The boundary between bpf/hookdump_drop.bpf.c (skb:kfree_skb) and its loader
 * (src/bpf/drop_program.cpp): the record in the ring buffer, the counters (the filter's
 * rules, in .bss: hookdump_rule.h). Fixed-width types, explicit padding; the C++ side checks the layout.
 */
#ifndef HOOKDUMP_DROP_H
#define HOOKDUMP_DROP_H

#include "hookdump_rule.h"

#define HOOKDUMP_DROP_HDR_MAX 128 /* bytes kept from the network header on */
/* The reason of a kernel whose tracepoint has none (before 5.17). */
#define HOOKDUMP_DROP_REASON_UNKNOWN 0xffffffffu

struct hookdump_drop_event {
	__u64 ts_ns;        /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 location;     /* where the skb was freed (the tracepoint's location) */
	__u64 netns_cookie; /* of skb->dev, else of skb->sk; 0 when neither */
	__u32 reason;       /* enum skb_drop_reason, or HOOKDUMP_DROP_REASON_UNKNOWN */
	__u32 ifindex;      /* skb->dev's, 0 when none */
	__u32 len;          /* bytes from the network header to the end of the skb */
	__u16 protocol;     /* skb->protocol, host byte order */
	__u16 caplen;       /* valid bytes in hdr */
	__u8 hdr[HOOKDUMP_DROP_HDR_MAX];
};

enum hookdump_drop_stat {
	HOOKDUMP_DROP_STAT_SEEN,     /* kfree_skb calls with a reported reason in the namespace */
	HOOKDUMP_DROP_STAT_MATCHED,  /* ... that the filter accepted */
	HOOKDUMP_DROP_STAT_RB_FULL,  /* ... lost: the ring buffer had no room */
	HOOKDUMP_DROP_STAT_MAX,
};

#endif
