// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Process attribution (issue 17): cgroup v2 socket programs, attached at the cgroup2 root,
 * that record per socket cookie the process it belongs to (hd_socks) and per local endpoint
 * (namespace, protocol, address, port) the same (hd_ports), for the packet programs and
 * userspace to look packets up in (hookdump_proc.h: the layout, and the rule for a socket
 * shared between processes: its creator). Strictly passive: every program allows.
 *
 *   cgroup/sock_create          a socket made by a process: its entry
 *   cgroup/post_bind4, 6        a bound socket: its local endpoint
 *   cgroup/connect4, 6,         a socket with no entry (made before the start, not seeded):
 *   sendmsg4, 6, recvmsg4, 6    the process using it
 *   sockops                     an accepted TCP connection: the listening socket's process
 *   cgroup_skb/egress           an endpoint bound by the kernel (connect's or autobind's port)
 *   cgroup/sock_release         the socket's entry goes, its endpoint's is marked released
 *
 * Kernel sockets (the TCP reset and ICMP control sockets) are never made through
 * cgroup/sock_create, so they have no entry: what the kernel sends itself shows no process.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

#include "hookdump_proc.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET 2
#define AF_INET6 10

HD_PROC_MAPS;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hd_proc_stats);
} proc_stats SEC(".maps");

/* Bumped after every change of hd_ports (an endpoint added or replaced, one marked released;
 * an LRU eviction happens only on an add): userspace (AF_PACKET's lookups) reads it from the
 * mapped .bss and keeps its answers while it has not moved. */
__u64 hd_ports_gen;

static __always_inline struct hd_proc_stats *hd_pstats(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&proc_stats, &zero);
}

/* The current process; 0 when there is none (a kernel thread, tgid 0). */
static __always_inline int hd_current(struct hd_sock_value *v, __u64 netns)
{
	/* v is zeroed by the caller: no endpoint yet. */
	__u64 id = bpf_get_current_pid_tgid();

	v->proc.tgid = id >> 32;
	if (!v->proc.tgid)
		return 0;
	v->proc.uid = (__u32)bpf_get_current_uid_gid();
	v->proc.cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(v->proc.comm, sizeof(v->proc.comm));
	v->netns = netns;
	return 1;
}

static __always_inline void hd_sock_put(__u64 cookie, const struct hd_sock_value *v, __u64 flags)
{
	struct hd_proc_stats *st = hd_pstats();
	long err = bpf_map_update_elem(&hd_socks, &cookie, v, flags);

	if (!st)
		return;
	if (!err)
		st->socks_added++;
	else if (err != -17 /* EEXIST */)
		st->socks_full++;
}

static __always_inline void hd_port_put(const struct hd_sock_key *k,
					const struct hd_port_value *v, __u64 flags)
{
	struct hd_proc_stats *st = hd_pstats();
	long err = bpf_map_update_elem(&hd_ports, k, v, flags);

	__sync_fetch_and_add(&hd_ports_gen, 1);
	if (!st)
		return;
	if (!err)
		st->ports_added++;
	else if (err != -17 /* EEXIST */)
		st->ports_full++;
}

/* A local endpoint: addresses in network order, the port in host order (as struct bpf_sock
 * has them). 0 for a socket that is not TCP or UDP, or has no port yet. */
static __always_inline int hd_sock_key_of(struct hd_sock_key *k, __u64 netns, __u32 family,
					  __u32 protocol, const __u32 *addr, __u32 port)
{
	if (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP)
		return 0;
	if (!port)
		return 0;
	k->netns = netns;
	k->port = port;
	k->proto = protocol;
	k->pad = 0;
	if (family == AF_INET) {
		k->family = 4;
		k->addr[0] = addr[0];
		k->addr[1] = 0;
		k->addr[2] = 0;
		k->addr[3] = 0;
	} else if (family == AF_INET6) {
		k->family = 6;
		k->addr[0] = addr[0];
		k->addr[1] = addr[1];
		k->addr[2] = addr[2];
		k->addr[3] = addr[3];
	} else {
		return 0;
	}
	return 1;
}

