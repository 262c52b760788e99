// SPDX-License-Identifier: GPL-2.0
/*
 * Drop reasons: skb:kfree_skb. For each freed skb whose reason is reported (see min_reason),
 * in the namespace asked for, whose IP header matches the filter, one record with the reason,
 * the location and the first bytes from the network header goes to the ring buffer.
 *
 * Two programs, one loaded: kfree_skb_reason where the tracepoint has a reason argument
 * (5.17+), kfree_skb_noreason before; the loader picks by the tracepoint's BTF prototype.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "hookdump_drop.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader before load. */
const volatile __u32 min_reason = 0;   /* reasons below are not reported */
const volatile __u64 netns_cookie = 0; /* 0: every namespace */
const volatile __u32 nr_rules = 0;     /* 0: every packet */
/* The filter's rules (hookdump_rule.h), set before load: in .bss, not rodata, so that the
 * matcher the tc/XDP programs share reads them as plain memory (rodata is const volatile). */
struct hd_rule rules[HOOKDUMP_DROP_MAX_RULES];

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HOOKDUMP_DROP_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &which);

	if (v)
		*v += 1;
}

/* The 5-tuple from the network header at @nh, @avail linear bytes. False: not IP. */
static __always_inline bool parse_tuple(const unsigned char *nh, __u32 avail, __u16 protocol,
					struct hd_tuple *t)
{
	__u32 l4off;
	__u8 b[40];

	if (protocol == ETH_P_IP) {
		if (avail < 20 || bpf_probe_read_kernel(b, 20, nh))
			return false;
		if ((b[0] >> 4) != 4 || (b[0] & 0xf) < 5)
			return false;
		t->family = 4;
		t->flags = HOOKDUMP_EV_IP;
		t->proto = b[9];
		__builtin_memcpy(&t->src[0], &b[12], 4);
		__builtin_memcpy(&t->dst[0], &b[16], 4);
		l4off = (b[0] & 0xf) * 4;
		/* non-first fragments carry no transport header */
		if (((b[6] & 0x1f) | b[7]) != 0)
			return true;
	} else if (protocol == ETH_P_IPV6) {
		__u8 next;
		int i;

		if (avail < 40 || bpf_probe_read_kernel(b, 40, nh))
			return false;
		if ((b[0] >> 4) != 6)
			return false;
		t->family = 6;
		t->flags = HOOKDUMP_EV_IP;
		__builtin_memcpy(t->src, &b[8], 16);
		__builtin_memcpy(t->dst, &b[24], 16);
		next = b[6];
		l4off = 40;
		/* hop-by-hop, routing, fragment, destination options, AH: a few at most */
		for (i = 0; i < 4; i++) {
			__u8 e[4];

			if (next != 0 && next != 43 && next != 44 && next != 60 && next != 51)
				break;
			if (l4off + 8 > avail || bpf_probe_read_kernel(e, 4, nh + (l4off & 0x3ff)))
				return true;
			if (next == 44) {
				if (((e[2] << 8) | e[3]) & 0xfff8) {
					t->proto = e[0];
					return true; /* a later fragment */
				}
				l4off += 8;
			} else if (next == 51) {
				l4off += (e[1] + 2) * 4;
			} else {
				l4off += (e[1] + 1) * 8;
			}
			next = e[0];
		}
		t->proto = next;
	} else {
		return false;
	}
	if (hd_proto_has_ports(t->proto) && l4off + 4 <= avail) {
		__u16 p[2];

		if (!bpf_probe_read_kernel(p, 4, nh + (l4off & 0x3ff))) {
			t->sport = bpf_ntohs(p[0]);
			t->dport = bpf_ntohs(p[1]);
			t->flags |= HOOKDUMP_EV_PORTS;
		}
	}
	return true;
}

static __always_inline __u64 skb_netns_cookie(struct sk_buff *skb, struct net_device *dev)
{
	struct net *net = NULL;

	if (!bpf_core_field_exists(struct net, net_cookie))
		return 0;
	if (dev)
		net = BPF_CORE_READ(dev, nd_net.net);
	if (!net) {
		struct sock *sk = BPF_CORE_READ(skb, sk);

		if (sk)
			net = BPF_CORE_READ(sk, __sk_common.skc_net.net);
	}
	return net ? BPF_CORE_READ(net, net_cookie) : 0;
}

static __always_inline int report(struct sk_buff *skb, void *location, __u32 reason)
{
	struct hookdump_drop_event *e;
	struct net_device *dev;
	unsigned char *head, *nh;
	__u32 nh_off, data_off, tail, avail, len, n;
	__u16 protocol;
	struct hd_tuple t = {};
	__u64 cookie;
	bool ip;

	if (reason != HOOKDUMP_DROP_REASON_UNKNOWN && reason < min_reason)
		return 0;
	dev = BPF_CORE_READ(skb, dev);
	cookie = skb_netns_cookie(skb, dev);
	if (netns_cookie && cookie != netns_cookie)
		return 0;
	count(HOOKDUMP_DROP_STAT_SEEN);

	head = BPF_CORE_READ(skb, head);
	nh_off = BPF_CORE_READ(skb, network_header);
	data_off = BPF_CORE_READ(skb, data) - head;
	tail = BPF_CORE_READ(skb, tail); /* an offset on 64-bit kernels */
	len = BPF_CORE_READ(skb, len);
	protocol = bpf_ntohs(BPF_CORE_READ(skb, protocol));
	nh = head + nh_off;
	avail = tail > nh_off ? tail - nh_off : 0;
	/* skb->len counts from skb->data, which may be before or past the network header */
	len = nh_off <= data_off + len ? data_off + len - nh_off : 0;
	if (avail > len)
		avail = len;

	ip = parse_tuple(nh, avail, protocol, &t);
	if (!hd_rule_set_match(rules, nr_rules, HOOKDUMP_DROP_MAX_RULES, &t))
		return 0;
	count(HOOKDUMP_DROP_STAT_MATCHED);

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(HOOKDUMP_DROP_STAT_RB_FULL);
		return 0;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->location = (__u64)location;
	e->netns_cookie = cookie;
	e->reason = reason;
	e->ifindex = dev ? BPF_CORE_READ(dev, ifindex) : 0;
	e->len = len;
	e->protocol = protocol;
	/* two constant-bounded sizes (HDR_MAX is 128): the verifier loses a clamped variable */
	n = ip ? avail : 0;
	if (n >= HOOKDUMP_DROP_HDR_MAX) {
		n = HOOKDUMP_DROP_HDR_MAX;
		if (bpf_probe_read_kernel(e->hdr, HOOKDUMP_DROP_HDR_MAX, nh))
			n = 0;
	} else {
		/* in asm: clang would drop a mask it can prove useless, the verifier needs it */
		asm volatile("%0 &= 0x7f" : "+r"(n));
		if (bpf_probe_read_kernel(e->hdr, n, nh))
			n = 0;
	}
	e->caplen = n;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(kfree_skb_reason, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	return report(skb, location, (__u32)reason);
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(kfree_skb_noreason, struct sk_buff *skb, void *location)
{
	return report(skb, location, HOOKDUMP_DROP_REASON_UNKNOWN);
}
