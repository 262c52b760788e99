#!/usr/bin/env python3
"""The man page and --help list the same options, command by command (ctest man_options).

Usage: check_options.py HOOKDUMP MANPAGE

Walks `hookdump --help` and every subcommand's --help (subcommands found from the help
itself), renders MANPAGE with groff, and compares: each command's options are the term lines
(-x, --long ARG) of its section (OPTIONS for the top level, "hookdump CMD ..." subsections
under COMMANDS) plus those of every shared "... OPTIONS" section the command's text names
(OUTPUT OPTIONS, ...). -h/--help is documented once, in OPTIONS. Exits 1 listing every
option found on one side only, and every command without a section or section without a
command.
"""
import re
import subprocess
import sys

OPT = re.compile(r"(?<![\w-])(--?[A-Za-z0-9][A-Za-z0-9-]*)")
HELP = {"-h", "--help"}


def help_tree(binary):
    """{command path tuple: set of options} from --help, recursively."""
    tree = {}

    def walk(path):
        out = subprocess.run([binary, *path, "--help"], capture_output=True, text=True, check=True).stdout
        opts, subs, section = set(), [], None
        for line in out.splitlines():
            if re.match(r"^\S.*:$", line):
                section = line[:-1]
                continue
            m = re.match(r"^  (\S+)", line)
            if not m:
                continue
            if section == "Options" and m.group(1).startswith("-"):
                opts.update(m.group(1).split(","))
            elif section == "Subcommands":
                subs.append(m.group(1))
        tree[path] = opts
        for s in subs:
            walk(path + (s,))

    walk(())
    return tree


def man_sections(manpage):
    """[(title, level, term options, text)] of the rendered page, in order."""
    text = subprocess.run(["groff", "-man", "-Tascii", "-rLL=5000n", "-P-cbou", manpage],
                          capture_output=True, text=True, check=True).stdout
    lines = text.splitlines()
    sections = []
    for i, line in enumerate(lines):
        if re.match(r"^[A-Z]", line):
            sections.append([line.strip(), 1, set(), ""])
            continue
        if re.match(r"^   \S", line):
            sections.append([line.strip(), 2, set(), ""])
            continue
        if not sections:
            continue
        sections[-1][3] += line + "\n"
        m = re.match(r"^( +)(-\S.*)$", line)
        if m:
            nxt = next((n for n in lines[i + 1:] if n.strip()), "")
            if len(nxt) - len(nxt.lstrip()) > len(m.group(1)):
                sections[-1][2].update(OPT.findall(m.group(2)))
    return sections


def main():
    binary, manpage = sys.argv[1:3]
    tree = help_tree(binary)
    sections = man_sections(manpage)
    shared = {t: o for t, lvl, o, _ in sections if lvl == 1 and t.endswith(" OPTIONS")}
    documented, problems = {}, []
    for title, level, opts, text in sections:
        if title == "OPTIONS":
            path = ()
        elif level == 2 and title.startswith("hookdump "):
            path = tuple(re.match(r"hookdump((?: [a-z]+)+)", title).group(1).split())
        else:
            continue
        if path in documented:
            problems.append(f"two sections for 'hookdump {' '.join(path)}'")
        opts = set(opts)
        for name, shared_opts in shared.items():
            if name in text:
                opts |= shared_opts
        documented[path] = opts

    for path, opts in sorted(tree.items()):
        name = " ".join(("hookdump",) + path)
        has_subs = any(len(p) == len(path) + 1 and p[:len(path)] == path for p in tree)
        if path not in documented:
            if not (has_subs and opts <= HELP):
                problems.append(f"'{name}' has no section in the man page")
            continue
        want = opts if path == () else opts - HELP
        for o in sorted(want - documented[path]):
            problems.append(f"'{name} --help' lists {o}, the man page does not")
        for o in sorted(documented[path] - want):
            problems.append(f"the man page documents {o} for '{name}', its --help does not list it")
    for path in documented:
        if path not in tree:
            problems.append(f"the man page has a section for 'hookdump {' '.join(path)}', no such command")

    # Not vacuous: the walk found the commands and their options.
    total = sum(len(o) for o in tree.values())
    if len(tree) < 10 or total < 60:
        problems.append(f"the --help walk found only {len(tree)} commands and {total} options")
    for p in problems:
        print(p)
    print(f"{len(tree)} commands, {total} options in --help; {len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
