// SPDX-License-Identifier: GPL-2.0
/*
 * hookdump.ko: observe packets at the netfilter hooks, keep those that userspace rules ask
 * for, and stream their 5-tuples (and optionally bytes) over generic netlink: unicast to a
 * capture session and multicast to passive listeners.
 *
 * Modelled on net/netfilter/nfnetlink_log.c: per-netns state, RCU on the packet path,
 * batching by count and timer, a NETLINK_URELEASE notifier, reverse-order unwinding. As an
 * nfnetlink_log instance belongs to its port, the rules a capture session adds belong to the
 * session's port and go with it.
 * The module only observes: every hook returns NF_ACCEPT and never touches the packet.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <linux/netlink.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <linux/percpu.h>
#include <linux/rculist.h>
#include <linux/timer.h>
#include <linux/skbuff.h>
#include <linux/sched.h>
#include <linux/sched/clock.h>
#include <linux/cgroup.h>
#include <linux/suspend.h>
#include <net/genetlink.h>
#include <net/netns/generic.h>
#include <net/net_namespace.h>
#include <net/ipv6.h>
#include <net/sock.h>

#include "compat.h"
#include "hookdump.h"
#include "hookdump_clock.h"
#include "hookdump_target.h"

static unsigned int batch_events = 320;
module_param(batch_events, uint, 0644);
MODULE_PARM_DESC(batch_events, "Events per netlink message before it is sent (default 320)");

static unsigned int flush_ms = 10;
module_param(flush_ms, uint, 0644);
MODULE_PARM_DESC(flush_ms, "Longest time an event waits in a batch, in ms (default 10)");

/* A batch's skb is sized for batch_events events, up to this (nfnetlink_log's largest). */
#define HD_BATCH_MAX_BYTES	(128 * 1024)
#define HD_NFAMILIES	2	/* index 0: IPv4, 1: IPv6 */
#define HD_NSLOTS	HOOKDUMP_SLOT_COUNT

struct hd_rule {
	struct list_head list;
	struct rcu_head rcu;
	u32 id;
	u8 family;		/* 0: both */
	u8 proto;
	bool has_proto;
	bool has_src, has_dst;
	u8 src_plen, dst_plen;
	union nf_inet_addr src, dst;
	u16 sport_min, sport_max, dport_min, dport_max;
	int iif, oif;
	u32 hooks;
	u32 slots;
	u32 snaplen;
	s32 priority;		/* for HOOKDUMP_SLOT_CUSTOM */
	u32 owner;		/* the session's portid; 0: kept until deleted */
	u64 __percpu *hits;
};

/* A batch's events take their time from one CLOCK_REALTIME read when the batch starts, plus
 * this CPU's local_clock() since then: a clock read per batch, not per event.
 */
struct hd_batch {
	spinlock_t lock;	/* this CPU's packet path (BH off) against the flushes */
	struct sk_buff *skb;
	unsigned int count;
	unsigned int held;	/* bytes the last batch held: the next one's size */
	struct hd_clock clock;	/* the events' timestamps (hookdump_clock.h) */
	int clock_epoch;	/* hd_clock_epoch when the batch's clock started */
};

struct hd_net;

/* What a registered hook knows about itself (nf_hook_ops.priv). */
struct hd_hookctx {
	struct hd_net *hn;
	u32 nrules;		/* rules that want this hook; READ_ONCE on the packet path */
	u8 family;		/* AF_INET, AF_INET6 */
	u8 hook;
	u8 slot;
};

struct hd_net {
	struct net *net;
	struct mutex lock;		/* rules list writers, hook registration */
	struct list_head rules;		/* RCU readers on the packet path */
	u32 next_rule_id;
	u32 session_portid;		/* 0: no session; READ_ONCE on the packet path */
	s32 custom_priority;		/* of the registered HOOKDUMP_SLOT_CUSTOM hooks */
	u32 nrules, nhooks;		/* gauges for STATS_GET */
	struct nf_hook_ops ops[HD_NFAMILIES][HOOKDUMP_HOOK_COUNT][HD_NSLOTS];
	struct hd_hookctx ctx[HD_NFAMILIES][HOOKDUMP_HOOK_COUNT][HD_NSLOTS];
	bool registered[HD_NFAMILIES][HOOKDUMP_HOOK_COUNT][HD_NSLOTS];
	struct hd_batch __percpu *batch;
	u64 __percpu *stats;		/* [HOOKDUMP_STATS_A_MAX + 1] per CPU */
	struct timer_list flush_timer;
};

static unsigned int hd_net_id __read_mostly;
static struct genl_family hd_family;

static void hd_stat_add(struct hd_net *hn, int which, u64 n)
{
	this_cpu_add(hn->stats[which], n);
}

/* ---- packet path ---------------------------------------------------------------------- */

static bool prefix_match(const union nf_inet_addr *a, const union nf_inet_addr *p,
			 unsigned int plen, unsigned int alen)
{
	unsigned int bytes = plen / 8, bits = plen % 8;

	if (plen > alen * 8)
		return false;
	if (memcmp(a, p, bytes))
		return false;
	if (bits) {
		u8 mask = 0xff << (8 - bits);

		if ((((const u8 *)a)[bytes] ^ ((const u8 *)p)[bytes]) & mask)
			return false;
	}
	return true;
}

/* The part of a rule that the IP header and the hook decide: tried before anything is parsed. */
static bool rule_matches_l3(const struct hd_rule *r, const struct hd_hookctx *ctx,
			    const void *src, const void *dst, int iif, int oif)
{
	unsigned int alen = ctx->family == AF_INET ? 4 : 16;

	if (!(r->hooks & (1u << ctx->hook)) || !(r->slots & (1u << ctx->slot)))
		return false;
	if (r->family && r->family != ctx->family)
		return false;
	if (r->has_src && !prefix_match(src, &r->src, r->src_plen, alen))
		return false;
	if (r->has_dst && !prefix_match(dst, &r->dst, r->dst_plen, alen))
		return false;
	if (r->iif && r->iif != iif)
		return false;
	if (r->oif && r->oif != oif)
		return false;
	return true;
}

/* The rest, on the parsed event, for a rule that rule_matches_l3() accepted. */
static bool rule_matches_l4(const struct hd_rule *r, const struct hookdump_event *ev)
{
	if (r->has_proto && r->proto != ev->proto)
		return false;
	if (r->sport_min || r->sport_max != 0xffff) {
		if (!(ev->flags & HOOKDUMP_EV_PORTS) ||
		    ev->sport < r->sport_min || ev->sport > r->sport_max)
			return false;
	}
	if (r->dport_min || r->dport_max != 0xffff) {
		if (!(ev->flags & HOOKDUMP_EV_PORTS) ||
		    ev->dport < r->dport_min || ev->dport > r->dport_max)
			return false;
	}
	return true;
}

