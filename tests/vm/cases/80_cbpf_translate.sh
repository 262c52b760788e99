#!/bin/bash
# pcap-filter expressions translated to eBPF (tc and XDP) decide as libpcap does on Debian's
# 6.1 kernel: its verifier accepts every translated program and BPF_PROG_TEST_RUN gives the same
# verdicts as pcap_offline_filter. A spread of 40 corpus files (the build's corpus directory)
# plus the built packets keeps the TCG run short; the host's netns_cbpf_translate runs it all.
source "$(dirname "$0")/../lib.sh"
test_bin=$HOOKDUMP_BUILD/tests/netns/hookdump-cbpf-test
[[ -x $test_bin ]] || vm_fail "$test_bin is not built"
vm_run "$test_bin" --max-files 40
rc=$?
if ((rc == 77)); then
  [[ ${CI:-} == true ]] && vm_fail "the comparison could not run (see above)"
  vm_skip "the comparison could not run (see above)"
fi
((rc == 0)) || vm_fail "translated filters disagree with libpcap (exit $rc)"
