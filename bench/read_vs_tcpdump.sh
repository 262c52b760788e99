#!/usr/bin/env bash
# hookdump read vs tcpdump -r on one big capture, in one command:
#   bench/read_vs_tcpdump.sh [-n PACKETS] [-f FLOWS] [-r RUNS] [-t TCPDUMP_RUNS] [-k] [BIG.pcap]
# Without BIG.pcap it writes one (~1 GB: PACKETS=4000000 packets of FLOWS=10000 flows, 200-byte
# payloads) with `hookdump generate` on tmpfs (/dev/shm, or a tmpfs it mounts itself), and
# removes it on exit (-k keeps it). Then times, RUNS=5 runs each (tcpdump: TCPDUMP_RUNS=3):
#   hookdump read BIG -o text      tcpdump -n -r BIG        hookdump read BIG --flows
#   hookdump read BIG -o csv       hookdump read BIG -w out.pcapng
# prints a markdown table (median wall s, mean user+sys CPU s, MB/s, packets/s, speedup over
# tcpdump) and writes bench/out/read.json. HOOKDUMP=path/to/hookdump picks the binary (default
# build/hookdump, built with scripts/build when missing). Uses hyperfine when present
# (installing it with apt-get when root), else times the runs itself.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

packets=4000000   # x ~270 bytes a record = ~1.08 GB
flows=10000
runs=5
tcpdump_runs=3    # tcpdump is slow on this traffic (see bench/README.md): fewer runs
keep=0
big=
while (($#)); do
  case $1 in
    -n) packets=$2; shift 2 ;;
    -f) flows=$2; shift 2 ;;
    -r) runs=$2; shift 2 ;;
    -t) tcpdump_runs=$2; shift 2 ;;
    -k) keep=1; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "read_vs_tcpdump: unknown option $1" >&2; exit 2 ;;
    *) big=$1; shift ;;
  esac
done

hd=${HOOKDUMP:-$root/build/hookdump}
if [[ ! -x $hd ]]; then
  if [[ -z ${HOOKDUMP:-} ]]; then "$root/scripts/build" >/dev/null
  else echo "read_vs_tcpdump: $hd is not executable" >&2; exit 2; fi
fi
hd=$(realpath "$hd")

need() {  # tool, Debian package
  command -v "$1" >/dev/null && return 0
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "read_vs_tcpdump: installing $2" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "$2" >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends "$2" >/dev/null 2>&1; } ||
      true
  fi
  command -v "$1" >/dev/null
}
need tcpdump tcpdump || { echo "read_vs_tcpdump: tcpdump is needed" >&2; exit 2; }
need python3 python3 || { echo "read_vs_tcpdump: python3 is needed" >&2; exit 2; }
have_hyperfine=0
if need hyperfine hyperfine; then have_hyperfine=1; fi

