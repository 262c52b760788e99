/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The iptables/ip6tables target "-j HOOKDUMP" (kmod/xt_HOOKDUMP.c, and the iptables extension
 * libxt_HOOKDUMP.so): the packets of the rules it sits in are reported through hookdump.ko's
 * event path. Its options, as xt_NFLOG's struct xt_nflog_info: a fixed layout that the
 * kernel's checkentry validates.
 */
#ifndef _UAPI_XT_HOOKDUMP_H
#define _UAPI_XT_HOOKDUMP_H

#include <linux/types.h>

#define XT_HOOKDUMP_LABEL_LEN	32	/* the label and its NUL: up to 31 bytes of text */

/* xt_hookdump_info.flags: none defined yet; checkentry refuses any bit outside the mask. */
#define XT_HOOKDUMP_F_MASK	0x0000

struct xt_hookdump_info {
	__u32 snaplen;			/* packet bytes to copy, up to HOOKDUMP_MAX_SNAPLEN */
	__u16 group;			/* the group a reader asks for (capture --group N) */
	__u16 flags;			/* XT_HOOKDUMP_F_* */
	char label[XT_HOOKDUMP_LABEL_LEN];	/* NUL-terminated */
};

#endif /* _UAPI_XT_HOOKDUMP_H */