/* Ports or ICMP type/code of the transport header at @thoff, when it is complete. */
static void parse_l4(const struct sk_buff *skb, unsigned int thoff, struct hookdump_event *ev)
{
	unsigned int need;
	u8 buf[4];
	const u8 *p;

	switch (ev->proto) {
	case IPPROTO_TCP:
		need = 20;
		break;
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
		need = 8;
		break;
	case IPPROTO_SCTP:
	case IPPROTO_DCCP:
		need = 12;
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		need = 8;
		break;
	default:
		return;
	}
	if (skb->len < thoff + need) {
		ev->flags |= HOOKDUMP_EV_TRUNCATED;
		return;
	}
	p = skb_header_pointer(skb, thoff, sizeof(buf), buf);
	if (!p) {
		ev->flags |= HOOKDUMP_EV_TRUNCATED;
		return;
	}
	if (ev->proto == IPPROTO_ICMP || ev->proto == IPPROTO_ICMPV6) {
		ev->icmp_type = p[0];
		ev->icmp_code = p[1];
		ev->flags |= HOOKDUMP_EV_ICMP;
	} else {
		ev->sport = (p[0] << 8) | p[1];
		ev->dport = (p[2] << 8) | p[3];
		ev->flags |= HOOKDUMP_EV_PORTS;
	}
}

/* Fills the 5-tuple from the network header @nh that hd_hook() already has in hand. */
static void parse_packet(const struct sk_buff *skb, u8 family, const void *nh,
			 struct hookdump_event *ev)
{
	unsigned int noff = skb_network_offset(skb);

	ev->family = family;
	if (family == AF_INET) {
		const struct iphdr *iph = nh;
		u16 frag = ntohs(iph->frag_off);

		memcpy(ev->src, &iph->saddr, 4);
		memcpy(ev->dst, &iph->daddr, 4);
		ev->proto = iph->protocol;
		if (frag & (IP_MF | IP_OFFSET))
			ev->flags |= HOOKDUMP_EV_FRAG;
		ev->thoff = iph->ihl * 4;
		if (frag & IP_OFFSET) {
			ev->flags |= HOOKDUMP_EV_LATER_FRAG;
			return;
		}
		parse_l4(skb, noff + iph->ihl * 4, ev);
	} else {
		const struct ipv6hdr *ip6h = nh;
		unsigned int thoff = 0;
		unsigned short fragoff = 0;
		int flags = 0, proto;

		memcpy(ev->src, &ip6h->saddr, 16);
		memcpy(ev->dst, &ip6h->daddr, 16);
		proto = ipv6_find_hdr(skb, &thoff, -1, &fragoff, &flags);
		if (flags & IP6_FH_F_FRAG)
			ev->flags |= HOOKDUMP_EV_FRAG;
		if (proto < 0) {
			ev->proto = ip6h->nexthdr;
			ev->flags |= HOOKDUMP_EV_TRUNCATED;
			return;
		}
		ev->proto = proto;
		ev->thoff = thoff - noff;
		if (fragoff) {
			ev->flags |= HOOKDUMP_EV_LATER_FRAG;
			return;
		}
		parse_l4(skb, thoff, ev);
	}
}

/* Hands a finished batch to the session and the listeners. Called without batch locks. */
static void hd_send(struct hd_net *hn, struct sk_buff *skb, unsigned int count)
{
	struct net *net = hn->net;
	u32 portid = READ_ONCE(hn->session_portid);
	int err;

	hd_stat_add(hn, HOOKDUMP_STATS_A_BATCHES, 1);
	if (genl_has_listeners(&hd_family, net, 0)) {
		struct sk_buff *mc = portid ? skb_clone(skb, GFP_ATOMIC) : skb;

		if (mc)
			genlmsg_multicast_netns(&hd_family, net, mc, 0, 0, GFP_ATOMIC);
		if (!portid)
			return;
	}
	if (!portid) {
		hd_stat_add(hn, HOOKDUMP_STATS_A_DROP_NOSESSION, count);
		kfree_skb(skb);
		return;
	}
	err = genlmsg_unicast(net, skb, portid);
	if (err)
		hd_stat_add(hn, HOOKDUMP_STATS_A_DROP_NOBUFS, count);
	else
		hd_stat_add(hn, HOOKDUMP_STATS_A_DELIVERED, count);
}

/* Takes the batch under construction out of @b, finished; NULL when empty. */
static struct sk_buff *hd_batch_take(struct hd_batch *b, unsigned int *count)
{
	struct sk_buff *skb = b->skb;

	if (!skb)
		return NULL;
	nlmsg_end(skb, (struct nlmsghdr *)skb->data);
	b->held = skb->len;
	*count = b->count;
	b->skb = NULL;
	b->count = 0;
	return skb;
}

static void hd_flush_all(struct hd_net *hn)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct hd_batch *b = per_cpu_ptr(hn->batch, cpu);
		struct sk_buff *skb;
		unsigned int count = 0;

		spin_lock_bh(&b->lock);
		skb = hd_batch_take(b, &count);
		spin_unlock_bh(&b->lock);
		if (skb)
			hd_send(hn, skb, count);
	}
}

static void hd_flush_timer(struct timer_list *t)
{
	struct hd_net *hn = from_timer(hn, t, flush_timer);

	hd_flush_all(hn);
}

/* Whether anyone would receive a batch: the session or a listener of the multicast group. */
static bool hd_listened(const struct hd_net *hn)
{
	return READ_ONCE(hn->session_portid) || genl_has_listeners(&hd_family, hn->net, 0);
}

/* Bumped after a suspend or hibernation: local_clock() does not count the time asleep, so a
 * batch begun before it reads the real time again for its next event.
 */
static atomic_t hd_clock_epoch = ATOMIC_INIT(0);

static int hd_pm_event(struct notifier_block *nb, unsigned long action, void *data)
{
	if (action == PM_POST_SUSPEND || action == PM_POST_HIBERNATION ||
	    action == PM_POST_RESTORE)
		atomic_inc(&hd_clock_epoch);
	return NOTIFY_DONE;
}

static struct notifier_block hd_pm_notifier = {
	.notifier_call = hd_pm_event,
};

static void hd_batch_clock(struct hd_batch *b)
{
	b->clock_epoch = atomic_read(&hd_clock_epoch);
	hd_clock_start(&b->clock, ktime_get_real_ns(), local_clock());
}

/* The time of an event put in @b now. */
static u64 hd_batch_stamp(struct hd_batch *b)
{
	if (unlikely(b->clock_epoch != atomic_read(&hd_clock_epoch)))
		hd_batch_clock(b);
	return hd_clock_stamp(&b->clock, local_clock());
}

/* A new batch for @b, sized from what the last one held (half as much again), up to room for
 * batch_events events of @attr bytes: fewer, bigger messages cost the reader fewer wakeups,
 * and every byte allocated is zeroed (init_on_alloc), used or not: a batch the timer flushed
 * with a few events makes the next one small. At least a page (NLMSG_DEFAULT_SIZE leaves room
 * for the headers in one); when memory is short, that will do.
 */
