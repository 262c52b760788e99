// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * hookdump's packet programs: tc (clsact ingress and egress) and XDP. Strictly passive: every
 * program returns TC_ACT_UNSPEC / XDP_PASS and never writes to the packet.
 *
 * Each program (hd_tc_ingress, hd_tc_egress, hd_xdp) counts, parses, applies the rules (the
 * rule model, src/rules/rule.h; the matcher in hookdump_rule.h), asks the filter (hd_filter_skb / hd_filter_xdp)
 * and records. The filter is a pcap-filter expression translated from classic BPF at run time
 * that takes the place of the stub's code when the programs are loaded
 * (src/bpf/filter_splice.cpp): a bpf-to-bpf call, where tail calls to a filter program and from
 * it to a record program cost more than the parse and the record together, and freplace (which
 * xdp-tools' dispatcher uses to the same end) is refused by kernels that refuse tracing programs.
 *
 * The parser is two global functions a program (hd_parse_skb / _xdp: link layer and IP header;
 * hd_parse_l4_skb / _xdp: IPv6 extension headers and the transport header): the verifier checks
 * a global function once, on its own, knowing only its arguments' types (so every bound is
 * checked inside it again), and after the call the caller knows nothing of what it wrote. Inlined,
 * every path through the parse (2 VLAN tags x 6 extension headers, each header read in place or
 * copied out, each with its own offset) was verified again with every path before it and then
 * multiplied the states of all the code after it: 67-205 thousand instructions a program, 0.6-4.9
 * s each in 6.1's verifier under emulation, most of a tc or XDP start (now 2.7-4.6 thousand and
 * 15-130 ms: bench/README.md, "Start-up: the verifier's cost"). A packet pays ~2 ns for it.
 *
 * record: packets mode -> one ring buffer record with up to snaplen bytes; flows mode ->
 * per-CPU hash of 5-tuples (a packet the hash has no room for: a ring buffer record, struct
 * hd_flow_spill). What cannot be recorded is counted per CPU (struct hd_stats).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "hookdump_pkt.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader before load. */
const volatile __u32 cfg_snaplen = 0;		/* bytes of each packet to record */
const volatile __u32 cfg_mode = HD_MODE_PACKETS;
const volatile __u32 cfg_nrules = 0;		/* rules[0..n) in use; 0: no rule */
const volatile __u32 cfg_l3 = 0;		/* the device has no link header */
/* Wake the reader only once this much is waiting (0: every record). A wakeup per record cost
 * the reader a context switch and an epoll round a packet; it drains by timeout otherwise. */
const volatile __u32 cfg_wakeup_bytes = 0;
/* Process attribution (hookdump_proc.h): look each packet's process up in the cgroup programs'
 * maps (the loader gives these programs those maps); the namespace the device is in; the
 * process filters (0 / empty: none), which keep only packets of a known process that matches. */
const volatile __u32 cfg_proc = 0;
const volatile __u64 cfg_netns = 0;
const volatile __u32 cfg_filter_pid = 0;
const volatile __u64 cfg_filter_cgroup = 0;
const volatile __u64 cfg_filter_comm[2] = {}; /* 16 bytes, NUL-padded */

HD_PROC_MAPS;

#define AF_INET 2
#define AF_INET6 10

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24);
} events SEC(".maps");

/* Flow mode counts into one of two per-CPU hashes, the one in `flows`' only slot (IPv4 into
 * one of two with the short key, in `flows4`). Userspace swaps the other in before it reads
 * one: updating a map-in-map waits for every program running (synchronize_rcu), so the map it
 * then reads and empties is no longer written to and no packet counted in it is lost (reading
 * and deleting a live element would race with programs incrementing it on other CPUs). */
struct hd_flow_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct hd_tuple);
	__type(value, struct hd_flow_value);
} flows_a SEC(".maps"), flows_b SEC(".maps");

struct hd_flow_map4 {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct hd_tuple4);
	__type(value, struct hd_flow_value);
} flows4_a SEC(".maps"), flows4_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct hd_flow_map);
} flows SEC(".maps") = {
	.values = { [0] = &flows_a },
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct hd_flow_map4);
} flows4 SEC(".maps") = {
	.values = { [0] = &flows4_a },
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, HOOKDUMP_MAX_RULES);
	__type(key, __u32);
	__type(value, struct hd_rule);
} rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hd_stats);
} stats SEC(".maps");

