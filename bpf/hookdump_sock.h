/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The boundary between bpf/hookdump_sock.bpf.c (cgroup_skb ingress and egress at the cgroup v2
 * root: a packet handed to a socket, or sent by one) and its loader (src/bpf/sock_program.cpp):
 * the ring buffer record and the counters (the filter's rules: hookdump_rule.h). Fixed-width
 * types, explicit padding; the C++ side checks the layout.
 */
#ifndef HOOKDUMP_SOCK_H
#define HOOKDUMP_SOCK_H

#include "hookdump_proc.h"
#include "hookdump_rule.h"

#define HOOKDUMP_SOCK_HDR_MAX 128  /* bytes kept from the network header on */
#define HOOKDUMP_SOCK_MAX_RULES 16 /* the filter's rules (struct hd_rule) */

struct hookdump_sock_event {
	__u64 ts_ns;    /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 ifindex;  /* skb->ifindex: the device it came in on, or goes out of */
	__u32 len;      /* skb->len: from the network header on */
	__u32 addr[4];  /* the socket's local address, network order (IPv4 in addr[0]) */
	__u16 port;     /* the socket's local port, host order */
	__u8 family;    /* the socket's: 4 (AF_INET) or 6 (AF_INET6) */
	__u8 protocol;  /* the socket's (IPPROTO_TCP, IPPROTO_UDP, ...) */
	__u8 egress;    /* 0: handed to the socket (ingress), 1: sent by it */
	__u8 pad;
	__u16 caplen;   /* valid bytes in hdr */
	/* with_proc: the socket's process from the attribution's socket map (tgid 0: none) */
	struct hd_proc proc;
	__u8 hdr[HOOKDUMP_SOCK_HDR_MAX];
};

/* How the programs read a packet's network namespace (its cookie). */
enum hookdump_sock_netns {
	HOOKDUMP_SOCK_NETNS_HELPER, /* bpf_get_netns_cookie(skb): where cgroup_skb has it */
	HOOKDUMP_SOCK_NETNS_SOCKET, /* the socket's struct sock, read by bpf_probe_read_kernel */
};

enum hookdump_sock_stat {
	HOOKDUMP_SOCK_STAT_SEEN,    /* packets of a full socket in the namespace */
	HOOKDUMP_SOCK_STAT_MATCHED, /* ... that the filter accepted */
	HOOKDUMP_SOCK_STAT_RB_FULL, /* ... lost: the ring buffer had no room */
	HOOKDUMP_SOCK_STAT_MAX,
};

#endif