static struct sk_buff *hd_batch_alloc(struct hd_batch *b, size_t attr)
{
	size_t one = max_t(size_t, NLMSG_DEFAULT_SIZE - GENL_HDRLEN, nla_total_size(attr));
	size_t want = (size_t)READ_ONCE(batch_events) * nla_total_size(attr);
	struct sk_buff *skb = NULL;

	if (b->held)
		want = min_t(size_t, want, b->held + b->held / 2);
	want = clamp_t(size_t, want, one, max_t(size_t, one, HD_BATCH_MAX_BYTES));
	if (want > one)
		skb = genlmsg_new(want, GFP_ATOMIC | __GFP_NOWARN);
	if (!skb)
		skb = genlmsg_new(one, GFP_ATOMIC);
	if (!skb)
		return NULL;
	if (!genlmsg_put(skb, 0, 0, &hd_family, 0, HOOKDUMP_CMD_EVENTS)) {
		kfree_skb(skb);
		return NULL;
	}
	hd_batch_clock(b);
	return skb;
}

/* Puts one event (and the label of the -j HOOKDUMP rule that made it, and its sender, if any)
 * in this CPU's batch; its attributes go in together or not at all.
 */
static void hd_record(struct hd_net *hn, const struct sk_buff *skb, struct hookdump_event *ev,
		      u32 snaplen, const char *label, const struct hookdump_event_proc *proc)
{
	unsigned int caplen = min(snaplen, skb->len - skb_network_offset(skb));
	size_t attr = sizeof(*ev) + caplen;
	size_t lablen = label && label[0] ? strlen(label) + 1 : 0;
	size_t room = nla_total_size(attr) + (lablen ? nla_total_size(lablen) : 0) +
		      (proc ? nla_total_size(sizeof(*proc)) : 0);
	struct sk_buff *full = NULL, *done = NULL;
	unsigned int full_count = 0, done_count = 0;
	struct hd_batch *b;
	struct nlattr *nla;

	ev->caplen = caplen;
	local_bh_disable();
	b = this_cpu_ptr(hn->batch);
	spin_lock(&b->lock);
	if (b->skb && skb_tailroom(b->skb) < room)
		full = hd_batch_take(b, &full_count);
	if (!b->skb) {
		/* The batch was made for a session or listener: the check is once a batch. One
		 * that has gone since finds its events counted as dropped when the batch is sent.
		 */
		if (!hd_listened(hn)) {
			spin_unlock(&b->lock);
			hd_stat_add(hn, HOOKDUMP_STATS_A_DROP_NOSESSION, 1);
			goto out;
		}
		b->skb = hd_batch_alloc(b, room - NLA_HDRLEN);
		if (!b->skb) {
			spin_unlock(&b->lock);
			hd_stat_add(hn, HOOKDUMP_STATS_A_DROP_NOMEM, 1);
			goto out;
		}
	}
	if (skb_tailroom(b->skb) < room) {
		spin_unlock(&b->lock);
		hd_stat_add(hn, HOOKDUMP_STATS_A_DROP_FULL, 1);
		goto out;
	}
	nla = __nla_reserve(b->skb, HOOKDUMP_A_EVENT, attr);
	ev->ts_ns = hd_batch_stamp(b);
	memcpy(nla_data(nla), ev, sizeof(*ev));
	if (caplen && skb_copy_bits(skb, skb_network_offset(skb),
				    (u8 *)nla_data(nla) + sizeof(*ev), caplen))
		memset((u8 *)nla_data(nla) + sizeof(*ev), 0, caplen);
	if (lablen)	/* room was checked for all */
		__nla_put(b->skb, HOOKDUMP_A_EVENT_LABEL, lablen, label);
	if (proc)
		__nla_put(b->skb, HOOKDUMP_A_EVENT_PROC, sizeof(*proc), proc);
	b->count++;
	hd_stat_add(hn, HOOKDUMP_STATS_A_QUEUED, 1);
	if (b->count >= batch_events)
		done = hd_batch_take(b, &done_count);
	spin_unlock(&b->lock);
	if (!done && !timer_pending(&hn->flush_timer))
		mod_timer(&hn->flush_timer, jiffies + max(1UL, msecs_to_jiffies(flush_ms)));
out:
	if (full)
		hd_send(hn, full, full_count);
	if (done)
		hd_send(hn, done, done_count);
	local_bh_enable();
}

/* The cgroup v2 id of @sk, the socket's own (set when it was made), not the running task's. */
static u64 hd_sk_cgroup_id(struct sock *sk)
{
#ifdef CONFIG_SOCK_CGROUP_DATA
	struct cgroup *cgrp = sock_cgroup_ptr(&sk->sk_cgrp_data);

	return cgrp ? cgroup_id(cgrp) : 0;
#else
	return 0;
#endif
}

/* Counts a matched packet and, when someone listens, fills in what the hook knows and puts
 * the event in a batch. @ev has the packet's fields, and the rule id or group and the slot.
 * A locally generated packet owned by a full socket gets the socket's uid and cgroup, and the
 * task's pid and command when it is sent in a user task's context (not in a softirq, which
 * runs for whichever task was on the CPU, nor in a kernel thread).
 */
static void hd_report(struct hd_net *hn, const struct sk_buff *skb, struct hookdump_event *ev,
		      unsigned int hook, int iif, int oif, u32 snaplen, const char *label)
{
	struct hookdump_event_proc proc, *pp = NULL;

	hd_stat_add(hn, HOOKDUMP_STATS_A_MATCHED, 1);
	/* This CPU's open batch means someone listened when it was made (hd_record checks again
	 * under its lock); without one, nobody may: then nothing is built. A hint, read unlocked.
	 */
	if (!data_race(raw_cpu_ptr(hn->batch)->skb) && !hd_listened(hn)) {
		hd_stat_add(hn, HOOKDUMP_STATS_A_DROP_NOSESSION, 1);
		return;
	}
	ev->netns_cookie = hn->net->net_cookie;
	ev->len = skb->len - skb_network_offset(skb);
	ev->mark = skb->mark;
	ev->hook = hook;
	ev->iif = iif;
	ev->oif = oif;
	if (skb->sk && sk_fullsock(skb->sk) &&
	    (hook == HOOKDUMP_HOOK_LOCAL_OUT || hook == HOOKDUMP_HOOK_POST_ROUTING)) {
		ev->uid = from_kuid_munged(&init_user_ns, sock_net_uid(hn->net, skb->sk));
		ev->flags |= HOOKDUMP_EV_UID;
		memset(&proc, 0, sizeof(proc));
		proc.cgroup_id = hd_sk_cgroup_id(skb->sk);
		if (in_task() && !(current->flags & PF_KTHREAD)) {
			ev->pid = task_tgid_nr(current);
			ev->flags |= HOOKDUMP_EV_PID;
			strscpy_pad(proc.comm, current->comm, sizeof(proc.comm));
		}
		pp = &proc;
	}
	hd_record(hn, skb, ev, snaplen, label, pp);
}