struct hd_pkt {
	struct hd_tuple t;
	__u8 tcp_flags;
	__u16 l3off;  /* where the IP header starts */
	__u32 ip_len; /* the datagram's length per its header; 0 when it says none (TSO) */
	struct hd_proc proc; /* cfg_proc: the packet's process (tgid 0: none) */
};

static __always_inline long hd_load(void *ctx, int xdp, __u32 off, void *to, __u32 len)
{
	if (xdp)
		return bpf_xdp_load_bytes(ctx, off, to, len);
	return bpf_skb_load_bytes(ctx, off, to, len);
}

static __always_inline struct hd_stats *hd_stats(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&stats, &zero);
}

/* The packet's linear bytes: headers are read in place when they lie there (nearly always),
 * copied out with a helper otherwise (a helper call and a copy cost a third of the parse). */
struct hd_view {
	void *ctx;
	void *data;
	void *end;
	int xdp;
};

static __always_inline void hd_view_init(struct hd_view *v, void *ctx, int xdp)
{
	v->ctx = ctx;
	v->xdp = xdp;
	if (xdp) {
		v->data = (void *)(long)((struct xdp_md *)ctx)->data;
		v->end = (void *)(long)((struct xdp_md *)ctx)->data_end;
	} else {
		v->data = (void *)(long)((struct __sk_buff *)ctx)->data;
		v->end = (void *)(long)((struct __sk_buff *)ctx)->data_end;
	}
}

/* `len` bytes at `off`: a pointer into the packet, else into `buf` after a copy; NULL when the
 * packet is shorter. Offsets past HD_MAX_HDR_OFF always take the copy (the bound the verifier
 * needs for a variable offset into the packet). */
#define HD_MAX_HDR_OFF 1024
static __always_inline void *hd_hdr(const struct hd_view *v, __u32 off, __u32 len, void *buf)
{
	if (off < HD_MAX_HDR_OFF) {
		void *h = v->data + off;

		if (h + len <= v->end)
			return h;
	}
	if (hd_load(v->ctx, v->xdp, off, buf, len) < 0)
		return NULL;
	return buf;
}

/* The extension headers (IPv6), then the transport header at `off`; p->t.proto is what
 * follows the IP header (IPv6: its next header, which the walk replaces). */
static __always_inline void hd_parse_l4(void *ctx, int xdp, struct hd_pkt *p, __u32 off)
{
	struct hd_view v;
	__u8 l4 = p->t.proto;

	hd_view_init(&v, ctx, xdp);
	if (p->t.family == 6) {
		__u8 next = l4;

		/* Extension headers, as src/packet/parse.cpp walks them. */
#pragma unroll
		for (int i = 0; i < 6; i++) {
			__u8 eb[8], *ext;

			if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING && next != IPPROTO_DSTOPTS &&
			    next != IPPROTO_FRAGMENT && next != IPPROTO_AH)
				break;
			ext = hd_hdr(&v, off, sizeof(eb), eb);
			if (!ext) {
				p->t.proto = 0;
				return;
			}
			if (next == IPPROTO_FRAGMENT) {
				__u16 fo = (ext[2] << 8 | ext[3]) & 0xfff8;

				p->t.flags |= HOOKDUMP_EV_FRAG;
				if (fo)
					p->t.flags |= HOOKDUMP_EV_LATER_FRAG;
				off += 8;
			} else if (next == IPPROTO_AH) {
				off += (ext[1] + 2) * 4;
			} else {
				off += (ext[1] + 1) * 8;
			}
			next = ext[0];
		}
		p->t.proto = next;
		l4 = next;
	}

	if (p->t.flags & HOOKDUMP_EV_LATER_FRAG)
		return;
	if (l4 == IPPROTO_TCP) {
		__u8 tb[14], *th = hd_hdr(&v, off, sizeof(tb), tb);

		if (!th)
			return;
		p->t.sport = th[0] << 8 | th[1];
		p->t.dport = th[2] << 8 | th[3];
		p->t.flags |= HOOKDUMP_EV_PORTS;
		p->tcp_flags = th[13];
	} else if (l4 == IPPROTO_UDP || l4 == IPPROTO_UDPLITE || l4 == IPPROTO_SCTP ||
		   l4 == IPPROTO_DCCP) {
		__u8 pb[4], *ports = hd_hdr(&v, off, sizeof(pb), pb);

		if (!ports)
			return;
		p->t.sport = ports[0] << 8 | ports[1];
		p->t.dport = ports[2] << 8 | ports[3];
		p->t.flags |= HOOKDUMP_EV_PORTS;
	} else if (l4 == IPPROTO_ICMP || l4 == IPPROTO_ICMPV6) {
		__u8 cb[2], *tc = hd_hdr(&v, off, sizeof(cb), cb);

		if (!tc)
			return;
		p->t.dport = tc[0] << 8 | tc[1];
		p->t.flags |= HOOKDUMP_EV_ICMP;
	}
}

