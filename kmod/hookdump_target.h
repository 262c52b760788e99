/* SPDX-License-Identifier: GPL-2.0 */
/* What hookdump.ko exports to xt_HOOKDUMP.ko (kmod/xt_HOOKDUMP.c). */
#ifndef HOOKDUMP_TARGET_H
#define HOOKDUMP_TARGET_H

#include <linux/netdevice.h>
#include <linux/skbuff.h>
#include <net/net_namespace.h>

#include "xt_HOOKDUMP.h"

void hookdump_target_event(struct net *net, struct sk_buff *skb, u8 family, unsigned int hook,
			   const struct net_device *in, const struct net_device *out,
			   const struct xt_hookdump_info *info);

#endif