/* The first rule from @r on (the list head: from the start) that the IP header and the hook
 * accept; NULL when none does.
 */
static const struct hd_rule *hd_next_l3(const struct hd_net *hn, const struct hd_rule *r,
					const struct hd_hookctx *ctx, const void *src,
					const void *dst, int iif, int oif)
{
	list_for_each_entry_continue_rcu(r, &hn->rules, list)
		if (rule_matches_l3(r, ctx, src, dst, iif, oif))
			return r;
	return NULL;
}

static unsigned int hd_hook(void *priv, struct sk_buff *skb, const struct nf_hook_state *state)
{
	const struct hd_hookctx *ctx = priv;
	struct hd_net *hn = ctx->hn;
	int iif = state->in ? state->in->ifindex : 0;
	int oif = state->out ? state->out->ifindex : 0;
	struct hookdump_event ev;
	const struct hd_rule *r;
	const void *nh, *src, *dst;
	union {
		struct iphdr v4;
		struct ipv6hdr v6;
	} _nh;

	/* Most packets match nothing: decide that from the IP header alone, before the event is
	 * cleared or the transport header looked for.
	 */
	if (!READ_ONCE(ctx->nrules))
		return NF_ACCEPT;
	if (ctx->family == AF_INET) {
		const struct iphdr *iph = skb_header_pointer(skb, skb_network_offset(skb),
							     sizeof(_nh.v4), &_nh.v4);

		if (!iph || iph->ihl < 5)
			return NF_ACCEPT;
		nh = iph;
		src = &iph->saddr;
		dst = &iph->daddr;
	} else {
		const struct ipv6hdr *ip6h = skb_header_pointer(skb, skb_network_offset(skb),
								sizeof(_nh.v6), &_nh.v6);

		if (!ip6h)
			return NF_ACCEPT;
		nh = ip6h;
		src = &ip6h->saddr;
		dst = &ip6h->daddr;
	}
	/* The hooks run under rcu_read_lock (nf_hook_slow). */
	r = hd_next_l3(hn, list_entry(&hn->rules, struct hd_rule, list), ctx, src, dst, iif, oif);
	if (!r)
		return NF_ACCEPT;

	memset(&ev, 0, sizeof(ev));
	parse_packet(skb, ctx->family, nh, &ev);
	while (!rule_matches_l4(r, &ev)) {
		r = hd_next_l3(hn, r, ctx, src, dst, iif, oif);
		if (!r)
			return NF_ACCEPT;
	}

	this_cpu_inc(*r->hits);
	ev.rule_id = r->id;
	ev.slot = ctx->slot;
	hd_report(hn, skb, &ev, ctx->hook, iif, oif, r->snaplen, NULL);
	return NF_ACCEPT;
}

/* ---- the iptables target (xt_HOOKDUMP.ko) --------------------------------------------- */

/**
 * hookdump_target_event - report a packet that a -j HOOKDUMP rule saw
 * @net: the rule's network namespace
 * @skb: the packet, untouched
 * @family: NFPROTO_IPV4 or NFPROTO_IPV6 (AF_INET, AF_INET6)
 * @hook: the hook of the rule's chain (NF_INET_*)
 * @in: the input device, or NULL
 * @out: the output device, or NULL
 * @info: the rule's options, validated by its checkentry
 *
 * The event goes the way the module's own rules' events go (per-CPU batch, session and
 * listeners, statistics), marked HOOKDUMP_SLOT_TARGET, with the rule's group and label.
 * Called from the target under the hook's rcu_read_lock, BH off or in task context.
 */
void hookdump_target_event(struct net *net, struct sk_buff *skb, u8 family, unsigned int hook,
			   const struct net_device *in, const struct net_device *out,
			   const struct xt_hookdump_info *info)
{
	struct hd_net *hn = net_generic(net, hd_net_id);
	struct hookdump_event ev;
	const void *nh;
	union {
		struct iphdr v4;
		struct ipv6hdr v6;
	} _nh;

	if (hook >= HOOKDUMP_HOOK_COUNT || (family != AF_INET && family != AF_INET6))
		return;
	nh = skb_header_pointer(skb, skb_network_offset(skb),
				family == AF_INET ? sizeof(_nh.v4) : sizeof(_nh.v6), &_nh);
	if (!nh || (family == AF_INET && ((const struct iphdr *)nh)->ihl < 5))
		return;
	memset(&ev, 0, sizeof(ev));
	parse_packet(skb, family, nh, &ev);
	ev.slot = HOOKDUMP_SLOT_TARGET;
	ev.group = info->group;
	hd_report(hn, skb, &ev, hook, in ? in->ifindex : 0, out ? out->ifindex : 0,
		  min_t(u32, info->snaplen, HOOKDUMP_MAX_SNAPLEN), info->label);
}
EXPORT_SYMBOL_GPL(hookdump_target_event);

/* ---- hook registration ---------------------------------------------------------------- */

static int hd_slot_priority(const struct hd_net *hn, int slot)
{
	switch (slot) {
	case HOOKDUMP_SLOT_FIRST:
		return INT_MIN + 1;
	case HOOKDUMP_SLOT_LAST:
		return INT_MAX;
	default:
		return hn->custom_priority;
	}
}

/* Registers exactly the hooks some rule needs; called with hn->lock held. */
static int hd_sync_hooks(struct hd_net *hn)
{
	u32 need[HD_NFAMILIES][HOOKDUMP_HOOK_COUNT][HD_NSLOTS] = {};
	const struct hd_rule *r;
	int f, h, s, err = 0;

	hn->nrules = 0;
	list_for_each_entry(r, &hn->rules, list) {
		hn->nrules++;
		if (r->slots & (1u << HOOKDUMP_SLOT_CUSTOM))
			hn->custom_priority = r->priority;
		for (f = 0; f < HD_NFAMILIES; f++) {
			if (r->family && r->family != (f ? AF_INET6 : AF_INET))
				continue;
			for (h = 0; h < HOOKDUMP_HOOK_COUNT; h++)
				for (s = 0; s < HD_NSLOTS; s++)
					if ((r->hooks & (1u << h)) && (r->slots & (1u << s)))
						need[f][h][s]++;
		}
	}
	for (f = 0; f < HD_NFAMILIES; f++) {
		for (h = 0; h < HOOKDUMP_HOOK_COUNT; h++) {
			for (s = 0; s < HD_NSLOTS; s++) {
				struct nf_hook_ops *ops = &hn->ops[f][h][s];

				WRITE_ONCE(hn->ctx[f][h][s].nrules, need[f][h][s]);
				if (!!need[f][h][s] == hn->registered[f][h][s])
					continue;
				if (!need[f][h][s]) {
					nf_unregister_net_hook(hn->net, ops);
					hn->registered[f][h][s] = false;
					hn->nhooks--;
					continue;
				}
				hn->ctx[f][h][s] = (struct hd_hookctx){
					.hn = hn, .nrules = need[f][h][s],
					.family = f ? AF_INET6 : AF_INET, .hook = h, .slot = s,
				};
				*ops = (struct nf_hook_ops){
					.hook = hd_hook,
					.priv = &hn->ctx[f][h][s],
					.pf = f ? NFPROTO_IPV6 : NFPROTO_IPV4,
					.hooknum = h,
					.priority = hd_slot_priority(hn, s),
				};
				err = nf_register_net_hook(hn->net, ops);
				if (err)
					return err;
				hn->registered[f][h][s] = true;
				hn->nhooks++;
			}
		}
	}
	return 0;
}

