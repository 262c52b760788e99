#!/usr/bin/env python3
"""Where a profiled round's time goes, per event: reads a perf.data that
bench/kmod_vm_bench.sh --perf KINDS recorded in the guest (cpu-clock every 100 us, both vCPUs,
call chains) with the guest's kallsyms, on the host.

  kmod_perf_breakdown.py PERF_DATA KALLSYMS EVENTS FUNCTION...

For each FUNCTION: the samples whose call chain holds it, as microseconds a event (samples x
100 us / EVENTS), split by what it called (its child on the chain; 'self' when it was the
leaf). Under TCG a sample lands at the start of a translation block, so 'self' time shows
up just after a call returns: read callees, not instructions. Also the time per comm and vCPU.
Example: kmod_perf_breakdown.py bench/out/kmod_vm/bench/perf/kmod_0.perf.data
  bench/out/kmod_vm/bench/kallsyms 200000 ip_rcv nf_hook_slow hd_hook"""
import collections
import subprocess
import sys

PERIOD_US = 100.0  # perf record -c 100000 on cpu-clock (ns)

def read_samples(data, kallsyms):
    """The samples of perf.data DATA as (comm, cpu, [leaf ... root]) call chains."""
    script = subprocess.run(["perf", "script", "-i", data, "--kallsyms", kallsyms, "-F", "comm,cpu,ip,sym"],
                            capture_output=True, text=True, check=True).stdout
    samples = []
    for line in script.splitlines():
        if not line.strip():
            continue
        if not line.startswith("\t"):
            head, _, rest = line.partition(" [")
            samples.append((head.strip(), rest.split("]")[0], []))
        elif samples:
            f = line.split()
            samples[-1][2].append(f[1] if len(f) > 1 else "?")
    return samples


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    data, kallsyms, events, funcs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    samples = read_samples(data, kallsyms)

    def us(n):
        return n * PERIOD_US / events

    print(f"{len(samples)} samples: {us(len(samples)):.2f} us of CPU a event (both vCPUs, idle included)")
    comms = collections.Counter((c, cpu) for c, cpu, _ in samples)
    print("per comm/vCPU, us a event: " + ", ".join(f"{c}/{cpu} {us(n):.2f}" for (c, cpu), n in comms.most_common(10)))
    for fn in funcs:
        child, total = collections.Counter(), 0
        for _c, _cpu, chain in samples:
            if fn not in chain:
                continue
            total += 1
            i = max(j for j, s in enumerate(chain) if s == fn)  # the outermost call
            child["self" if i == 0 else chain[i - 1]] += 1
        print(f"\n{fn}: {us(total):.2f} us a event")
        for k, n in child.most_common(12):
            if us(n) >= 0.01:
                print(f"  {k:44s} {us(n):6.2f}")


if __name__ == "__main__":
    main()
