#!/usr/bin/env python3
"""Runs hookdump over every file of a capture corpus and fails on any crash.

For each file (every link type, malformed captures and non-captures included):

    HOOKDUMP read FILE -o csv
    HOOKDUMP read FILE --flows
    HOOKDUMP read FILE -o pcapng -w TMP/out.pcapng
    HOOKDUMP read TMP/out.pcapng -o csv          (when the previous run wrote a file)

each with a per-run timeout. (A written pcapng that cannot be read back is a warning only.) A run fails when hookdump is killed by a signal, exits with a
status other than 0 (success), 1 (runtime failure) or 2 (bad usage or input), times out, or
prints a sanitizer report on stderr ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
"runtime error:" from UBSan). Sanitizers exit with status 1 by default, so stderr is what
tells a sanitizer report from an ordinary runtime failure.

Give it an ASan+UBSan build (-DHOOKDUMP_SANITIZE=ON) to make memory errors visible.

Exit status: 0 when every run passed, 1 otherwise, 2 on bad usage, 77 when the corpus
directory is missing and --skip-missing is given and CI is not "true" (ctest's
SKIP_RETURN_CODE). Python 3 standard library only.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import os
import signal
import subprocess
import sys
import tempfile
import time

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "ERROR: UndefinedBehaviorSanitizer")


def describe_rc(rc: int) -> str:
    if rc < 0:
        try:
            return f"killed by signal {-rc} ({signal.Signals(-rc).name})"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exit {rc}"


def run(cmd, timeout, stdout=subprocess.DEVNULL):
    """subprocess.run in its own process group, all of which is killed on timeout (so a
    child holding the pipes open cannot stall us). Raises subprocess.TimeoutExpired."""
    with subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE,
                          start_new_session=True) as p:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
            raise
        return subprocess.CompletedProcess(cmd, p.returncode, out, err)


def run_one(cmd, timeout):
    """Returns (failure description or None, exit code)."""
    try:
        p = run(cmd, timeout)
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:g}s", None
    err = p.stderr.decode("utf-8", "replace")
    for marker in SANITIZER_MARKERS:
        if marker in err:
            i = err.index(marker)
            excerpt = err[max(0, err.rfind("\n", 0, i) + 1):][:600]
            return f"sanitizer report ({describe_rc(p.returncode)}): {excerpt.strip()}", p.returncode
    if p.returncode < 0 or p.returncode not in (0, 1, 2):
        return f"{describe_rc(p.returncode)}: {err.strip()[:300]}", p.returncode
    return None, p.returncode


def check_file(path, args, tmpdir):
    """Returns (name, [failures], [warnings], {run name: exit code})."""
    name = os.path.basename(path)
    failures = []
    warnings = []
    codes = {}
    # A per-file output path: the two workers never share one.
    out = os.path.join(tmpdir, f"{abs(hash(path)):x}-{os.getpid()}.pcapng")
    runs = [
        ("csv", [args.hookdump, "read", path, "-o", "csv"]),
        ("flows", [args.hookdump, "read", path, "--flows"]),
        ("pcapng", [args.hookdump, "read", path, "-o", "pcapng", "-w", out]),
    ]
    try:
        for label, cmd in runs:
            msg, rc = run_one(cmd, args.timeout)
            codes[label] = rc
            if msg:
                failures.append(f"{label}: {msg}")
        if os.path.exists(out) and codes.get("pcapng") in (0, 1):
            msg, rc = run_one([args.hookdump, "read", out, "-o", "csv"], args.timeout)
            codes["reread"] = rc
            if msg:
                failures.append(f"re-read of the written pcapng: {msg}")
            elif rc != 0 and codes.get("pcapng") == 0:
                # Not a crash: reported, but does not fail the test.
                warnings.append(f"re-read of the written pcapng: {describe_rc(rc)} "
                                "although writing it succeeded")
    finally:
        try:
            os.unlink(out)
        except FileNotFoundError:
            pass
    return name, failures, warnings, codes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("hookdump", help="path of the hookdump binary (a sanitizer build is best)")
    ap.add_argument("corpus", help="directory of capture files")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=10.0, help="per-run timeout in seconds")
    ap.add_argument("--skip-missing", action="store_true",
                    help="exit 77 (skip) when the corpus is missing, unless CI=true")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every file's exit codes")
    ap.add_argument("files", nargs="*", help="only these file names from the corpus")
    args = ap.parse_intermixed_args()

    if not os.path.isdir(args.corpus):
        if args.skip_missing and os.environ.get("CI", "").lower() != "true":
            print("*" * 72)
            print(f"SKIP: corpus directory {args.corpus} not found; corpus_robustness not run")
            print("*" * 72)
            sys.exit(77)
        ci = " (CI=true: not skipped)" if os.environ.get("CI", "").lower() == "true" else ""
        print(f"robustness: corpus directory {args.corpus} not found{ci}", file=sys.stderr)
        sys.exit(2)
    if not os.access(args.hookdump, os.X_OK):
        print(f"robustness: {args.hookdump} is not executable", file=sys.stderr)
        sys.exit(2)

    names = args.files or sorted(os.listdir(args.corpus))
    paths = [os.path.join(args.corpus, n) for n in names
             if os.path.isfile(os.path.join(args.corpus, n))]
    if not paths:
        print(f"robustness: no files in {args.corpus}", file=sys.stderr)
        sys.exit(2)

    t0 = time.monotonic()
    failed = []
    warned = 0
    codes_total = collections.Counter()
    with tempfile.TemporaryDirectory(prefix="hookdump-robustness-") as tmpdir:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
            for name, failures, warns, codes in ex.map(lambda p: check_file(p, args, tmpdir), paths):
                for w in warns:
                    print(f"WARN {name}: {w}")
                warned += bool(warns)
                for label, rc in codes.items():
                    codes_total[(label, rc)] += 1
                if args.verbose:
                    print(f"{name}: " + " ".join(f"{k}={v}" for k, v in codes.items()))
                if failures:
                    failed.append(name)
                    for f in failures:
                        print(f"FAIL {name}: {f}")
    elapsed = time.monotonic() - t0

    runs = sum(codes_total.values())
    print()
    print("exit codes by run:")
    for (label, rc), n in sorted(codes_total.items(), key=lambda x: (x[0][0], str(x[0][1]))):
        print(f"  {label:7s} {'timeout' if rc is None else describe_rc(rc):30s} {n:5d}")
    print(f"SUMMARY: {'PASS' if not failed else 'FAIL'}: {len(paths)} files, {runs} hookdump runs, "
          f"{len(failed)} files with a crash, sanitizer report or timeout, {warned} with warnings, "
          f"{elapsed:.1f}s")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