/* ---- generic netlink ------------------------------------------------------------------ */

static const struct nla_policy hd_rule_policy[HOOKDUMP_RULE_A_MAX + 1] = {
	[HOOKDUMP_RULE_A_ID]		= { .type = NLA_REJECT },
	[HOOKDUMP_RULE_A_FAMILY]	= NLA_POLICY_RANGE(NLA_U8, 0, AF_INET6),
	[HOOKDUMP_RULE_A_SRC]		= { .type = NLA_BINARY, .len = 16 },
	[HOOKDUMP_RULE_A_SRC_PLEN]	= NLA_POLICY_MAX(NLA_U8, 128),
	[HOOKDUMP_RULE_A_DST]		= { .type = NLA_BINARY, .len = 16 },
	[HOOKDUMP_RULE_A_DST_PLEN]	= NLA_POLICY_MAX(NLA_U8, 128),
	[HOOKDUMP_RULE_A_SPORT_MIN]	= { .type = NLA_U16 },
	[HOOKDUMP_RULE_A_SPORT_MAX]	= { .type = NLA_U16 },
	[HOOKDUMP_RULE_A_DPORT_MIN]	= { .type = NLA_U16 },
	[HOOKDUMP_RULE_A_DPORT_MAX]	= { .type = NLA_U16 },
	[HOOKDUMP_RULE_A_PROTO]		= { .type = NLA_U8 },
	[HOOKDUMP_RULE_A_IIF]		= { .type = NLA_U32 },
	[HOOKDUMP_RULE_A_OIF]		= { .type = NLA_U32 },
	[HOOKDUMP_RULE_A_HOOKS]		= NLA_POLICY_RANGE(NLA_U32, 1, HOOKDUMP_HOOKS_ALL),
	[HOOKDUMP_RULE_A_SNAPLEN]	= NLA_POLICY_MAX(NLA_U32, HOOKDUMP_MAX_SNAPLEN),
	[HOOKDUMP_RULE_A_SLOTS]		= NLA_POLICY_RANGE(NLA_U32, 1, (1u << HD_NSLOTS) - 1),
	[HOOKDUMP_RULE_A_HITS]		= { .type = NLA_REJECT },
	[HOOKDUMP_RULE_A_PRIORITY]	= { .type = NLA_S32 },
	[HOOKDUMP_RULE_A_OWNER]		= { .type = NLA_REJECT },
};

static const struct nla_policy hd_policy[HOOKDUMP_A_MAX + 1] = {
	[HOOKDUMP_A_RULE]	= NLA_POLICY_NESTED(hd_rule_policy),
	[HOOKDUMP_A_RULE_ID]	= { .type = NLA_U32 },
	[HOOKDUMP_A_EVENT]	= { .type = NLA_REJECT },
	[HOOKDUMP_A_STATS]	= { .type = NLA_REJECT },
	[HOOKDUMP_A_EVENT_LABEL] = { .type = NLA_REJECT },
	[HOOKDUMP_A_EVENT_PROC]	= { .type = NLA_REJECT },
};

static struct hd_net *hd_pernet(struct genl_info *info)
{
	return net_generic(genl_info_net(info), hd_net_id);
}

static int hd_parse_addr(struct nlattr **tb, int attr, int plen_attr, u8 family,
			 union nf_inet_addr *addr, u8 *plen, bool *has,
			 struct netlink_ext_ack *extack)
{
	unsigned int alen = family == AF_INET ? 4 : 16;

	if (!tb[attr]) {
		if (tb[plen_attr]) {
			NL_SET_ERR_MSG_ATTR(extack, tb[plen_attr],
					    "prefix length without an address");
			return -EINVAL;
		}
		return 0;
	}
	if (!family) {
		NL_SET_ERR_MSG_ATTR(extack, tb[attr], "an address needs HOOKDUMP_RULE_A_FAMILY");
		return -EINVAL;
	}
	if (nla_len(tb[attr]) != alen) {
		NL_SET_ERR_MSG_ATTR(extack, tb[attr], "address length does not match the family");
		return -EINVAL;
	}
	memset(addr, 0, sizeof(*addr));
	memcpy(addr, nla_data(tb[attr]), alen);
	*plen = tb[plen_attr] ? nla_get_u8(tb[plen_attr]) : alen * 8;
	if (*plen > alen * 8) {
		NL_SET_ERR_MSG_ATTR(extack, tb[plen_attr], "prefix longer than the address");
		return -EINVAL;
	}
	*has = true;
	return 0;
}

static int hd_parse_range(struct nlattr **tb, int min_attr, int max_attr, u16 *min, u16 *max,
			  struct netlink_ext_ack *extack)
{
	*min = tb[min_attr] ? nla_get_u16(tb[min_attr]) : 0;
	*max = tb[max_attr] ? nla_get_u16(tb[max_attr]) : (tb[min_attr] ? *min : 0xffff);
	if (*min > *max) {
		NL_SET_ERR_MSG_ATTR(extack, tb[max_attr], "port range ends before it starts");
		return -EINVAL;
	}
	return 0;
}

static void hd_rule_free_rcu(struct rcu_head *head)
{
	struct hd_rule *r = container_of(head, struct hd_rule, rcu);

	free_percpu(r->hits);
	kfree(r);
}

