/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The event clock of hookdump.ko's per-CPU batches: one CLOCK_REALTIME read when a batch
 * starts, local_clock() since then for each event. Pure arithmetic on u64s, apart from the
 * kernel's headers, so that a userspace unit test runs the very code the module does
 * (tests/unit/kmod_clock_test.cpp).
 */
#ifndef _HOOKDUMP_CLOCK_H
#define _HOOKDUMP_CLOCK_H

/* Within this much of the CPU's last stamp, an event is stamped no earlier than it:
 * local_clock() and CLOCK_REALTIME may drift apart a little over a batch, and a CPU's events
 * stay in order. A larger step of the real-time clock is followed.
 */
#define HD_TS_SLEW_NS	(10ULL * 1000 * 1000)

struct hd_clock {
	u64 real, local;	/* the batch's start: ktime_get_real_ns(), local_clock() */
	u64 last;		/* this CPU's last stamp */
};

/* A batch starts: the real time is read afresh, so a clamp never carries over to it. */
static inline void hd_clock_start(struct hd_clock *c, u64 real, u64 local)
{
	c->real = real;
	c->local = local;
}

/* The stamp of an event at local_clock() @local. */
static inline u64 hd_clock_stamp(struct hd_clock *c, u64 local)
{
	u64 ts = c->real + (local - c->local);

	if (ts < c->last && c->last - ts < HD_TS_SLEW_NS)
		ts = c->last;
	c->last = ts;
	return ts;
}

#endif /* _HOOKDUMP_CLOCK_H */
