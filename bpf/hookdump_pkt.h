/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The layout shared by bpf/hookdump_pkt.bpf.c and its loader (src/bpf/, src/engine/
 * bpf_engine.cpp): ring buffer records, flow keys and counters, per-CPU statistics (the
 * tuple and the rules: hookdump_rule.h).
 * Fixed-size types only, no implicit padding: the C++ side static_asserts the sizes.
 */
#ifndef HOOKDUMP_PKT_H
#define HOOKDUMP_PKT_H

#include "hookdump_rule.h" /* struct hd_tuple, the rules */
#include "hookdump_proc.h" /* struct hd_proc: the process a packet's socket belongs to */

/* Where a record was taken (the program that ran). */
enum hd_point {
	HD_POINT_TC_INGRESS = 1,
	HD_POINT_TC_EGRESS = 2,
	HD_POINT_XDP = 3,
};

/* What the record program does with a matching packet. */
enum hd_mode {
	HD_MODE_PACKETS = 0, /* a ring buffer record, with up to snaplen bytes */
	HD_MODE_FLOWS = 1,   /* counted in the per-CPU flow hash only */
};

/* In the filter stubs' code (hd_filter_skb, hd_filter_xdp): userspace finds a stub by it to put
 * the translated pcap-filter expression in its place at load time (src/bpf/filter_splice.cpp). */
#define HD_FILTER_STUB_MAGIC 0x68646631 /* "hdf1" */

/* One ring buffer record; `caplen` packet bytes follow: the frame as on the wire (a VLAN tag
 * the kernel keeps in the skb's metadata is put back after the MAC addresses). */
/* Flow mode's key for IPv4 (the packet's hd_tuple with family 4, src[0], dst[0]): hashing and
 * comparing 16 bytes instead of 40 is a third of a flow packet's cost in the kernel. Flow keys
 * (this and hd_tuple) carry the point in the tuple's spare byte, so that what came in and what
 * went out are two flows; an ICMP packet's type and code are in dport (HOOKDUMP_EV_ICMP). */
struct hd_tuple4 {
	__u32 src;
	__u32 dst;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 flags;
	__u8 point; /* enum hd_point */
	__u8 pad;
};

struct hd_record {
	__u64 ts_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u32 ifindex;
	__u32 len; /* length on the wire (skb->len, + 4 for a VLAN tag in the skb's metadata;
		    * the XDP frame's) */
	__u32 caplen;
	__u8 point; /* enum hd_point */
	__u8 tcp_flags;
	__u16 pad;
	struct hd_tuple tuple;
	/* With cfg_proc: the process of the packet's socket (tc egress: the skb's socket by its
	 * cookie; tc ingress: the socket bound to its destination); tgid 0: none known. */
	struct hd_proc proc;
};

/* Flow mode's ring buffer record: a packet whose flow found the hash full (or its CPU's share
 * not there), for userspace to count in its own table (src/bpf/flow_drain.h). */
struct hd_flow_spill {
	__u64 ts_ns; /* CLOCK_MONOTONIC */
	__u32 len;   /* on the wire */
	__u32 ip_len;
	__u8 point; /* enum hd_point */
	__u8 tcp_flags;
	__u16 pad;
	__u32 pad2;
	struct hd_tuple tuple; /* with the point */
};

/* A flow's counters on one CPU; userspace sums the CPUs. */
struct hd_flow_value {
	__u64 packets;
	__u64 bytes;	/* on the wire */
	__u64 ip_bytes; /* the IP datagrams, headers included */
	__u64 first_ns; /* CLOCK_MONOTONIC */
	__u64 last_ns;
	__u8 tcp_flags;
	__u8 pad[3];
	__u32 last_tick; /* the program's: jiffies (low 32 bits) when last_ns was read */
};

/* Per-CPU counters (one entry of a per-CPU array). */
struct hd_stats {
	__u64 seen;	   /* packets the entry program ran on */
	__u64 matched;	   /* accepted by the rules and the filter */
	__u64 ringbuf_full; /* packets mode: a record could not be reserved (lost) */
	__u64 flow_full;   /* flows mode: a new flow fit neither the hash nor the ring (lost) */
	__u64 flows_new4;  /* flows mode: flows added to the IPv4 hash (userspace skips walking */
	__u64 flows_new;   /* a retired hash nothing was added to), and to the other one */
	__u64 flow_spilled; /* flows mode: packets sent through the ring (the hash was full) */
	__u64 proc_known;   /* cfg_proc: packets whose process was found */
};

#endif /* HOOKDUMP_PKT_H */
