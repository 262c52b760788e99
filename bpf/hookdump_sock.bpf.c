// SPDX-License-Identifier: GPL-2.0
/*
 * The socket point of `hookdump trace`: cgroup_skb programs attached at the cgroup v2 root.
 * Ingress runs when the kernel hands a packet to a socket (sk_filter), egress when a local
 * socket sends one (ip_finish_output); both see skb->data at the network header. A packet of a
 * full socket in the namespace asked for, whose IP header matches the filter, is one record
 * with the socket's protocol, local address and port, and the first bytes of the packet.
 * Strictly passive: both programs always return 1 (allow).
 *
 * The namespace is told by its cookie, read one of two ways (netns_from, set by the loader):
 * bpf_get_netns_cookie() where the kernel gives it to cgroup_skb programs, else from the
 * socket's own struct sock (sk->__sk_common.skc_net.net->net_cookie, CO-RE reads through
 * bpf_probe_read_kernel, which a program loaded with CAP_PERFMON may call). Both are the
 * value SO_NETNS_COOKIE gives.
 *
 * with_proc: the socket's process, looked up by the socket's cookie in process attribution's
 * socket map (hookdump_proc.bpf.c fills it; the loader shares it), as the packet is handed to
 * the socket or sent by it: a socket with no entry (the kernel's own) has no process.
 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>

#include "hookdump_sock.h"

#define AF_INET 2
#define AF_INET6 10

char LICENSE[] SEC("license") = "GPL";

/* The kernel's types, only the fields read (CO-RE: the offsets come from the running
 * kernel's BTF; the ___hd suffix keeps the local names apart from the kernel's).
 */
struct net___hd {
	__u64 net_cookie;
} __attribute__((preserve_access_index));

struct sock___hd {
	struct {
		struct {
			struct net___hd *net;
		} skc_net;
	} __sk_common;
} __attribute__((preserve_access_index));

/* Set by the loader before load. */
const volatile __u64 netns_cookie = 0; /* 0: every namespace */
const volatile __u32 netns_from = HOOKDUMP_SOCK_NETNS_HELPER;
const volatile __u32 nr_rules = 0;     /* 0: every packet */
const volatile __u32 with_proc = 0;
/* In .bss, not rodata: the shared matcher reads them as plain memory (as hookdump_drop's). */
struct hd_rule rules[HOOKDUMP_SOCK_MAX_RULES];

HD_PROC_SOCKS_MAP;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HOOKDUMP_SOCK_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &which);

	if (v)
		*v += 1;
}

/* The 5-tuple from the network header (skb offset 0). IPv6 extension headers are not
 * walked: the next header is the protocol, without ports when it is one.
 */
static __always_inline void parse_tuple(struct __sk_buff *skb, struct hd_tuple *t)
{
	__u8 b[40];
	__u32 l4off;
	__u16 p[2];

	if (bpf_skb_load_bytes(skb, 0, b, 20))
		return;
	if ((b[0] >> 4) == 4) {
		if ((b[0] & 0xf) < 5)
			return;
		t->family = 4;
		t->flags = HOOKDUMP_EV_IP;
		t->proto = b[9];
		__builtin_memcpy(&t->src[0], &b[12], 4);
		__builtin_memcpy(&t->dst[0], &b[16], 4);
		l4off = (b[0] & 0xf) * 4;
		if (((b[6] & 0x1f) | b[7]) != 0)
			return; /* a later fragment: no transport header */
	} else if ((b[0] >> 4) == 6) {
		if (bpf_skb_load_bytes(skb, 0, b, 40))
			return;
		t->family = 6;
		t->flags = HOOKDUMP_EV_IP;
		t->proto = b[6];
		__builtin_memcpy(t->src, &b[8], 16);
		__builtin_memcpy(t->dst, &b[24], 16);
		l4off = 40;
	} else {
		return;
	}
	if (hd_proto_has_ports(t->proto) && !bpf_skb_load_bytes(skb, l4off & 0x3f, p, 4)) {
		t->sport = bpf_ntohs(p[0]);
		t->dport = bpf_ntohs(p[1]);
		t->flags |= HOOKDUMP_EV_PORTS;
	}
}