static int hd_fill_rule(struct sk_buff *skb, const struct hd_rule *r)
{
	struct nlattr *nest = nla_nest_start(skb, HOOKDUMP_A_RULE);
	unsigned int alen = r->family == AF_INET ? 4 : 16;
	u64 hits = 0;
	int cpu;

	if (!nest)
		return -EMSGSIZE;
	for_each_possible_cpu(cpu)
		hits += *per_cpu_ptr(r->hits, cpu);
	if (nla_put_u32(skb, HOOKDUMP_RULE_A_ID, r->id) ||
	    nla_put_u8(skb, HOOKDUMP_RULE_A_FAMILY, r->family) ||
	    (r->has_src && (nla_put(skb, HOOKDUMP_RULE_A_SRC, alen, &r->src) ||
			    nla_put_u8(skb, HOOKDUMP_RULE_A_SRC_PLEN, r->src_plen))) ||
	    (r->has_dst && (nla_put(skb, HOOKDUMP_RULE_A_DST, alen, &r->dst) ||
			    nla_put_u8(skb, HOOKDUMP_RULE_A_DST_PLEN, r->dst_plen))) ||
	    nla_put_u16(skb, HOOKDUMP_RULE_A_SPORT_MIN, r->sport_min) ||
	    nla_put_u16(skb, HOOKDUMP_RULE_A_SPORT_MAX, r->sport_max) ||
	    nla_put_u16(skb, HOOKDUMP_RULE_A_DPORT_MIN, r->dport_min) ||
	    nla_put_u16(skb, HOOKDUMP_RULE_A_DPORT_MAX, r->dport_max) ||
	    (r->has_proto && nla_put_u8(skb, HOOKDUMP_RULE_A_PROTO, r->proto)) ||
	    (r->iif && nla_put_u32(skb, HOOKDUMP_RULE_A_IIF, r->iif)) ||
	    (r->oif && nla_put_u32(skb, HOOKDUMP_RULE_A_OIF, r->oif)) ||
	    nla_put_u32(skb, HOOKDUMP_RULE_A_HOOKS, r->hooks) ||
	    nla_put_u32(skb, HOOKDUMP_RULE_A_SLOTS, r->slots) ||
	    nla_put_u32(skb, HOOKDUMP_RULE_A_SNAPLEN, r->snaplen) ||
	    ((r->slots & (1u << HOOKDUMP_SLOT_CUSTOM)) &&
	     nla_put_s32(skb, HOOKDUMP_RULE_A_PRIORITY, r->priority)) ||
	    (r->owner && nla_put_u32(skb, HOOKDUMP_RULE_A_OWNER, r->owner)) ||
	    nla_put_u64_64bit(skb, HOOKDUMP_RULE_A_HITS, hits, HOOKDUMP_RULE_A_PAD)) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

static int hd_cmd_rule_add(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *tb[HOOKDUMP_RULE_A_MAX + 1];
	struct hd_net *hn = hd_pernet(info);
	struct netlink_ext_ack *extack = info->extack;
	struct sk_buff *reply;
	struct hd_rule *r;
	void *hdr;
	int err;

	if (!info->attrs[HOOKDUMP_A_RULE]) {
		NL_SET_ERR_MSG(extack, "HOOKDUMP_A_RULE is required");
		return -EINVAL;
	}
	err = nla_parse_nested(tb, HOOKDUMP_RULE_A_MAX, info->attrs[HOOKDUMP_A_RULE],
			       hd_rule_policy, extack);
	if (err)
		return err;

	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	r->hits = alloc_percpu(u64);
	if (!r->hits) {
		err = -ENOMEM;
		goto err_free;
	}
	r->family = tb[HOOKDUMP_RULE_A_FAMILY] ? nla_get_u8(tb[HOOKDUMP_RULE_A_FAMILY]) : 0;
	if (r->family && r->family != AF_INET && r->family != AF_INET6) {
		NL_SET_ERR_MSG_ATTR(extack, tb[HOOKDUMP_RULE_A_FAMILY],
				    "family must be AF_INET or AF_INET6");
		err = -EINVAL;
		goto err_free;
	}
	err = hd_parse_addr(tb, HOOKDUMP_RULE_A_SRC, HOOKDUMP_RULE_A_SRC_PLEN, r->family,
			    &r->src, &r->src_plen, &r->has_src, extack);
	if (err)
		goto err_free;
	err = hd_parse_addr(tb, HOOKDUMP_RULE_A_DST, HOOKDUMP_RULE_A_DST_PLEN, r->family,
			    &r->dst, &r->dst_plen, &r->has_dst, extack);
	if (err)
		goto err_free;
	err = hd_parse_range(tb, HOOKDUMP_RULE_A_SPORT_MIN, HOOKDUMP_RULE_A_SPORT_MAX,
			     &r->sport_min, &r->sport_max, extack);
	if (err)
		goto err_free;
	err = hd_parse_range(tb, HOOKDUMP_RULE_A_DPORT_MIN, HOOKDUMP_RULE_A_DPORT_MAX,
			     &r->dport_min, &r->dport_max, extack);
	if (err)
		goto err_free;
	if (tb[HOOKDUMP_RULE_A_PROTO]) {
		r->proto = nla_get_u8(tb[HOOKDUMP_RULE_A_PROTO]);
		r->has_proto = true;
	}
	r->iif = tb[HOOKDUMP_RULE_A_IIF] ? nla_get_u32(tb[HOOKDUMP_RULE_A_IIF]) : 0;
	r->oif = tb[HOOKDUMP_RULE_A_OIF] ? nla_get_u32(tb[HOOKDUMP_RULE_A_OIF]) : 0;
	r->hooks = tb[HOOKDUMP_RULE_A_HOOKS] ? nla_get_u32(tb[HOOKDUMP_RULE_A_HOOKS])
					     : HOOKDUMP_HOOKS_ALL;
	r->slots = tb[HOOKDUMP_RULE_A_SLOTS] ? nla_get_u32(tb[HOOKDUMP_RULE_A_SLOTS])
					      : 1u << HOOKDUMP_SLOT_FIRST;
	r->snaplen = tb[HOOKDUMP_RULE_A_SNAPLEN] ? nla_get_u32(tb[HOOKDUMP_RULE_A_SNAPLEN]) : 0;
	if (!!(r->slots & (1u << HOOKDUMP_SLOT_CUSTOM)) != !!tb[HOOKDUMP_RULE_A_PRIORITY]) {
		NL_SET_ERR_MSG_ATTR(extack, tb[HOOKDUMP_RULE_A_SLOTS],
				    "the custom slot and HOOKDUMP_RULE_A_PRIORITY go together");
		err = -EINVAL;
		goto err_free;
	}
	if (tb[HOOKDUMP_RULE_A_PRIORITY]) {
		r->priority = nla_get_s32(tb[HOOKDUMP_RULE_A_PRIORITY]);
		if (r->priority == INT_MIN) {
			NL_SET_ERR_MSG_ATTR(extack, tb[HOOKDUMP_RULE_A_PRIORITY],
					    "priority INT_MIN is reserved");
			err = -EINVAL;
			goto err_free;
		}
	}

	reply = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!reply) {
		err = -ENOMEM;
		goto err_free;
	}

	mutex_lock(&hn->lock);
	if (r->slots & (1u << HOOKDUMP_SLOT_CUSTOM)) {
		const struct hd_rule *o;

		list_for_each_entry(o, &hn->rules, list) {
			if ((o->slots & (1u << HOOKDUMP_SLOT_CUSTOM)) &&
			    o->priority != r->priority) {
				mutex_unlock(&hn->lock);
				kfree_skb(reply);
				NL_SET_ERR_MSG_ATTR(extack, tb[HOOKDUMP_RULE_A_PRIORITY],
						    "another rule already uses a different custom priority");
				err = -EBUSY;
				goto err_free;
			}
		}
	}
	r->id = ++hn->next_rule_id;
	/* From the session's own port, the rule is the session's: it goes when the session ends. */
	if (info->snd_portid && info->snd_portid == hn->session_portid)
		r->owner = info->snd_portid;
	list_add_tail_rcu(&r->list, &hn->rules);
	err = hd_sync_hooks(hn);
	if (err) {
		list_del_rcu(&r->list);
		hd_sync_hooks(hn);
		mutex_unlock(&hn->lock);
		NL_SET_ERR_MSG(extack, "cannot register the netfilter hooks");
		kfree_skb(reply);
		synchronize_rcu();
		goto err_free;
	}
	mutex_unlock(&hn->lock);

	hdr = genlmsg_put_reply(reply, info, &hd_family, 0, HOOKDUMP_CMD_RULE_ADD);
	if (!hdr || nla_put_u32(reply, HOOKDUMP_A_RULE_ID, r->id)) {
		kfree_skb(reply);
		return -EMSGSIZE;
	}
	genlmsg_end(reply, hdr);
	return genlmsg_reply(reply, info);

err_free:
	free_percpu(r->hits);
	kfree(r);
	return err;
}

