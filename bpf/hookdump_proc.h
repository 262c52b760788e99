/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Process attribution (issue 17): the maps bpf/hookdump_proc.bpf.c's cgroup socket programs
 * fill and the packet programs (hookdump_pkt.bpf.c at tc) and userspace (AF_PACKET, seeding,
 * src/bpf/proc_maps.cpp) read. One definition for all of them; fixed-size types, no implicit
 * padding: the C++ side static_asserts the layout.
 *
 * The rule for a socket shared between processes: its CREATOR. The entry is written when the
 * socket is made (cgroup/sock_create) and never replaced while the socket lives; bind, connect,
 * sendmsg and recvmsg only fill in a socket that has no entry (made before hookdump started and
 * not seeded, or evicted). An accepted TCP connection is the listening socket's (its owner when
 * it was bound). A socket seeded at start (sock_diag + /proc) is the lowest pid holding it.
 */
#ifndef HOOKDUMP_PROC_H
#define HOOKDUMP_PROC_H

#include <linux/types.h>

#define HD_PROC_COMM_LEN 16
#define HD_PROC_SOCKS_MAX 65536 /* sockets (LRU: the least recently used goes first) */
#define HD_PROC_PORTS_MAX 16384 /* local (address, port) pairs */

/* The process a socket belongs to. tgid 0 never appears: a kernel socket has no entry. */
struct hd_proc {
	__u32 tgid;
	__u32 uid;
	__u64 cgroup_id; /* cgroup v2 id (the inode of its directory in the cgroup2 mount) */
	char comm[HD_PROC_COMM_LEN];
};

/* A local endpoint, for packets looked up before the kernel's socket lookup (tc ingress,
 * AF_PACKET): addresses in network order, IPv4's in the first word; addr all zero for a socket
 * bound to the wildcard address; port in host order. */
struct hd_sock_key {
	__u64 netns; /* the namespace's cookie */
	__u32 addr[4];
	__u16 port;
	__u8 family; /* 4 or 6 */
	__u8 proto;  /* IPPROTO_TCP, IPPROTO_UDP */
	__u32 pad;
};

/* The socket map's value: its process, the namespace it was made in, and the key of its
 * endpoint in hd_ports (port 0: none), which sock_release removes with it (the release program
 * cannot read the socket's address). */
struct hd_sock_value {
	struct hd_proc proc;
	__u64 netns; /* the namespace's cookie */
	struct hd_sock_key port;
};

/* An endpoint's socket from since_ns on, until released_ns (0: still open). A released socket's
 * entry stays (until a new socket takes the endpoint, or the LRU evicts it) so that userspace,
 * which reads packets later (AF_PACKET's blocks), still names the process of the packets sent
 * or received before the release, and only those. CLOCK_MONOTONIC (bpf_ktime_get_ns). */
struct hd_port_value {
	struct hd_proc proc;
	__u64 cookie; /* the socket's: sock_release marks only its own entry */
	__u64 since_ns;
	__u64 released_ns;
};

/* Per-CPU counters of the cgroup programs (one entry of a per-CPU array). */
struct hd_proc_stats {
	__u64 socks_added;
	__u64 socks_full;  /* an update of the socket map failed (LRU: nothing is refused) */
	__u64 ports_added;
	__u64 ports_full;  /* a local endpoint did not fit */
	__u64 released;
};

#ifdef __bpf__
/* The two maps, declared alike in every program that uses them (the loaders make the packet
 * programs share the cgroup programs' maps: bpf_map__reuse_fd); the socket point of trace
 * (hookdump_sock.bpf.c) reads only the socket map. */
#define HD_PROC_SOCKS_MAP                                                                   \
	struct {                                                                            \
		__uint(type, BPF_MAP_TYPE_LRU_HASH);                                         \
		__uint(max_entries, HD_PROC_SOCKS_MAX);                                      \
		__type(key, __u64); /* the socket's cookie */                                \
		__type(value, struct hd_sock_value);                                         \
	} hd_socks SEC(".maps")
#define HD_PROC_MAPS                                                                        \
	HD_PROC_SOCKS_MAP;                                                                  \
	struct {                                                                            \
		__uint(type, BPF_MAP_TYPE_LRU_HASH);                                         \
		__uint(max_entries, HD_PROC_PORTS_MAX);                                      \
		__type(key, struct hd_sock_key);                                             \
		__type(value, struct hd_port_value);                                         \
	} hd_ports SEC(".maps")
#endif

#ifndef __bpf__
#ifdef __cplusplus
#include <cstddef>
static_assert(sizeof(hd_proc) == 32 && offsetof(hd_proc, comm) == 16);
static_assert(sizeof(hd_sock_key) == 32 && offsetof(hd_sock_key, port) == 24);
static_assert(sizeof(hd_port_value) == 56 && sizeof(hd_sock_value) == 72);
static_assert(sizeof(hd_proc_stats) == 40);
#endif
#endif

#endif /* HOOKDUMP_PROC_H */