/* Global functions (see the top), one per context type: the verifier knows a global
 * function's context argument by its type only. */
__noinline int hd_parse_l4_skb(struct __sk_buff *skb, struct hd_pkt *p, __u32 off)
{
	if (!skb || !p)
		return 0;
	hd_parse_l4(skb, 0, p, off);
	return 0;
}

__noinline int hd_parse_l4_xdp(struct xdp_md *ctx, struct hd_pkt *p, __u32 off)
{
	if (!ctx || !p)
		return 0;
	hd_parse_l4(ctx, 1, p, off);
	return 0;
}

/* Link layer -> IP -> transport ports and TCP flags; what is missing stays zero. `p` comes
 * zeroed. What follows the IP header is hd_parse_l4's, given the offset. */
static __always_inline void hd_parse(void *ctx, int xdp, struct hd_pkt *p)
{
	struct hd_view v;
	__u32 off = 0;
	__u16 proto = 0;

	hd_view_init(&v, ctx, xdp);
	if (cfg_l3) {
		__u8 b, *vp = hd_hdr(&v, 0, 1, &b);

		if (!vp)
			return;
		proto = (*vp >> 4) == 4 ? ETH_P_IP : (*vp >> 4) == 6 ? ETH_P_IPV6 : 0;
	} else {
		struct ethhdr eb, *eth = hd_hdr(&v, 0, sizeof(eb), &eb);

		if (!eth)
			return;
		proto = bpf_ntohs(eth->h_proto);
		off = sizeof(*eth);
		/* Tags in the frame (XDP; at tc a frame sent with its tag in it, or the inner
		 * tag of two: the outer one is in the skb's metadata, see hd_skb_vtag). */
#pragma unroll
		for (int i = 0; i < 2; i++) {
			__be16 tb[2], *tag;

			if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
				break;
			tag = hd_hdr(&v, off, sizeof(tb), tb);
			if (!tag)
				return;
			proto = bpf_ntohs(tag[1]);
			off += 4;
		}
	}

	if (proto == ETH_P_IP) {
		struct iphdr ib, *ip = hd_hdr(&v, off, sizeof(ib), &ib);
		__u16 frag;

		if (!ip || ip->version != 4 || ip->ihl < 5)
			return;
		p->t.family = 4;
		p->t.flags |= HOOKDUMP_EV_IP;
		p->l3off = off;
		p->ip_len = bpf_ntohs(ip->tot_len);
		p->t.src[0] = ip->saddr;
		p->t.dst[0] = ip->daddr;
		p->t.proto = ip->protocol;
		frag = bpf_ntohs(ip->frag_off);
		if (frag & 0x3fff)
			p->t.flags |= HOOKDUMP_EV_FRAG;
		if (frag & 0x1fff)
			p->t.flags |= HOOKDUMP_EV_LATER_FRAG;
		off += ip->ihl * 4;
	} else if (proto == ETH_P_IPV6) {
		struct ipv6hdr ib, *ip6 = hd_hdr(&v, off, sizeof(ib), &ib);

		if (!ip6 || ip6->version != 6)
			return;
		p->t.family = 6;
		p->t.flags |= HOOKDUMP_EV_IP;
		p->l3off = off;
		if (ip6->payload_len)
			p->ip_len = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
		__builtin_memcpy(p->t.src, &ip6->saddr, 16);
		__builtin_memcpy(p->t.dst, &ip6->daddr, 16);
		p->t.proto = ip6->nexthdr;
		off += sizeof(*ip6);
	} else {
		return;
	}
	if (xdp)
		hd_parse_l4_xdp(ctx, p, off);
	else
		hd_parse_l4_skb(ctx, p, off);
}

struct hd_rules_ctx {
	struct hd_tuple t;
	int match;
};

