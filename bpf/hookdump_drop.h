/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The boundary between bpf/hookdump_drop.bpf.c (skb:kfree_skb) and its loader
 * (src/bpf/drop_program.cpp): the record in the ring buffer, the filter rules in read-only
 * data, the counters. Fixed-width types, explicit padding; the C++ side checks the layout.
 */
#ifndef HOOKDUMP_DROP_H
#define HOOKDUMP_DROP_H

#include "hookdump.h"

#define HOOKDUMP_DROP_HDR_MAX 128 /* bytes kept from the network header on */
/* The reason of a kernel whose tracepoint has none (before 5.17). */
#define HOOKDUMP_DROP_REASON_UNKNOWN 0xffffffffu

/* One alternative of the filter (the module's rule model): every set field must match. */
#define HOOKDUMP_DROP_RULE_SRC 0x01
#define HOOKDUMP_DROP_RULE_DST 0x02
#define HOOKDUMP_DROP_RULE_SPORT 0x04
#define HOOKDUMP_DROP_RULE_DPORT 0x08
#define HOOKDUMP_DROP_RULE_PROTO 0x10

struct hookdump_drop_rule {
	__u8 flags;  /* HOOKDUMP_DROP_RULE_* */
	__u8 family; /* 0 any, 4, 6 */
	__u8 proto;
	__u8 pad;
	__u16 sport_min, sport_max, dport_min, dport_max;
	__u32 src[4], src_mask[4]; /* network byte order, masked */
	__u32 dst[4], dst_mask[4];
};

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
