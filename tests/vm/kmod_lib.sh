# Helpers for the hookdump.ko cases (tests/vm/cases/6*_kmod_*.sh); sourced after lib.sh.

kmod_nap() { vm_nap "$@"; }

# kmod_wait_ready ERRFILE COUNT: waits until a capture writing its stderr to ERRFILE says it
# listens with COUNT rules in place (each hookdump start takes a while under TCG). Builtins
# only: the loops of kmod_load_loop run this 50 times.
kmod_wait_ready() {
  local i line
  for ((i = 0; i < 300; i++)); do
    if [[ -f $1 ]]; then
      while IFS= read -r line; do
        [[ $line == "listening at netfilter hooks ($2 rules"* ]] && return 0
        [[ $line == "hookdump: "* ]] && break 2
      done <"$1"
    fi
    kmod_nap 0.1
  done
  cat "$1"
  vm_fail "no capture with $2 rules became ready ($1)"
}

kmod_wait_exit() { vm_wait_exit "$@"; }

# kmod_rows CSV [awk condition]: data rows of a hookdump csv (header dropped) that match.
kmod_rows() { awk -F, -v OFS=, "NR > 1 ${2:+&& ($2)}" "$1"; }
kmod_count() { kmod_rows "$@" | wc -l; }

# kmod_stat NS NAME: one counter of 'hookdump kmod stats' in NS.
kmod_stat() { ip netns exec "$1" "$HOOKDUMP_BIN" kmod stats | awk -v k="$2" '$1 == k { print $2 }'; }

# kmod_router_topology: A (198.18.1.2) -- R (198.18.1.1 | 198.18.2.1) -- B (198.18.2.2), and
# 2001:db8:1::/64, 2001:db8:2::/64 with IPv6 on; forwarding in R. Namespaces kA, kR, kB.
kmod_router_topology() {
  vm_modprobe veth
  local ns
  for ns in kA kR kB; do
    ip netns add $ns || vm_fail "ip netns add $ns"
    vm_on_exit "ip netns delete $ns 2>/dev/null"
    ip -n $ns link set lo up
    ip netns exec $ns sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
      net.ipv6.conf.all.router_solicitations=0 net.ipv6.conf.default.router_solicitations=0 \
      net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0
  done
  ip link add a0 netns kA type veth peer name r0 netns kR || vm_fail "veth a0-r0"
  ip link add b0 netns kB type veth peer name r1 netns kR || vm_fail "veth b0-r1"
  ip -n kA addr add 198.18.1.2/24 dev a0; ip -n kA addr add 2001:db8:1::2/64 dev a0 nodad
  ip -n kR addr add 198.18.1.1/24 dev r0; ip -n kR addr add 2001:db8:1::1/64 dev r0 nodad
  ip -n kR addr add 198.18.2.1/24 dev r1; ip -n kR addr add 2001:db8:2::1/64 dev r1 nodad
  ip -n kB addr add 198.18.2.2/24 dev b0; ip -n kB addr add 2001:db8:2::2/64 dev b0 nodad
  for l in "kA a0" "kR r0" "kR r1" "kB b0"; do set -- $l; ip -n $1 link set $2 up; done
  ip -n kA route add default via 198.18.1.1; ip -n kA -6 route add default via 2001:db8:1::1
  ip -n kB route add default via 198.18.2.1; ip -n kB -6 route add default via 2001:db8:2::1
  ip netns exec kR sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  # Neighbours resolved before counting, so that no ARP/ND retransmission interferes.
  ip netns exec kA ping -q -c1 -W2 198.18.2.2 >/dev/null || vm_fail "no IPv4 path A -> B"
  ip netns exec kA ping -6 -q -c1 -W2 2001:db8:2::2 >/dev/null || vm_fail "no IPv6 path A -> B"
}