static long hd_rule_cb(__u32 i, void *data)
{
	struct hd_rules_ctx *c = data;
	const struct hd_rule *r = bpf_map_lookup_elem(&rules, &i);

	if (!r)
		return 1;
	if (hd_rule_match(r, &c->t)) {
		c->match = 1;
		return 1;
	}
	return 0;
}

/* bpf_loop (5.17+): 6.1's verifier takes an open-coded loop over the rules for an infinite one. */
static __always_inline int hd_rules_match(const struct hd_tuple *t)
{
	struct hd_rules_ctx c = { .t = *t };

	if (!cfg_nrules)
		return 1;
	bpf_loop(cfg_nrules, hd_rule_cb, &c, 0);
	return c.match;
}

/* A flow's first packet reads the clock; later ones the coarse clock (the same CLOCK_MONOTONIC
 * at the last tick; last never goes below first): the precise read cost a flow packet as much
 * as its hash lookup. The coarse clock moves only at a tick, so it is read once a tick a flow
 * (jiffies, which the JIT inlines, says when: the coarse read itself costs ~7 ns here); a
 * tick's update racing with that read can leave last_ns a tick further behind. */
/* 0 when the packet is counted in the hash; -1 when its flow is not in it and does not fit. */
static __always_inline int hd_count_in(void *flows_now, const void *key, const struct hd_pkt *p,
				       __u32 len, __u32 ip_len, __u64 *added)
{
	struct hd_flow_value *v;

	if (!flows_now)
		return -1;
	v = bpf_map_lookup_elem(flows_now, key);
	if (!v) {
		__u64 now = bpf_ktime_get_ns();
		struct hd_flow_value nv = {
			.packets = 1, .bytes = len, .ip_bytes = ip_len, .first_ns = now,
			.last_ns = now,
			.tcp_flags = p->tcp_flags, .last_tick = (__u32)bpf_jiffies64(),
		};
		long err = bpf_map_update_elem(flows_now, key, &nv, BPF_NOEXIST);

		if (!err) {
			(*added)++;
			return 0;
		}
		if (err != -EEXIST)
			return -1;
		/* Another CPU created it meanwhile: this CPU's share exists now. */
		v = bpf_map_lookup_elem(flows_now, key);
		if (!v)
			return -1;
	}
	v->packets++;
	v->bytes += len;
	v->ip_bytes += ip_len;
	if (!v->first_ns) {
		/* This CPU's share of a flow another CPU created, zeroed at creation. */
		v->first_ns = bpf_ktime_get_ns();
		v->last_ns = v->first_ns;
	} else {
		__u32 tick = (__u32)bpf_jiffies64();

		if (tick != v->last_tick) {
			__u64 now = bpf_ktime_get_coarse_ns();

			v->last_tick = tick;
			if (now > v->last_ns)
				v->last_ns = now;
		}
	}
	v->tcp_flags |= p->tcp_flags;
	return 0;
}

static __always_inline void hd_submit(void *r)
{
	bpf_ringbuf_submit(r, cfg_wakeup_bytes &&
			   bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) < cfg_wakeup_bytes ?
			   BPF_RB_NO_WAKEUP : 0);
}

/* A packet the hash has no room for goes through the ring to userspace's table (a flood of new
 * flows outgrows any hash the kernel can afford per CPU); lost only when the ring is full too. */
static __always_inline void hd_spill_flow(const struct hd_pkt *p, __u8 point, __u32 len,
					  __u32 ip_len, struct hd_stats *st)
{
	struct hd_flow_spill *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);

	if (!r) {
		st->flow_full++;
		return;
	}
	r->ts_ns = bpf_ktime_get_ns();
	r->len = len;
	r->ip_len = ip_len;
	r->point = point;
	r->tcp_flags = p->tcp_flags;
	r->pad = 0;
	r->pad2 = 0;
	r->tuple = p->t;
	r->tuple.point = point;
	st->flow_spilled++;
	hd_submit(r);
}