static int hd_cmd_rule_del(struct sk_buff *skb, struct genl_info *info)
{
	struct hd_net *hn = hd_pernet(info);
	struct hd_rule *r;
	u32 id;

	if (!info->attrs[HOOKDUMP_A_RULE_ID]) {
		NL_SET_ERR_MSG(info->extack, "HOOKDUMP_A_RULE_ID is required");
		return -EINVAL;
	}
	id = nla_get_u32(info->attrs[HOOKDUMP_A_RULE_ID]);
	mutex_lock(&hn->lock);
	list_for_each_entry(r, &hn->rules, list) {
		if (r->id != id)
			continue;
		list_del_rcu(&r->list);
		hd_sync_hooks(hn);
		mutex_unlock(&hn->lock);
		call_rcu(&r->rcu, hd_rule_free_rcu);
		return 0;
	}
	mutex_unlock(&hn->lock);
	NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[HOOKDUMP_A_RULE_ID], "no rule with this id");
	return -ENOENT;
}

static void hd_flush_rules(struct hd_net *hn)
{
	struct hd_rule *r, *tmp;

	list_for_each_entry_safe(r, tmp, &hn->rules, list) {
		list_del_rcu(&r->list);
		call_rcu(&r->rcu, hd_rule_free_rcu);
	}
	hd_sync_hooks(hn);
}

static int hd_cmd_rule_flush(struct sk_buff *skb, struct genl_info *info)
{
	struct hd_net *hn = hd_pernet(info);

	mutex_lock(&hn->lock);
	hd_flush_rules(hn);
	mutex_unlock(&hn->lock);
	return 0;
}

static int hd_cmd_rule_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct hd_net *hn = net_generic(sock_net(skb->sk), hd_net_id);
	u32 last = cb->args[0];
	struct hd_rule *r;
	int err = 0;

	mutex_lock(&hn->lock);
	list_for_each_entry(r, &hn->rules, list) {
		void *hdr;

		if (r->id <= last)
			continue;
		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
				  &hd_family, NLM_F_MULTI, HOOKDUMP_CMD_RULE_LIST);
		if (!hdr) {
			err = -EMSGSIZE;
			break;
		}
		if (hd_fill_rule(skb, r)) {
			genlmsg_cancel(skb, hdr);
			err = -EMSGSIZE;
			break;
		}
		genlmsg_end(skb, hdr);
		cb->args[0] = r->id;
	}
	mutex_unlock(&hn->lock);
	return err == -EMSGSIZE && skb->len ? skb->len : (err ? err : skb->len);
}

static int hd_cmd_session_start(struct sk_buff *skb, struct genl_info *info)
{
	struct hd_net *hn = hd_pernet(info);
	u32 cur;

	mutex_lock(&hn->lock);
	cur = READ_ONCE(hn->session_portid);
	if (cur && cur != info->snd_portid) {
		mutex_unlock(&hn->lock);
		NL_SET_ERR_MSG(info->extack,
			       "a capture session is already running in this network namespace");
		return -EBUSY;
	}
	WRITE_ONCE(hn->session_portid, info->snd_portid);
	mutex_unlock(&hn->lock);
	return 0;
}

/* Removes the rules of the session at @portid and the hooks no rule needs any more; called
 * with hn->lock held. Returns whether any rule went.
 */
static bool hd_drop_owned_rules(struct hd_net *hn, u32 portid)
{
	struct hd_rule *r, *tmp;
	bool any = false;

	list_for_each_entry_safe(r, tmp, &hn->rules, list) {
		if (r->owner != portid)
			continue;
		list_del_rcu(&r->list);
		call_rcu(&r->rcu, hd_rule_free_rcu);
		any = true;
	}
	if (any)
		hd_sync_hooks(hn);
	return any;
}

static int hd_cmd_session_stop(struct sk_buff *skb, struct genl_info *info)
{
	struct hd_net *hn = hd_pernet(info);

	mutex_lock(&hn->lock);
	if (READ_ONCE(hn->session_portid) != info->snd_portid) {
		mutex_unlock(&hn->lock);
		NL_SET_ERR_MSG(info->extack, "this socket has no capture session");
		return -ENOENT;
	}
	/* The session's rules go first; once the packets still in its hooks are through
	 * (they run under RCU), what they queued goes to the session before it ends.
	 */
	if (hd_drop_owned_rules(hn, info->snd_portid))
		synchronize_rcu();
	hd_flush_all(hn);
	WRITE_ONCE(hn->session_portid, 0);
	mutex_unlock(&hn->lock);
	return 0;
}

static int hd_cmd_stats_get(struct sk_buff *skb, struct genl_info *info)
{
	struct hd_net *hn = hd_pernet(info);
	u64 sum[HOOKDUMP_STATS_A_MAX + 1] = {};
	struct sk_buff *reply;
	struct nlattr *nest;
	void *hdr;
	int cpu, i;

	hd_flush_all(hn);	/* so that queued events are counted as delivered or dropped */
	for_each_possible_cpu(cpu)
		for (i = 1; i < HOOKDUMP_STATS_A_PAD; i++)
			sum[i] += per_cpu_ptr(hn->stats, cpu)[i];
	mutex_lock(&hn->lock);
	sum[HOOKDUMP_STATS_A_RULES] = hn->nrules;
	sum[HOOKDUMP_STATS_A_HOOKS] = hn->nhooks;
	mutex_unlock(&hn->lock);

	reply = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!reply)
		return -ENOMEM;
	hdr = genlmsg_put_reply(reply, info, &hd_family, 0, HOOKDUMP_CMD_STATS_GET);
	if (!hdr)
		goto nospace;
	nest = nla_nest_start(reply, HOOKDUMP_A_STATS);
	if (!nest)
		goto nospace;
	for (i = 1; i <= HOOKDUMP_STATS_A_MAX; i++)
		if (i != HOOKDUMP_STATS_A_PAD &&
		    nla_put_u64_64bit(reply, i, sum[i], HOOKDUMP_STATS_A_PAD))
			goto nospace;
	nla_nest_end(reply, nest);
	genlmsg_end(reply, hdr);
	return genlmsg_reply(reply, info);