# Scratch space on tmpfs, so that the disk is not what is measured.
mounted=
work=
cleanup() {
  if [[ -n $work ]]; then
    if ((keep)) && [[ -f $work/big.pcap ]]; then
      rm -f "$work"/out.pcapng "$work"/raw-*.json
      echo "read_vs_tcpdump: kept $work/big.pcap" >&2
    else
      rm -rf "$work"
    fi
  fi
  if [[ -n $mounted ]] && ! ((keep)); then umount "$mounted" && rmdir "$mounted"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
need_mb=$((packets * 600 / 1000000 + 256))  # the capture and its pcapng copy
avail_mb() { df -Pm "$1" 2>/dev/null | awk 'NR==2 {print $4}'; }
if [[ $(stat -f -c %T /dev/shm 2>/dev/null) == tmpfs && $(avail_mb /dev/shm) -gt $need_mb ]]; then
  work=$(mktemp -d /dev/shm/hookdump-bench.XXXXXX)
else
  [[ $(id -u) -eq 0 ]] || { echo "read_vs_tcpdump: /dev/shm is too small and mounting a tmpfs needs root" >&2; exit 2; }
  mounted=$(mktemp -d /tmp/hookdump-bench-tmpfs.XXXXXX)
  mount -t tmpfs -o size=$((need_mb + 256))m hookdump-bench "$mounted"
  work=$mounted
fi

if [[ -z $big ]]; then
  big=$work/big.pcap
  echo "read_vs_tcpdump: generating $packets packets of $flows flows into $big" >&2
  "$hd" generate -n "$packets" --flow-count "$flows" --payload 200 -w "$big"
else
  [[ -r $big ]] || { echo "read_vs_tcpdump: cannot read $big" >&2; exit 2; }
  flows=
  packets=$("$hd" read "$big" -o csv | tail -n +2 | wc -l)
fi
size=$(stat -c %s "$big")
echo "read_vs_tcpdump: $big: $size bytes, $packets packets" >&2

names=(hookdump-text tcpdump hookdump-flows hookdump-csv hookdump-pcapng)
display=("hookdump read BIG -o text" "tcpdump -n -r BIG" "hookdump read BIG --flows"
         "hookdump read BIG -o csv" "hookdump read BIG -w out.pcapng")
cmds=(
  "'$hd' read '$big' -o text > /dev/null"
  "tcpdump -n -r '$big' > /dev/null 2>&1"
  "'$hd' read '$big' --flows > /dev/null"
  "'$hd' read '$big' -o csv > /dev/null"
  "'$hd' read '$big' -w '$work/out.pcapng' > /dev/null"
)

# time_cmd NAME COMMAND RUNS WARMUP: writes $work/raw-NAME.json in hyperfine's export shape.
time_cmd() {
  local name=$1 cmd=$2 n=$3 warm=$4
  echo "read_vs_tcpdump: timing $name ($n runs)" >&2
  if ((have_hyperfine)); then
    hyperfine --style basic --warmup "$warm" --runs "$n" --export-json "$work/raw-$name.json" \
      --cleanup "rm -f '$work/out.pcapng'" -n "$name" "$cmd" >&2
  else
    python3 - "$work/raw-$name.json" "$name" "$cmd" "$n" "$warm" <<'PY'
import json, os, subprocess, sys, time
out, name, cmd, runs, warm = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
for _ in range(warm):
    subprocess.run(["bash", "-c", cmd], check=True)
times, user, system = [], [], []
for _ in range(runs):
    t0 = time.perf_counter()
    p = subprocess.Popen(["bash", "-c", cmd])
    _, status, ru = os.wait4(p.pid, 0)
    times.append(time.perf_counter() - t0)
    user.append(ru.ru_utime)
    system.append(ru.ru_stime)
    if status:
        sys.exit(f"{name} failed")
    print(f"  {name}: {times[-1]:.3f} s", file=sys.stderr)
s = sorted(times)
median = s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2
json.dump({"results": [{"command": name, "times": times, "median": median, "mean": sum(times) / runs,
                        "user": sum(user) / runs, "system": sum(system) / runs}]}, open(out, "w"))
PY
  fi
}
for i in "${!names[@]}"; do
  if [[ ${names[$i]} == tcpdump ]]; then
    time_cmd "${names[$i]}" "${cmds[$i]}" "$tcpdump_runs" 0
  else
    time_cmd "${names[$i]}" "${cmds[$i]}" "$runs" 1
  fi
done

mkdir -p "$here/out"
python3 - "$work" "$here/out/read.json" "$size" "$packets" "${flows:-0}" "$hd" "${names[@]}" -- "${display[@]}" <<'PY'
import datetime, json, os, platform, subprocess, sys
work, out, size, packets, flows, hd = sys.argv[1:7]
size, packets, flows = int(size), int(packets), int(flows)
sep = sys.argv.index("--")
names, display = sys.argv[7:sep], sys.argv[sep + 1:]
res = {n: json.load(open(os.path.join(work, f"raw-{n}.json")))["results"][0] for n in names}
base = res["tcpdump"]["median"]
rows = []
for name, shown in zip(names, display):
    r = res[name]
    wall = r["median"]
    rows.append({"name": name, "command": shown, "runs": len(r["times"]), "wall_s": round(wall, 3),
                 "cpu_s": round(r["user"] + r["system"], 3), "mb_per_s": round(size / 1e6 / wall, 1),
                 "packets_per_s": round(packets / wall), "speedup_vs_tcpdump": round(base / wall, 2),
                 "runs_s": [round(t, 3) for t in r["times"]]})
def ver(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True)
        return (p.stdout + p.stderr).splitlines()[0].strip()
    except Exception:
        return "?"
doc = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
       "host": {"cpus": os.cpu_count(), "kernel": platform.release(),
                "loadavg_1m_at_end": round(os.getloadavg()[0], 2)},
       "hookdump": ver([hd, "--version"]), "tcpdump": ver(["tcpdump", "--version"]),
       "capture": {"bytes": size, "packets": packets, "flows": flows or None}, "results": rows}
with open(out, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
print(f"\nCapture: {size / 1e6:.0f} MB, {packets} packets" + (f", {flows} flows" if flows else "") +
      "; wall = median, CPU = user+sys (mean)\n")
print("| command | runs | wall s | CPU s | MB/s | packets/s | vs tcpdump |")
print("|---|---:|---:|---:|---:|---:|---:|")
for r in rows:
    print(f"| `{r['command']}` | {r['runs']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r['mb_per_s']:.0f} | "
          f"{r['packets_per_s'] / 1e6:.2f} M | {r['speedup_vs_tcpdump']:.2f}x |")
t, fl = res["hookdump-text"]["median"], res["hookdump-flows"]["median"]
print(f"\nGoals: text >= 3x tcpdump: {'met' if base / t >= 3 else 'MISSED'} ({base / t:.2f}x); "
      f"--flows at least as fast as text: {'met' if fl <= t else 'MISSED'} ({fl:.2f} s vs {t:.2f} s)")
print(f"Wrote {out}")
PY