static __always_inline void hd_count_flow(const struct hd_pkt *p, __u8 point, __u32 len,
					  __u32 skb_len, struct hd_stats *st)
{
	/* The header's length; what the skb holds from the IP header on when it gives none. */
	__u32 ip_len = p->ip_len ?: (skb_len > p->l3off ? skb_len - p->l3off : 0);
	__u32 zero = 0;

	if (p->t.family == 4) {
		struct hd_tuple4 k = {
			.src = p->t.src[0], .dst = p->t.dst[0], .sport = p->t.sport,
			.dport = p->t.dport, .proto = p->t.proto, .flags = p->t.flags,
			.point = point,
		};

		if (hd_count_in(bpf_map_lookup_elem(&flows4, &zero), &k, p, len, ip_len,
				&st->flows_new4))
			hd_spill_flow(p, point, len, ip_len, st);
	} else {
		struct hd_tuple k = p->t;

		k.point = point;
		if (hd_count_in(bpf_map_lookup_elem(&flows, &zero), &k, p, len, ip_len,
				&st->flows_new))
			hd_spill_flow(p, point, len, ip_len, st);
	}
}

/* The fields every packet record has, whatever bytes follow. */
static __always_inline void hd_record_head(struct hd_record *r, const struct hd_pkt *p,
					   __u8 point, __u32 ifindex, __u32 len)
{
	r->ts_ns = bpf_ktime_get_ns();
	r->ifindex = ifindex;
	r->len = len;
	r->point = point;
	r->tcp_flags = p->tcp_flags;
	r->pad = 0;
	r->tuple = p->t;
	r->proc = p->proc;
}

/* Reserves a record with room for `room` bytes (a constant power of two or 0, as the verifier
 * wants) and copies `cap` (1..room) bytes of the packet into it. */
static __always_inline void hd_emit_n(void *ctx, int xdp, const struct hd_pkt *p, __u8 point,
				      __u32 ifindex, __u32 len, __u32 cap, const __u32 room,
				      struct hd_stats *st)
{
	struct hd_record *r = bpf_ringbuf_reserve(&events, sizeof(*r) + room, 0);

	if (!r) {
		st->ringbuf_full++;
		return;
	}
	hd_record_head(r, p, point, ifindex, len);
	if (room) {
		/* 1 <= cap <= room by the caller's size class; the barrier hides that from clang,
		 * and the mask shows it to the verifier (6.1's does not follow clang's compares). */
		__u64 n = cap;

		asm volatile("" : "+r"(n));
		n = ((n - 1) & (room - 1)) + 1;
		if (hd_load(ctx, xdp, 0, (void *)(r + 1), n) < 0)
			n = 0;
		r->caplen = n;
	} else {
		r->caplen = 0;
	}
	hd_submit(r);
}

/* As hd_emit_n, for a tc packet whose outermost VLAN tag the kernel keeps in the skb's
 * metadata: the record holds the frame as it was on the wire, the tag `vtag` (TPID and TCI in
 * network order) put back after the MAC addresses. `cap` (12..room) bytes come from the skb,
 * 4 from the tag, as AF_PACKET (and libpcap) do: snaplen applies to the skb's bytes. */
static __always_inline void hd_emit_vlan_n(void *ctx, const struct hd_pkt *p, __u8 point,
					   __u32 ifindex, __u32 len, __u32 cap, const __u32 room,
					   __u32 vtag, struct hd_stats *st)
{
	struct hd_record *r = bpf_ringbuf_reserve(&events, sizeof(*r) + room + 16, 0);
	__u8 *b;
	__u64 n = cap;

	if (!r) {
		st->ringbuf_full++;
		return;
	}
	hd_record_head(r, p, point, ifindex, len);
	b = (__u8 *)(r + 1);
	r->caplen = 0;
	if (bpf_skb_load_bytes(ctx, 0, b, 12) == 0) {
		__builtin_memcpy(b + 12, &vtag, 4);
		r->caplen = 16;
		asm volatile("" : "+r"(n));
		if (n > 12) {
			/* 1 <= n - 12 <= room, the mask shows it to the verifier (see hd_emit_n). */
			n = ((n - 12 - 1) & (room - 1)) + 1;
			if (bpf_skb_load_bytes(ctx, 12, b + 16, n) == 0)
				r->caplen = 16 + n;
			else
				r->caplen = 0;
		}
	}
	hd_submit(r);
}

/* `len` is the packet's length in the skb (or the XDP frame); `vtag`, when not 0, the VLAN tag
 * the kernel took out of the frame before tc (skb metadata), counted in the length on the
 * wire and put back in the recorded bytes. */
