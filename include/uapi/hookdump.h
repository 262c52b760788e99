/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * hookdump: the one header shared by the kernel module (kmod/), the BPF programs (bpf/) and
 * the C++ userspace (src/). Generic netlink family "hookdump": rules, capture sessions,
 * statistics, and the event record the module streams.
 *
 * Fixed-width types and explicit padding only; the C++ side static_asserts the layout.
 */
#ifndef _UAPI_HOOKDUMP_H
#define _UAPI_HOOKDUMP_H

/* A CO-RE BPF program has the types from vmlinux.h. */
#ifndef HOOKDUMP_CORE
#include <linux/types.h>
#endif

#define HOOKDUMP_GENL_NAME	"hookdump"
#define HOOKDUMP_GENL_VERSION	1
#define HOOKDUMP_MCGRP_EVENTS	"events"

/* Limits, the same for the module, the BPF programs and userspace. */
#define HOOKDUMP_MAX_SNAPLEN	4096	/* packet bytes the module copies per event */
#define HOOKDUMP_MAX_RULES	64	/* rules an expression makes; the tc/XDP programs' rules */
/* The drop program's rules: an open-coded loop (no bpf_loop before 5.17, which it supports). */
#define HOOKDUMP_DROP_MAX_RULES	16

/* Commands (genlmsghdr.cmd). */
enum hookdump_cmd {
	HOOKDUMP_CMD_UNSPEC,
	HOOKDUMP_CMD_RULE_ADD,		/* HOOKDUMP_A_RULE; replies with the rule id */
	HOOKDUMP_CMD_RULE_DEL,		/* HOOKDUMP_A_RULE_ID */
	HOOKDUMP_CMD_RULE_LIST,		/* dump: one message per rule (HOOKDUMP_A_RULE) */
	HOOKDUMP_CMD_RULE_FLUSH,
	HOOKDUMP_CMD_SESSION_START,	/* events are unicast to the sender's port; rules it
					 * adds from then on are the session's
					 */
	HOOKDUMP_CMD_SESSION_STOP,	/* removes the session's rules, flushes its events */
	HOOKDUMP_CMD_STATS_GET,		/* reply: HOOKDUMP_A_STATS */
	HOOKDUMP_CMD_EVENTS,		/* kernel -> user: one or more HOOKDUMP_A_EVENT */
	__HOOKDUMP_CMD_MAX,
};
#define HOOKDUMP_CMD_MAX (__HOOKDUMP_CMD_MAX - 1)

/* Top-level attributes. */
enum hookdump_attr {
	HOOKDUMP_A_UNSPEC,
	HOOKDUMP_A_RULE,		/* nest: HOOKDUMP_RULE_A_* */
	HOOKDUMP_A_RULE_ID,		/* u32 */
	HOOKDUMP_A_EVENT,		/* binary: struct hookdump_event, then caplen packet bytes */
	HOOKDUMP_A_STATS,		/* nest: HOOKDUMP_STATS_A_* */
	HOOKDUMP_A_PAD,
	HOOKDUMP_A_EVENT_LABEL,		/* string: the label of the -j HOOKDUMP rule whose event
					 * is the HOOKDUMP_A_EVENT just before it (absent: none)
					 */
	HOOKDUMP_A_EVENT_PROC,		/* binary: struct hookdump_event_proc of the event before
					 * it (after its label, if any); sent with HOOKDUMP_EV_UID
					 */
	__HOOKDUMP_A_MAX,
};
#define HOOKDUMP_A_MAX (__HOOKDUMP_A_MAX - 1)