/* The endpoint's entry, and its key in the socket's, so that sock_release removes it. */
/* bind: the endpoint is this socket's from now on (replace: the last bind of a port wins);
 * learned: only an endpoint no open socket has (an accepted connection's port is its listener's). */
static __always_inline void hd_port_add(struct hd_sock_value *sv, __u64 cookie,
					const struct hd_sock_key *k, int replace)
{
	struct hd_port_value pv;

	if (!replace) {
		struct hd_port_value *old = bpf_map_lookup_elem(&hd_ports, k);

		if (old && !old->released_ns)
			return;
	}
	pv.proc = sv->proc;
	pv.cookie = cookie;
	pv.since_ns = bpf_ktime_get_ns();
	pv.released_ns = 0;
	hd_port_put(k, &pv, BPF_ANY);
	sv->port = *k;
}

SEC("cgroup/sock_create")
int hd_sock_create(struct bpf_sock *sk)
{
	struct hd_sock_value v = {};

	if (hd_current(&v, bpf_get_netns_cookie(sk)))
		hd_sock_put(bpf_get_socket_cookie(sk), &v, BPF_ANY);
	return 1;
}

/* post_bind4 may read only src_ip4, post_bind6 only src_ip6. */
static __always_inline void hd_bound(struct bpf_sock *sk, int v6)
{
	__u64 cookie = bpf_get_socket_cookie(sk);
	__u64 netns = bpf_get_netns_cookie(sk);
	struct hd_sock_value *known = bpf_map_lookup_elem(&hd_socks, &cookie);
	struct hd_sock_key k;
	__u32 addr[4] = {};

	if (!known) {
		struct hd_sock_value cur = {};

		if (!hd_current(&cur, netns))
			return;
		hd_sock_put(cookie, &cur, BPF_NOEXIST);
		known = bpf_map_lookup_elem(&hd_socks, &cookie);
		if (!known)
			return;
	}
	if (v6) {
		addr[0] = sk->src_ip6[0];
		addr[1] = sk->src_ip6[1];
		addr[2] = sk->src_ip6[2];
		addr[3] = sk->src_ip6[3];
	} else {
		addr[0] = sk->src_ip4;
	}
	if (hd_sock_key_of(&k, netns, v6 ? AF_INET6 : AF_INET, sk->protocol, addr, sk->src_port))
		hd_port_add(known, cookie, &k, 1);
}

SEC("cgroup/post_bind4")
int hd_post_bind4(struct bpf_sock *sk)
{
	hd_bound(sk, 0);
	return 1;
}

SEC("cgroup/post_bind6")
int hd_post_bind6(struct bpf_sock *sk)
{
	hd_bound(sk, 1);
	return 1;
}

/* A socket in use that has no entry: its user now (a socket from before the start). */
static __always_inline void hd_used(struct bpf_sock_addr *ctx)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct hd_sock_value v = {};

	if (bpf_map_lookup_elem(&hd_socks, &cookie))
		return;
	if (hd_current(&v, bpf_get_netns_cookie(ctx)))
		hd_sock_put(cookie, &v, BPF_NOEXIST);
}

/* The six sock_addr hooks, one program each, all hd_used. */
#define HD_USED_PROG(name, sec)                                                              \
	SEC(sec)                                                                             \
	int name(struct bpf_sock_addr *ctx)                                                  \
	{                                                                                    \
		hd_used(ctx);                                                                \
		return 1;                                                                    \
	}

HD_USED_PROG(hd_connect4, "cgroup/connect4")
HD_USED_PROG(hd_connect6, "cgroup/connect6")
HD_USED_PROG(hd_sendmsg4, "cgroup/sendmsg4")
HD_USED_PROG(hd_sendmsg6, "cgroup/sendmsg6")
HD_USED_PROG(hd_recvmsg4, "cgroup/recvmsg4")
HD_USED_PROG(hd_recvmsg6, "cgroup/recvmsg6")