static __always_inline void hd_record(void *ctx, int xdp, const struct hd_pkt *p, __u8 point,
				      __u32 ifindex, __u32 len, __u32 vtag, struct hd_stats *st)
{
	__u32 cap, wire = vtag ? len + 4 : len;

	st->matched++;
	if (cfg_mode == HD_MODE_FLOWS) {
		hd_count_flow(p, point, wire, len, st);
		return;
	}
	cap = len < cfg_snaplen ? len : cfg_snaplen;
	/* A snaplen shorter than the MAC addresses leaves no room for the tag: as AF_PACKET. */
	if (cap < 12)
		vtag = 0;
	/* Size classes: a record takes at most twice the room its bytes need. */
#define HD_CLASS(n)                                                                          \
	if (cap <= (n)) {                                                                    \
		if ((n) && vtag)                                                             \
			hd_emit_vlan_n(ctx, p, point, ifindex, wire, cap, (n), vtag, st);    \
		else                                                                         \
			hd_emit_n(ctx, xdp, p, point, ifindex, wire, cap, (n), st);          \
		return;                                                                      \
	}
	HD_CLASS(0)
	HD_CLASS(128)
	HD_CLASS(256)
	HD_CLASS(512)
	HD_CLASS(1024)
	HD_CLASS(2048)
	HD_CLASS(4096)
	HD_CLASS(8192)
	HD_CLASS(16384)
	HD_CLASS(32768)
#undef HD_CLASS
	if (cap > 65536)
		cap = 65536;
	if (vtag)
		hd_emit_vlan_n(ctx, p, point, ifindex, wire, cap, 65536, vtag, st);
	else
		hd_emit_n(ctx, xdp, p, point, ifindex, wire, cap, 65536, st);
}

/* The process of a packet's socket, never a guess: at egress the skb's own socket (none for a
 * forwarded packet; the kernel's control sockets, which send resets and ICMP errors, have no
 * entry); at ingress the socket bound to the destination (address and port, else the wildcard
 * address and port, then only when the route says the destination is local: a forwarded
 * packet's port may be one a local socket is bound to). */
static __always_inline int hd_dst_local(struct __sk_buff *skb, const struct hd_tuple *t)
{
	struct bpf_fib_lookup f = {};
	long ret;

	f.ifindex = skb->ifindex;
	f.l4_protocol = t->proto;
	f.sport = bpf_htons(t->sport);
	f.dport = bpf_htons(t->dport);
	if (t->family == 4) {
		f.family = AF_INET;
		f.ipv4_src = t->src[0];
		f.ipv4_dst = t->dst[0];
	} else {
		f.family = AF_INET6;
		__builtin_memcpy(f.ipv6_src, t->src, 16);
		__builtin_memcpy(f.ipv6_dst, t->dst, 16);
	}
	ret = bpf_fib_lookup(skb, &f, sizeof(f), 0);
	/* Local (not forwarded); or forwarding is off, so the packet is not forwarded either. */
	return ret == BPF_FIB_LKUP_RET_NOT_FWDED || ret == BPF_FIB_LKUP_RET_FWD_DISABLED;
}

static __always_inline int hd_proc_lookup(struct __sk_buff *skb, __u8 point,
					  const struct hd_tuple *t, struct hd_proc *out)
{
	if (point == HD_POINT_TC_EGRESS) {
		__u64 cookie = bpf_get_socket_cookie(skb);
		struct hd_sock_value *sv;

		if (!cookie)
			return 0;
		sv = bpf_map_lookup_elem(&hd_socks, &cookie);
		if (!sv || sv->netns != cfg_netns)
			return 0;
		*out = sv->proc;
		return 1;
	}
	if (!(t->flags & HOOKDUMP_EV_PORTS) || (t->proto != IPPROTO_TCP && t->proto != IPPROTO_UDP))
		return 0;
	{
		struct hd_sock_key k = {
			.netns = cfg_netns, .port = t->dport, .family = t->family, .proto = t->proto,
		};
		struct hd_port_value *pv;

		__builtin_memcpy(k.addr, t->dst, 16);
		pv = bpf_map_lookup_elem(&hd_ports, &k);
		if (!pv || pv->released_ns) {
			__builtin_memset(k.addr, 0, 16);
			pv = bpf_map_lookup_elem(&hd_ports, &k);
			if (!pv || pv->released_ns || !hd_dst_local(skb, t))
				return 0;
		}
		*out = pv->proc;
		return 1;
	}
}

