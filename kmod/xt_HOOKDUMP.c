// SPDX-License-Identifier: GPL-2.0
/*
 * xt_HOOKDUMP.ko: the iptables/ip6tables target "-j HOOKDUMP". The packets of the rules it
 * sits in are reported through hookdump.ko's event path (hookdump_target_event), as xt_NFLOG
 * reports through nfnetlink_log: at the hook of the rule's chain, with the rule's group,
 * label and snap length. It only observes: XT_CONTINUE, the packet and the verdict untouched.
 *
 * A module of its own, so that hookdump.ko does not need x_tables; it needs hookdump.ko (a
 * symbol it uses), which therefore cannot be unloaded before it. While a rule uses the
 * target, the x_tables core holds a reference on this module: rmmod is refused.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/skbuff.h>
#include <linux/string.h>
#include <linux/netfilter.h>
#include <linux/netfilter/x_tables.h>

#include "hookdump.h"
#include "hookdump_target.h"

static unsigned int hookdump_tg(struct sk_buff *skb, const struct xt_action_param *par)
{
	hookdump_target_event(xt_net(par), skb, xt_family(par), xt_hooknum(par), xt_in(par),
			      xt_out(par), par->targinfo);
	return XT_CONTINUE;
}

/* No request_module here, under nft_compat (par->nft_compat) or not: what the target needs,
 * hookdump.ko, is loaded already (this module uses its symbol).
 */
static int hookdump_tg_check(const struct xt_tgchk_param *par)
{
	const struct xt_hookdump_info *info = par->targinfo;

	if (info->flags & ~XT_HOOKDUMP_F_MASK) {
		pr_info_ratelimited("unknown flags 0x%x\n", info->flags & ~XT_HOOKDUMP_F_MASK);
		return -EINVAL;
	}
	if (strnlen(info->label, sizeof(info->label)) >= sizeof(info->label)) {
		pr_info_ratelimited("label is not NUL-terminated within %zu bytes\n",
				    sizeof(info->label));
		return -EINVAL;
	}
	if (info->snaplen > HOOKDUMP_MAX_SNAPLEN) {
		pr_info_ratelimited("snaplen %u is out of range (0-%u)\n", info->snaplen,
				    HOOKDUMP_MAX_SNAPLEN);
		return -ERANGE;
	}
	return 0;
}

static struct xt_target hookdump_tg_reg[] __read_mostly = {
	{
		.name		= "HOOKDUMP",
		.revision	= 0,
		.family		= NFPROTO_IPV4,
		.checkentry	= hookdump_tg_check,
		.target		= hookdump_tg,
		.targetsize	= sizeof(struct xt_hookdump_info),
		.me		= THIS_MODULE,
	},
	{
		.name		= "HOOKDUMP",
		.revision	= 0,
		.family		= NFPROTO_IPV6,
		.checkentry	= hookdump_tg_check,
		.target		= hookdump_tg,
		.targetsize	= sizeof(struct xt_hookdump_info),
		.me		= THIS_MODULE,
	},
};

static int __init hookdump_tg_init(void)
{
	return xt_register_targets(hookdump_tg_reg, ARRAY_SIZE(hookdump_tg_reg));
}

static void __exit hookdump_tg_exit(void)
{
	xt_unregister_targets(hookdump_tg_reg, ARRAY_SIZE(hookdump_tg_reg));
}

module_init(hookdump_tg_init);
module_exit(hookdump_tg_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("iptables target HOOKDUMP: report packets through hookdump.ko");
MODULE_ALIAS("ipt_HOOKDUMP");
MODULE_ALIAS("ip6t_HOOKDUMP");
