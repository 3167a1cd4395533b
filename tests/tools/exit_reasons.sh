#!/bin/sh
# SPDX-License-Identifier: MIT
# uret-bench --trace's WRMSRs by exit reason, against the recording itself: on a real KVM
# recording where the user-return prediction is exact (every traced TSC_AUX write predicted, in
# order, nothing more), the user-return strategy's writes by exit reason must equal the traced
# writes (msr:write_msr of TSC_AUX, c0000103) by the reason of the last kvm_exit on their CPU,
# counted here straight from the text with awk, without the importer.
#   exit_reasons.sh URET_BENCH RECORDING...
set -eu
bench=$1
shift
status=0
for f in "$@"; do
  traced=$(awk '
    {
      if (match($0, /\[[0-9]+\]/) == 0) next
      cpu = substr($0, RSTART + 1, RLENGTH - 2) + 0
      if ($0 ~ /kvm_exit: /) {
        r = $0; sub(/.*kvm_exit: (vcpu [0-9]+ )?reason /, "", r); sub(/ (rip|info).*/, "", r)
        last[cpu] = r
      } else if ($0 ~ /write_msr: c0000103,/) {
        n[(cpu in last) ? last[cpu] : "(no exit yet)"]++
      }
    }
    END { for (k in n) print k "=" n[k] }' "$f" | sort | tr '\n' ' ')
  line=$("$bench" --trace "$f" --no-timing --strategy user-return 2>/dev/null | grep '^  user-return .*exits:' || true)
  # One count per word; "(no exit yet)=N" is kept in one piece.
  predicted=$(printf '%s\n' "${line#*exits: }" | sed 's/(no exit yet)=/(no_exit_yet)=/' | tr ' ' '\n' |
    grep '=' | sed 's/(no_exit_yet)/(no exit yet)/' | sort | tr '\n' ' ')
  if [ -z "$line" ] || [ "$traced" != "$predicted" ]; then
    echo "FAIL $(basename "$f"): traced by exit reason: $traced; user-return: $predicted"
    status=1
  else
    echo "ok   $(basename "$f"): $traced"
  fi
done
exit $status