/* The process filters: a packet of no known process never matches one. */
static __always_inline int hd_proc_match(const struct hd_proc *pr, int known)
{
	if (!cfg_filter_pid && !cfg_filter_cgroup && !cfg_filter_comm[0] && !cfg_filter_comm[1])
		return 1;
	if (!known)
		return 0;
	if (cfg_filter_pid && pr->tgid != cfg_filter_pid)
		return 0;
	if (cfg_filter_cgroup && pr->cgroup_id != cfg_filter_cgroup)
		return 0;
	if (cfg_filter_comm[0] || cfg_filter_comm[1]) {
		__u64 c[2];

		__builtin_memcpy(c, pr->comm, 16);
		if (c[0] != cfg_filter_comm[0] || c[1] != cfg_filter_comm[1])
			return 0;
	}
	return 1;
}

/* The filter stubs: as compiled they accept every packet; with an expression, its translation
 * replaces a stub's code (see the top), found by its magic number. Global functions: the
 * verifier checks them on their own, with the context as their argument, as it then checks the
 * translation. Each must stay the last subprogram the program calls (libbpf appends them in
 * the order of their calls): the loader says so when it is not. */
__noinline int hd_filter_skb(struct __sk_buff *skb)
{
	volatile __u32 magic = HD_FILTER_STUB_MAGIC;

	return skb && magic ? 1 : 0;
}

__noinline int hd_filter_xdp(struct xdp_md *ctx)
{
	volatile __u32 magic = HD_FILTER_STUB_MAGIC;

	return ctx && magic ? 1 : 0;
}

/* The parser's entry, a global function per context type as hd_parse_l4_skb/_xdp. */
__noinline int hd_parse_skb(struct __sk_buff *skb, struct hd_pkt *p)
{
	if (!skb || !p)
		return 0;
	hd_parse(skb, 0, p);
	return 0;
}

__noinline int hd_parse_xdp(struct xdp_md *ctx, struct hd_pkt *p)
{
	if (!ctx || !p)
		return 0;
	hd_parse(ctx, 1, p);
	return 0;
}

static __always_inline void hd_entry(void *ctx, int xdp, __u8 point, __u32 ifindex, __u32 len,
				     __u32 vtag)
{
	struct hd_stats *st = hd_stats();
	struct hd_pkt p = {};

	if (!st)
		return;
	st->seen++;
	if (xdp)
		hd_parse_xdp(ctx, &p);
	else
		hd_parse_skb(ctx, &p);
	if (!hd_rules_match(&p.t))
		return;
	if (!(xdp ? hd_filter_xdp(ctx) : hd_filter_skb(ctx)))
		return;
	if (cfg_proc && !xdp) {
		int known = hd_proc_lookup(ctx, point, &p.t, &p.proc);

		if (!hd_proc_match(&p.proc, known))
			return;
		if (known)
			st->proc_known++;
		else
			__builtin_memset(&p.proc, 0, sizeof(p.proc));
	}
	hd_record(ctx, xdp, &p, point, ifindex, len, vtag, st);
}

/* The outermost VLAN tag when the kernel holds it in the skb's metadata (always so at tc
 * ingress: __netif_receive_skb_core untags before tc; at egress when the VLAN device or the
 * stack left it for the driver to insert), as the 4 bytes it had on the wire; 0 otherwise. */
static __always_inline __u32 hd_skb_vtag(const struct __sk_buff *skb)
{
	__u16 tag[2];
	__u32 v;

	if (!skb->vlan_present)
		return 0;
	tag[0] = skb->vlan_proto; /* already network order */
	tag[1] = bpf_htons(skb->vlan_tci);
	__builtin_memcpy(&v, tag, 4);
	return v;
}

SEC("tc")
int hd_tc_ingress(struct __sk_buff *skb)
{
	hd_entry(skb, 0, HD_POINT_TC_INGRESS, skb->ifindex, skb->len, hd_skb_vtag(skb));
	return TC_ACT_UNSPEC;
}

SEC("tc")
int hd_tc_egress(struct __sk_buff *skb)
{
	hd_entry(skb, 0, HD_POINT_TC_EGRESS, skb->ifindex, skb->len, hd_skb_vtag(skb));
	return TC_ACT_UNSPEC;
}

/* XDP sees the frame as the driver hands it over: a tag in the frame is in the bytes; a tag
 * the NIC (or veth, from its peer's metadata) keeps aside is not visible here at all. */
SEC("xdp")
int hd_xdp(struct xdp_md *ctx)
{
	hd_entry(ctx, 1, HD_POINT_XDP, ctx->ingress_ifindex, bpf_xdp_get_buff_len(ctx), 0);
	return XDP_PASS;
}