/* An accepted connection (a new socket, never through sock_create): the process of the
 * listening socket, found by the local endpoint (bound address, else the wildcard). Runs in
 * softirq context: the current task is nobody's. */
SEC("sockops")
int hd_sockops(struct bpf_sock_ops *ctx)
{
	struct hd_sock_key k = {};
	struct hd_port_value *lv;
	struct hd_sock_value v = {};

	if (ctx->op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return 1;
	k.netns = bpf_get_netns_cookie(ctx);
	k.port = ctx->local_port;
	k.proto = IPPROTO_TCP;
	if (ctx->family == AF_INET) {
		k.family = 4;
		k.addr[0] = ctx->local_ip4;
	} else if (ctx->family == AF_INET6) {
		k.family = 6;
		k.addr[0] = ctx->local_ip6[0];
		k.addr[1] = ctx->local_ip6[1];
		k.addr[2] = ctx->local_ip6[2];
		k.addr[3] = ctx->local_ip6[3];
	} else {
		return 1;
	}
	lv = bpf_map_lookup_elem(&hd_ports, &k);
	if (!lv || lv->released_ns) {
		k.addr[0] = 0;
		k.addr[1] = 0;
		k.addr[2] = 0;
		k.addr[3] = 0;
		lv = bpf_map_lookup_elem(&hd_ports, &k);
		if (!lv || lv->released_ns)
			return 1;
	}
	v.proc = lv->proc;
	v.netns = k.netns;
	hd_sock_put(bpf_get_socket_cookie(ctx), &v, BPF_NOEXIST);
	return 1;
}

/* A socket the kernel gave its port (connect, the first sendto), or an accepted connection:
 * its endpoint, learned from its first packet out. One lookup a packet once it is known. */
SEC("cgroup_skb/egress")
int hd_skb_egress(struct __sk_buff *skb)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct hd_sock_value *sv;
	struct hd_sock_key k;
	struct bpf_sock *sk;
	__u32 addr[4];

	if (!cookie)
		return 1;
	sv = bpf_map_lookup_elem(&hd_socks, &cookie);
	if (!sv || sv->port.port)
		return 1;
	sk = skb->sk;
	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return 1;
	/* Volatile reads: clang otherwise reads src_ip6 through a pointer it computed, which the
	 * verifier refuses ("pointer arithmetic on sock prohibited"). */
	if (sk->family == AF_INET6) {
		addr[0] = *(volatile __u32 *)&sk->src_ip6[0];
		addr[1] = *(volatile __u32 *)&sk->src_ip6[1];
		addr[2] = *(volatile __u32 *)&sk->src_ip6[2];
		addr[3] = *(volatile __u32 *)&sk->src_ip6[3];
	} else {
		addr[0] = sk->src_ip4;
		addr[1] = 0;
		addr[2] = 0;
		addr[3] = 0;
	}
	if (hd_sock_key_of(&k, sv->netns, sk->family, sk->protocol, addr, sk->src_port))
		hd_port_add(sv, cookie, &k, 0);
	return 1;
}

SEC("cgroup/sock_release")
int hd_sock_release(struct bpf_sock *sk)
{
	__u64 cookie = bpf_get_socket_cookie(sk);
	struct hd_proc_stats *st = hd_pstats();
	struct hd_sock_value *sv = bpf_map_lookup_elem(&hd_socks, &cookie);
	struct hd_port_value *pv;

	if (!sv)
		return 1;
	if (sv->port.port) {
		/* Marked, not removed: userspace reads packets from before the release later. */
		struct hd_sock_key k = sv->port;

		pv = bpf_map_lookup_elem(&hd_ports, &k);
		if (pv && pv->cookie == cookie && !pv->released_ns) {
			pv->released_ns = bpf_ktime_get_ns();
			__sync_fetch_and_add(&hd_ports_gen, 1);
		}
	}
	if (bpf_map_delete_elem(&hd_socks, &cookie) == 0 && st)
		st->released++;
	return 1;
}
