// SPDX-License-Identifier: GPL-2.0
/*
 * libxt_HOOKDUMP.so: teaches iptables and ip6tables (iptables-nft and iptables-legacy) the
 * target of kmod/xt_HOOKDUMP.c, in the way of iptables' own extensions/libxt_NFLOG.c:
 *
 *   -j HOOKDUMP [--hookdump-group N] [--hookdump-snaplen N] [--hookdump-label TEXT]
 *
 * The options are struct xt_hookdump_info (include/uapi/xt_HOOKDUMP.h); print and save give
 * back what was written, so that iptables -S round-trips the rule.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <xtables.h>

#include "hookdump.h"
#include "xt_HOOKDUMP.h"

/*
 * XT_HOOKDUMP_UNCHECKED builds a variant for the tests only (BUILD/xtables-unchecked/, never
 * installed) that hands the kernel what this extension refuses: a snap length past the limit,
 * flags (--hookdump-flags), a label filling all 32 bytes with no NUL. The kernel's checkentry
 * must refuse each (tests/vm/cases/85_xt_hookdump.sh).
 */
#ifdef XT_HOOKDUMP_UNCHECKED
#define HD_SNAPLEN_MAX	UINT32_MAX
#define HD_LABEL_MAX	XT_HOOKDUMP_LABEL_LEN
#else
#define HD_SNAPLEN_MAX	HOOKDUMP_MAX_SNAPLEN
#define HD_LABEL_MAX	(XT_HOOKDUMP_LABEL_LEN - 1)
#endif

enum {
	O_GROUP = 0,
	O_SNAPLEN,
	O_LABEL,
	O_FLAGS,
};

#define s struct xt_hookdump_info
static const struct xt_option_entry hookdump_opts[] = {
	{.name = "hookdump-group", .id = O_GROUP, .type = XTTYPE_UINT16,
	 .flags = XTOPT_PUT, XTOPT_POINTER(s, group)},
	{.name = "hookdump-snaplen", .id = O_SNAPLEN, .type = XTTYPE_UINT32,
	 .min = 0, .max = HD_SNAPLEN_MAX,
	 .flags = XTOPT_PUT, XTOPT_POINTER(s, snaplen)},
	{.name = "hookdump-label", .id = O_LABEL, .type = XTTYPE_STRING,
	 .min = 1, .max = HD_LABEL_MAX,
#ifndef XT_HOOKDUMP_UNCHECKED
	 .flags = XTOPT_PUT, XTOPT_POINTER(s, label)
#endif
	},
#ifdef XT_HOOKDUMP_UNCHECKED
	{.name = "hookdump-flags", .id = O_FLAGS, .type = XTTYPE_UINT16,
	 .flags = XTOPT_PUT, XTOPT_POINTER(s, flags)},
#endif
	XTOPT_TABLEEND,
};
#undef s

static void hookdump_help(void)
{
	printf("HOOKDUMP target options (the packets go to hookdump.ko's readers:\n"
	       "hookdump capture --engine kmod --group N):\n"
	       " --hookdump-group N      group the readers ask for (0-65535, default 0)\n"
	       " --hookdump-snaplen N    packet bytes to copy (0-%u, default 0: the 5-tuple)\n"
	       " --hookdump-label TEXT   label on every event (up to %u characters)\n",
	       HOOKDUMP_MAX_SNAPLEN, XT_HOOKDUMP_LABEL_LEN - 1);
}

static void hookdump_parse(struct xt_option_call *cb)
{
	xtables_option_parse(cb);
#ifdef XT_HOOKDUMP_UNCHECKED
	if (cb->entry->id == O_LABEL) {	/* all of it, no NUL when it fills the field */
		struct xt_hookdump_info *info = cb->data;

		memset(info->label, 0, sizeof(info->label));
		memcpy(info->label, cb->arg, strnlen(cb->arg, sizeof(info->label)));
	}
#endif
	if (cb->entry->id == O_LABEL && strchr(cb->arg, '\n'))
		xtables_error(PARAMETER_PROBLEM, "HOOKDUMP: --hookdump-label must be one line");
}

static void hookdump_out(const struct xt_hookdump_info *info, const char *pre)
{
	if (info->group)
		printf(" --%shookdump-group %u", pre, info->group);
	if (info->snaplen)
		printf(" --%shookdump-snaplen %u", pre, info->snaplen);
	if (info->label[0]) {
		printf(" --%shookdump-label", pre);
		xtables_save_string(info->label);
	}
}

static void hookdump_print(const void *ip __attribute__((unused)),
			   const struct xt_entry_target *target, int numeric __attribute__((unused)))
{
	const struct xt_hookdump_info *info = (const void *)target->data;

	if (info->group)
		printf(" hookdump-group %u", info->group);
	if (info->snaplen)
		printf(" hookdump-snaplen %u", info->snaplen);
	if (info->label[0])
		printf(" hookdump-label \"%s\"", info->label);
}

static void hookdump_save(const void *ip __attribute__((unused)),
			  const struct xt_entry_target *target)
{
	hookdump_out((const void *)target->data, "");
}

static struct xtables_target hookdump_tg_reg = {
	.family		= NFPROTO_UNSPEC,
	.name		= "HOOKDUMP",
	.version	= XTABLES_VERSION,
	.revision	= 0,
	.size		= XT_ALIGN(sizeof(struct xt_hookdump_info)),
	.userspacesize	= XT_ALIGN(sizeof(struct xt_hookdump_info)),
	.help		= hookdump_help,
	.print		= hookdump_print,
	.save		= hookdump_save,
	.x6_parse	= hookdump_parse,
	.x6_options	= hookdump_opts,
};

static void __attribute__((constructor)) hookdump_xt_init(void)
{
	xtables_register_target(&hookdump_tg_reg);
}