nospace:
	kfree_skb(reply);
	return -EMSGSIZE;
}

static const struct genl_ops hd_ops[] = {
	{
		.cmd = HOOKDUMP_CMD_RULE_ADD,
		.doit = hd_cmd_rule_add,
		.flags = GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd = HOOKDUMP_CMD_RULE_DEL,
		.doit = hd_cmd_rule_del,
		.flags = GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd = HOOKDUMP_CMD_RULE_LIST,
		.dumpit = hd_cmd_rule_dump,
	},
	{
		.cmd = HOOKDUMP_CMD_RULE_FLUSH,
		.doit = hd_cmd_rule_flush,
		.flags = GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd = HOOKDUMP_CMD_SESSION_START,
		.doit = hd_cmd_session_start,
		.flags = GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd = HOOKDUMP_CMD_SESSION_STOP,
		.doit = hd_cmd_session_stop,
		.flags = GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd = HOOKDUMP_CMD_STATS_GET,
		.doit = hd_cmd_stats_get,
	},
};

/* Events show other users' traffic: joining needs CAP_NET_ADMIN in the netns's user
 * namespace, where the kernel can check it (GENL_MCAST_CAP_NET_ADMIN, 6.7+ and backports).
 */
static const struct genl_multicast_group hd_mcgrps[] = {
#ifdef GENL_MCAST_CAP_NET_ADMIN
	{ .name = HOOKDUMP_MCGRP_EVENTS, .flags = GENL_MCAST_CAP_NET_ADMIN },
#else
	{ .name = HOOKDUMP_MCGRP_EVENTS },
#endif
};

static struct genl_family hd_family __ro_after_init = {
	.name = HOOKDUMP_GENL_NAME,
	.version = HOOKDUMP_GENL_VERSION,
	.maxattr = HOOKDUMP_A_MAX,
	.policy = hd_policy,
	.netnsok = true,
	.module = THIS_MODULE,
	.ops = hd_ops,
	.n_ops = ARRAY_SIZE(hd_ops),
	.resv_start_op = __HOOKDUMP_CMD_MAX,
	.mcgrps = hd_mcgrps,
	.n_mcgrps = ARRAY_SIZE(hd_mcgrps),
};

/* ---- per-netns state, socket release ------------------------------------------------- */

static int hd_net_init(struct net *net)
{
	struct hd_net *hn = net_generic(net, hd_net_id);
	int cpu;

	hn->net = net;
	mutex_init(&hn->lock);
	INIT_LIST_HEAD(&hn->rules);
	timer_setup(&hn->flush_timer, hd_flush_timer, 0);
	hn->batch = alloc_percpu(struct hd_batch);
	if (!hn->batch)
		return -ENOMEM;
	hn->stats = __alloc_percpu(sizeof(u64) * (HOOKDUMP_STATS_A_MAX + 1), sizeof(u64));
	if (!hn->stats) {
		free_percpu(hn->batch);
		return -ENOMEM;
	}
	for_each_possible_cpu(cpu)
		spin_lock_init(&per_cpu_ptr(hn->batch, cpu)->lock);
	return 0;
}

static void hd_net_exit(struct net *net)
{
	struct hd_net *hn = net_generic(net, hd_net_id);
	int cpu;

	mutex_lock(&hn->lock);
	hd_flush_rules(hn);	/* unregisters every hook; waits for packets in flight */
	mutex_unlock(&hn->lock);
	hd_timer_shutdown_sync(&hn->flush_timer);
	for_each_possible_cpu(cpu) {
		struct hd_batch *b = per_cpu_ptr(hn->batch, cpu);

		kfree_skb(b->skb);
		b->skb = NULL;
	}
	free_percpu(hn->batch);
	free_percpu(hn->stats);
}

static struct pernet_operations hd_net_ops = {
	.init = hd_net_init,
	.exit = hd_net_exit,
	.id = &hd_net_id,
	.size = sizeof(struct hd_net),
};

/* A session ends when its socket goes away, and its rules with it (as nfnetlink_log's
 * instances do). The chain is a blocking one: the mutex may be taken.
 */
static int hd_netlink_event(struct notifier_block *nb, unsigned long event, void *ptr)
{
	struct netlink_notify *n = ptr;
	struct hd_net *hn;

	if (event != NETLINK_URELEASE || n->protocol != NETLINK_GENERIC || !n->portid)
		return NOTIFY_DONE;
	hn = net_generic(n->net, hd_net_id);
	/* Only the session's port owns rules, and a port being released cannot start one. */
	if (READ_ONCE(hn->session_portid) != n->portid)
		return NOTIFY_DONE;
	mutex_lock(&hn->lock);
	if (hn->session_portid == n->portid) {
		WRITE_ONCE(hn->session_portid, 0);
		hd_drop_owned_rules(hn, n->portid);
	}
	mutex_unlock(&hn->lock);
	return NOTIFY_DONE;
}

static struct notifier_block hd_netlink_notifier = {
	.notifier_call = hd_netlink_event,
};

static int __init hookdump_init(void)
{
	int err;

	err = register_pm_notifier(&hd_pm_notifier);
	if (err)
		goto err_out;
	err = register_pernet_subsys(&hd_net_ops);
	if (err)
		goto err_pm;
	err = netlink_register_notifier(&hd_netlink_notifier);
	if (err)
		goto err_pernet;
	err = genl_register_family(&hd_family);
	if (err)
		goto err_notifier;
	pr_info("loaded (generic netlink family %s, version %d)\n", HOOKDUMP_GENL_NAME,
		HOOKDUMP_GENL_VERSION);
	return 0;

err_notifier:
	netlink_unregister_notifier(&hd_netlink_notifier);
err_pernet:
	unregister_pernet_subsys(&hd_net_ops);
err_pm:
	unregister_pm_notifier(&hd_pm_notifier);
err_out:
	return err;
}

static void __exit hookdump_exit(void)
{
	genl_unregister_family(&hd_family);
	netlink_unregister_notifier(&hd_netlink_notifier);
	unregister_pernet_subsys(&hd_net_ops);
	unregister_pm_notifier(&hd_pm_notifier);
	rcu_barrier();	/* hd_rule_free_rcu callbacks live in this module */
}

module_init(hookdump_init);
module_exit(hookdump_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("hookdump developers");
MODULE_DESCRIPTION("Observe packets at netfilter hooks and stream their 5-tuples over generic netlink");
MODULE_ALIAS_GENL_FAMILY(HOOKDUMP_GENL_NAME);