/* Rule attributes (nested in HOOKDUMP_A_RULE). Absent means "any". */
enum hookdump_rule_attr {
	HOOKDUMP_RULE_A_UNSPEC,
	HOOKDUMP_RULE_A_ID,		/* u32, set by the kernel */
	HOOKDUMP_RULE_A_FAMILY,		/* u8: AF_INET or AF_INET6 */
	HOOKDUMP_RULE_A_SRC,		/* binary, 4 or 16 bytes (with FAMILY) */
	HOOKDUMP_RULE_A_SRC_PLEN,	/* u8 prefix length */
	HOOKDUMP_RULE_A_DST,		/* binary, 4 or 16 bytes */
	HOOKDUMP_RULE_A_DST_PLEN,	/* u8 */
	HOOKDUMP_RULE_A_SPORT_MIN,	/* u16, host order */
	HOOKDUMP_RULE_A_SPORT_MAX,	/* u16 */
	HOOKDUMP_RULE_A_DPORT_MIN,	/* u16 */
	HOOKDUMP_RULE_A_DPORT_MAX,	/* u16 */
	HOOKDUMP_RULE_A_PROTO,		/* u8 */
	HOOKDUMP_RULE_A_IIF,		/* u32 ifindex */
	HOOKDUMP_RULE_A_OIF,		/* u32 ifindex */
	HOOKDUMP_RULE_A_HOOKS,		/* u32 bitmask of 1 << HOOKDUMP_HOOK_* (default: all) */
	HOOKDUMP_RULE_A_SNAPLEN,	/* u32: packet bytes to copy (0: 5-tuple only) */
	HOOKDUMP_RULE_A_SLOTS,		/* u32 bitmask of 1 << HOOKDUMP_SLOT_* (default: first) */
	HOOKDUMP_RULE_A_HITS,		/* u64, reported by RULE_LIST */
	HOOKDUMP_RULE_A_PAD,
	HOOKDUMP_RULE_A_PRIORITY,	/* s32: the priority of HOOKDUMP_SLOT_CUSTOM */
	HOOKDUMP_RULE_A_OWNER,		/* u32, set by the kernel: the netlink port of the capture
					 * session that added the rule, which goes with the session
					 * (SESSION_STOP, socket closed); absent: added outside a
					 * session, kept until deleted
					 */
	__HOOKDUMP_RULE_A_MAX,
};
#define HOOKDUMP_RULE_A_MAX (__HOOKDUMP_RULE_A_MAX - 1)

/* Statistics attributes (nested in HOOKDUMP_A_STATS), all u64, for the caller's netns. */
enum hookdump_stats_attr {
	HOOKDUMP_STATS_A_UNSPEC,
	HOOKDUMP_STATS_A_MATCHED,	/* packets that matched a rule */
	HOOKDUMP_STATS_A_QUEUED,	/* events put in a batch */
	HOOKDUMP_STATS_A_DELIVERED,	/* events in batches the socket accepted */
	HOOKDUMP_STATS_A_DROP_FULL,	/* no room in the batch and no new one could start */
	HOOKDUMP_STATS_A_DROP_NOBUFS,	/* the receiver's socket buffer was full (ENOBUFS) */
	HOOKDUMP_STATS_A_DROP_NOMEM,	/* allocation of a batch failed */
	HOOKDUMP_STATS_A_DROP_NOSESSION,/* matched but nobody listened */
	HOOKDUMP_STATS_A_BATCHES,	/* netlink messages sent */
	HOOKDUMP_STATS_A_PAD,
	HOOKDUMP_STATS_A_RULES,		/* rules now in place (a gauge, not a counter) */
	HOOKDUMP_STATS_A_HOOKS,		/* netfilter hooks now registered (a gauge) */
	__HOOKDUMP_STATS_A_MAX,
};
#define HOOKDUMP_STATS_A_MAX (__HOOKDUMP_STATS_A_MAX - 1)

/* Netfilter hooks, numbered as NF_INET_* (enum nf_inet_hooks). */
enum hookdump_hook {
	HOOKDUMP_HOOK_PRE_ROUTING = 0,
	HOOKDUMP_HOOK_LOCAL_IN = 1,
	HOOKDUMP_HOOK_FORWARD = 2,
	HOOKDUMP_HOOK_LOCAL_OUT = 3,
	HOOKDUMP_HOOK_POST_ROUTING = 4,
	HOOKDUMP_HOOK_COUNT = 5,
};
#define HOOKDUMP_HOOKS_ALL ((1u << HOOKDUMP_HOOK_COUNT) - 1)

