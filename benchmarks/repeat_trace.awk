# SPDX-License-Identifier: MIT
# awk -v bytes=N -f repeat_trace.awk TRACE > OUT: a trace of at least N bytes made of TRACE (ftrace
# or trace-cmd report text) repeated: its comment header once, then its event lines again and
# again, each copy's timestamps moved past the previous copy's. A real recording repeated stays a
# consistent trace when it ends in the state it began in (kvm_svm_6_1_preempt_user does: the
# streaming benchmark, benchmarks/import_stream.sh, and the importer's memory test use it).
BEGIN { n = 0 }
/^#/ { if (!body) print; next }
{
  body = 1
  if (match($0, /[0-9]+\.[0-9]+: /)) {
    pre[n] = substr($0, 1, RSTART - 1); ts[n] = substr($0, RSTART, RLENGTH - 2) + 0
    post[n] = substr($0, RSTART + RLENGTH - 2); n++
  }
}
END {
  span = ts[n - 1] - ts[0] + 0.001; out = 0; rep = 0
  while (out < bytes) {
    off = rep * span
    for (i = 0; i < n; i++) { line = sprintf("%s%.6f%s", pre[i], ts[i] + off, post[i]); print line; out += length(line) + 1 }
    rep++
  }
}