/* The cookie of the namespace of a full socket's packet (netns_from says how). */
static __always_inline __u64 packet_netns(struct __sk_buff *skb, struct bpf_sock *sk)
{
	const struct sock___hd *ks;
	struct bpf_sock *slot = sk;
	__u64 addr = 0;

	if (netns_from == HOOKDUMP_SOCK_NETNS_HELPER)
		return bpf_get_netns_cookie(skb);
	/* The verifier allows no arithmetic on a socket pointer, but lets a privileged program
	 * copy one as a number: the kernel's struct sock, read from there on.
	 */
	if (bpf_probe_read_kernel(&addr, sizeof(addr), (const void *)&slot))
		return 0;
	ks = (const struct sock___hd *)addr;
	return BPF_CORE_READ(ks, __sk_common.skc_net.net, net_cookie);
}

static __always_inline void report(struct __sk_buff *skb, __u8 egress)
{
	struct hookdump_sock_event *e;
	struct hd_tuple t = {};
	struct bpf_sock *sk;
	__u32 n;

	sk = skb->sk;
	if (!sk)
		return;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return;
	/* netns_cookie and netns_from are constants at load: the path not taken is dead code
	 * (the helper is called only where the loader found it)
	 */
	if (netns_cookie && packet_netns(skb, sk) != netns_cookie)
		return;
	count(HOOKDUMP_SOCK_STAT_SEEN);
	parse_tuple(skb, &t);
	if (!hd_rule_set_match(rules, nr_rules, HOOKDUMP_SOCK_MAX_RULES, &t))
		return;
	count(HOOKDUMP_SOCK_STAT_MATCHED);

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(HOOKDUMP_SOCK_STAT_RB_FULL);
		return;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->ifindex = skb->ifindex;
	e->len = skb->len;
	e->egress = egress;
	e->pad = 0;
	e->protocol = sk->protocol;
	e->port = sk->src_port;
	if (sk->family == AF_INET6) {
		e->family = 6;
		e->addr[0] = sk->src_ip6[0];
		e->addr[1] = sk->src_ip6[1];
		e->addr[2] = sk->src_ip6[2];
		e->addr[3] = sk->src_ip6[3];
	} else {
		e->family = 4;
		e->addr[0] = sk->src_ip4;
		e->addr[1] = 0;
		e->addr[2] = 0;
		e->addr[3] = 0;
	}
	/* two constant-bounded sizes, as in hookdump_drop.bpf.c */
	n = skb->len;
	if (n >= HOOKDUMP_SOCK_HDR_MAX) {
		n = HOOKDUMP_SOCK_HDR_MAX;
		if (bpf_skb_load_bytes(skb, 0, e->hdr, HOOKDUMP_SOCK_HDR_MAX))
			n = 0;
	} else if (n > 0) {
		/* n - 1 masked in asm, then + 1: a size in [1, 128] the verifier can see (a mask
		 * of n itself leaves 0 possible, which bpf_skb_load_bytes refuses)
		 */
		__u32 m = n - 1;

		asm volatile("%0 &= 0x7f" : "+r"(m));
		if (bpf_skb_load_bytes(skb, 0, e->hdr, m + 1))
			n = 0;
	}
	e->caplen = n;
	__builtin_memset(&e->proc, 0, sizeof(e->proc));
	if (with_proc) {
		__u64 cookie = bpf_get_socket_cookie(skb);
		struct hd_sock_value *sv = bpf_map_lookup_elem(&hd_socks, &cookie);

		if (cookie && sv)
			e->proc = sv->proc;
	}
	bpf_ringbuf_submit(e, 0);
}

SEC("cgroup_skb/ingress")
int hookdump_sk_in(struct __sk_buff *skb)
{
	report(skb, 0);
	return 1;
}

SEC("cgroup_skb/egress")
int hookdump_sk_out(struct __sk_buff *skb)
{
	report(skb, 1);
	return 1;
}