/* Which registration of a hook saw the packet. */
enum hookdump_slot {
	HOOKDUMP_SLOT_FIRST = 0,	/* priority INT_MIN + 1: before everything else */
	HOOKDUMP_SLOT_LAST = 1,		/* priority INT_MAX: after everything else */
	HOOKDUMP_SLOT_CUSTOM = 2,	/* HOOKDUMP_RULE_A_PRIORITY; one per netns at a time */
	HOOKDUMP_SLOT_COUNT = 3,
	/* Events only: from an iptables rule's -j HOOKDUMP (xt_HOOKDUMP.ko), at the hook of the
	 * chain it sits in; rule_id is 0 and group is the rule's.
	 */
	HOOKDUMP_SLOT_TARGET = 3,
};

/*
 * The attributes after a HOOKDUMP_A_EVENT, up to the next one, are that event's; a reader
 * skips the types it does not know. struct hookdump_event itself does not change.
 */

/* hookdump_event.flags, and the BPF programs' hd_tuple.flags (bpf/hookdump_rule.h): one set */
#define HOOKDUMP_EV_PORTS	0x01	/* sport/dport valid */
#define HOOKDUMP_EV_ICMP	0x02	/* icmp_type/icmp_code valid */
#define HOOKDUMP_EV_FRAG	0x04	/* a fragment (first or later) */
#define HOOKDUMP_EV_LATER_FRAG	0x08	/* a non-first fragment: no transport header */
#define HOOKDUMP_EV_UID		0x10	/* uid valid (locally generated, owned by a socket) */
#define HOOKDUMP_EV_PID		0x20	/* pid valid (sent in the context of that task, a
					 * user one, at LOCAL_OUT or POST_ROUTING)
					 */
#define HOOKDUMP_EV_TRUNCATED	0x40	/* transport header incomplete */
/* BPF tuples only: family, src, dst valid (the module sees IP only) */
#define HOOKDUMP_EV_IP		0x80

/*
 * One observed packet. Followed in the same attribute by caplen bytes of the packet from its
 * network header. Addresses in network order (IPv4 in the first 4 bytes); ports host order.
 */
struct hookdump_event {
	__u64 ts_ns;		/* CLOCK_REALTIME */
	__u64 netns_cookie;
	__u32 len;		/* skb->len at the hook (from the network header) */
	__u32 mark;
	__u32 uid;
	__u32 pid;
	__s32 iif;
	__s32 oif;
	__u32 rule_id;
	__u16 sport;
	__u16 dport;
	__u8 src[16];
	__u8 dst[16];
	__u8 family;		/* AF_INET, AF_INET6 */
	__u8 proto;
	__u8 hook;		/* enum hookdump_hook */
	__u8 slot;		/* enum hookdump_slot */
	__u8 flags;		/* HOOKDUMP_EV_* */
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 pad0;
	__u32 caplen;		/* packet bytes that follow */
	__u16 thoff;		/* transport header offset from the network header (0: unknown) */
	__u16 group;		/* HOOKDUMP_SLOT_TARGET: the -j HOOKDUMP rule's group; else 0 */
};

/*
 * Who sent a locally generated packet (HOOKDUMP_EV_UID: at LOCAL_OUT or POST_ROUTING, owned by
 * a full socket). Never a guess: a received, forwarded or kernel-made packet has none.
 */
struct hookdump_event_proc {
	__u64 cgroup_id;	/* the socket's cgroup v2 id (0: unknown) */
	char comm[16];		/* with HOOKDUMP_EV_PID, the sending task's command name
				 * (TASK_COMM_LEN, NUL-padded); else empty
				 */
};

#endif /* _UAPI_HOOKDUMP_H */
