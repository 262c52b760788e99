#!/bin/bash
# The tc/XDP programs under BPF_PROG_TEST_RUN on Debian's 6.1 kernel (verdict and packet
# unchanged, records, rules, flow counters, ring-full and map-full counting, the filter in place of its stub).
source "$(dirname "$0")/../bpf_lib.sh"
vm_require_bpf
t=$HOOKDUMP_BUILD/tests/netns/hookdump_bpf_prog_tests
[[ -x $t ]] || vm_fail "$t is not built"
vm_run "$t" --gtest_brief=1 || vm_fail "BPF_PROG_TEST_RUN tests failed"
