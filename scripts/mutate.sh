#!/bin/bash
# SPDX-License-Identifier: MIT
# Mutation testing: apply each mutant of a committed list (tests/mutation/mutants.txt) to a
# scratch copy of the tree, build only the test targets that cover it (incrementally), run
# them, and count the mutant killed (a covering test fails, or the build breaks) or survived.
#
#   scripts/mutate.sh [options]
#     --list FILE        mutant list (default tests/mutation/mutants.txt)
#     --rev REV          git revision to mutate (default HEAD; the working tree's uncommitted
#                        changes are not included). Test targets missing at REV are skipped,
#                        which is how the score "before" a new test file is measured.
#     --shard K/N        run only mutants K, K+N, K+2N, ... (1-based) of the list
#     --sample N         run N mutants drawn at random (with --seed S, default 1)
#     --only ID[,ID...]  run only these mutants
#     -j N               N scratch copies working in parallel (default 1)
#     --threshold PCT    exit 1 when the score is below PCT (default 95)
#     --work DIR         scratch directory (default build-mutate; reused: builds are incremental)
#     --timeout SEC      per test executable (default 300)
#     --check            only verify that every mutant's snippet occurs exactly once
#
# List format: records separated by blank lines, '#' lines are comments.
#     [ID] one-line description of the bug
#     file    path/of/the/file.hpp
#     tests   target [target...]        Catch2 test executables that cover it
#     ctest   REGEX                     (optional) CTest tests to run as well
#     from    exact original text (must occur exactly once in the file)
#     to      its replacement (may be empty)
#     equivalent  why no test can tell (optional: counted apart, not as survived)
# Warnings are not errors here (a mutant that only warns is not killed by the build).
# Result per mutant: killed, killed(build), survived, equivalent, stale (snippet not found
# exactly once: the list needs updating), baseline-fails (a covering test fails on the
# unmutated tree: not scored, and the run fails). Score = killed / (killed + survived).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

list=tests/mutation/mutants.txt
rev=HEAD
shard=""
sample=""
seed=1
only=""
jobs=1
threshold=95
work=build-mutate
timeout_s=300
check_only=0
while [ $# -gt 0 ]; do
  case $1 in
    --list) list=$2; shift 2 ;;
    --rev) rev=$2; shift 2 ;;
    --shard) shard=$2; shift 2 ;;
    --sample) sample=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    -j) jobs=$2; shift 2 ;;
    -j*) jobs=${1#-j}; shift ;;
    --threshold) threshold=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --check) check_only=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "mutate.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
case $jobs in ''|*[!0-9]*|0) echo "mutate.sh: -j needs a positive number" >&2; exit 2 ;; esac
[ -f "$list" ] || { echo "mutate.sh: no list '$list'" >&2; exit 2; }
list=$(cd "$(dirname "$list")" && pwd)/$(basename "$list")
mkdir -p "$work"
work=$(cd "$work" && pwd)

# --- parse the list into one TSV line per mutant (fields escaped: \t \n \\) -------------------
parsed=$work/mutants.tsv
perl -e '
  use strict; use warnings;
  my ($file) = @ARGV; open(my $in, "<", $file) or die "cannot read $file\n";
  my (@recs, $r);
  my $flush = sub { push @recs, $r if $r; $r = undef; };
  while (my $line = <$in>) {
    chomp $line;
    next if $line =~ /^#/;
    if ($line =~ /^\s*$/) { $flush->(); next; }
    if ($line =~ /^\[([^\]]+)\]\s*(.*)$/) { $flush->(); $r = {id => $1, desc => $2}; next; }
    die "$file:$.: line outside a record\n" unless $r;
    if ($line =~ /^(file|tests|ctest|from|to|equivalent)(?:\s(.*))?$/) {
      my ($k, $v) = ($1, defined $2 ? $2 : "");
      $v =~ s/^\s+// unless $k eq "from" || $k eq "to";
      if ($k eq "from" || $k eq "to") {
        $v =~ s/^ +//;  # the column alignment, not the snippet
        $v =~ s/\\(.)/$1 eq "n" ? "\n" : $1 eq "t" ? "\t" : $1/ge;
      }
      $r->{$k} = $v;
    } else { die "$file:$.: unknown key in \"$line\"\n"; }
  }
  $flush->();
  my %seen;
  for my $m (@recs) {
    for my $k (qw(file tests from)) { die "mutant $m->{id}: no $k\n" unless defined $m->{$k} && $m->{$k} ne ""; }
    die "mutant $m->{id}: no to\n" unless defined $m->{to};
    die "mutant $m->{id}: duplicate id\n" if $seen{$m->{id}}++;
    my @f = map { my $x = defined $m->{$_} ? $m->{$_} : ""; $x =~ s/\\/\\\\/g; $x =~ s/\t/\\t/g; $x =~ s/\n/\\n/g; $x } qw(id file tests ctest from to equivalent desc);
    print join("\x1f", @f), "\n";
  }
' "$list" > "$parsed"
total=$(wc -l < "$parsed")

# --- choose the share to run -----------------------------------------------------------------
selected=$work/selected.tsv
if [ -n "$only" ]; then
  awk -F'\037' -v ids=",$only," 'index(ids, "," $1 ",") > 0' "$parsed" > "$selected"
elif [ -n "$shard" ]; then
  k=${shard%/*}; n=${shard#*/}
  awk -v k="$k" -v n="$n" '(NR - k) % n == 0 && NR >= k' "$parsed" > "$selected"
elif [ -n "$sample" ]; then
  awk -v seed="$seed" 'BEGIN { srand(seed) } { printf "%.12f\t%s\n", rand(), $0 }' "$parsed" |
    sort -k1,1 | head -n "$sample" | cut -f2- > "$selected"
else
  cp "$parsed" "$selected"
fi
count=$(wc -l < "$selected")

# --- the source tree: an export of REV ----------------------------------------------------------
src=$work/src
commit=$(git rev-parse --verify "$rev^{commit}")
if [ ! -f "$src/.commit" ] || [ "$(cat "$src/.commit")" != "$commit" ]; then
  rm -rf "$src"; mkdir -p "$src"
  git archive "$commit" | tar -x -C "$src"
  echo "$commit" > "$src/.commit"
fi

# Does the snippet occur exactly once? Prints the count.
occurrences() {  # file from
  perl -e 'my ($f, $s) = @ARGV; $s =~ s/\\(.)/$1 eq "n" ? "\n" : $1 eq "t" ? "\t" : $1/ge; local $/; open(my $h, "<", $f) or do { print 0; exit };
           my $t = <$h>; my $n = 0; my $p = 0; while (($p = index($t, $s, $p)) >= 0) { $n++; $p++ } print $n' "$1" "$2"
}

if [ "$check_only" = 1 ]; then
  bad=0
  while IFS=$'\x1f' read -r id file _tests _ctest from _to _eq _desc; do
    n=$(occurrences "$src/$file" "$from")
    if [ "$n" != 1 ]; then echo "stale $id: '$from' occurs $n times in $file"; bad=1; fi
  done < "$selected"
  echo "checked $count of $total mutants against $commit"
  exit $bad
fi

# --- one worker per scratch copy ---------------------------------------------------------------
worker() {  # index
  local w=$1 tree=$work/w$1 out=$work/w$1.results
  : > "$out"
  mkdir -p "$tree"
  # Sync the tree to REV (rsync-free: copy only files whose content differs, keeping mtimes of
  # unchanged files so that the build stays incremental).
  (cd "$src" && find . -type f ! -name .commit) | while read -r f; do
    if ! cmp -s "$src/$f" "$tree/$f"; then mkdir -p "$(dirname "$tree/$f")"; cp "$src/$f" "$tree/$f"; fi
  done
  local bd=$tree/_build
  if [ ! -f "$bd/CMakeCache.txt" ]; then
    cmake -S "$tree" -B "$bd" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS="-O1 -g0" \
      -DURET_BUILD_BENCHMARKS=OFF -DURET_BUILD_EXAMPLES=OFF -DURET_BUILD_TOOLS=ON -DURET_WERROR=OFF > "$tree/configure.log" 2>&1 ||
      { echo "worker $w: configure failed, see $tree/configure.log" >&2; return 1; }
  fi
  local targets_known=$tree/targets.txt
  cmake --build "$bd" --target help 2>/dev/null | sed -n 's/^\.\.\. \([^ ]*\).*/\1/p' > "$targets_known"
  local i=0
  local -A baseline=()
  while IFS=$'\x1f' read -r id file tests ctest from to equivalent desc; do
    i=$((i + 1))
    [ $(( (i - 1) % jobs )) -eq $((w - 1)) ] || continue
    local result="" detail=""
    if [ -n "$equivalent" ]; then
      result=equivalent
    elif [ "$(occurrences "$tree/$file" "$from")" != 1 ]; then
      result=stale
    else
      local have=""
      for t in $tests; do grep -qx "$t" "$targets_known" && have="$have $t"; done
      # Each covering target must pass on the unmutated tree (checked once per worker, before
      # its first mutant): a test that already fails would "kill" every mutant it covers.
      local broken=""
      for t in $have; do
        if [ -z "${baseline[$t]:-}" ]; then
          baseline[$t]=pass
          if ! cmake --build "$bd" -j1 --target "$t" > "$tree/baseline.log" 2>&1; then
            baseline[$t]=fail
          else
            local bexe
            bexe=$(find "$bd" -type f -name "$t" -perm -u+x | head -n1)
            (cd "$(dirname "$bexe")" && timeout "$timeout_s" "$bexe" >> "$tree/baseline.log" 2>&1) ||
              baseline[$t]=fail
          fi
        fi
        [ "${baseline[$t]}" = fail ] && broken="$broken $t"
      done
      if [ -n "$broken" ]; then
        result=baseline-fails; detail="unmutated:$broken"
      elif [ -z "$have" ] && [ -z "$ctest" ]; then
        result=survived; detail="no covering test target at this revision"
      else
        cp -p "$tree/$file" "$tree/$file.orig"
        perl -e 'my ($f, $s, $r) = @ARGV; for ($s, $r) { s/\\(.)/$1 eq "n" ? "\n" : $1 eq "t" ? "\t" : $1/ge; }
                 local $/; open(my $h, "<", $f) or die; my $t = <$h>; close $h;
                 my $p = index($t, $s); substr($t, $p, length($s)) = $r;
                 open($h, ">", $f) or die; print $h $t; close $h;' "$tree/$file" "$from" "$to"
        # One target at a time, in the list's order (cheap, sharp tests first): build it, run
        # it, stop at the first that fails.
        result=survived
        for t in $have; do
          if ! cmake --build "$bd" -j1 --target "$t" > "$tree/build.log" 2>&1; then
            result=killed; detail="build of $t"; break
          fi
          local exe
          exe=$(find "$bd" -type f -name "$t" -perm -u+x | head -n1)
          if ! (cd "$(dirname "$exe")" && timeout "$timeout_s" "$exe" > "$tree/test.log" 2>&1); then
            result=killed; detail=$t; break
          fi
        done
        if [ "$result" = survived ] && [ -n "$ctest" ]; then
          cmake --build "$bd" -j1 > "$tree/build.log" 2>&1 || true  # ctest may run any target
          if ! timeout "$timeout_s" ctest --test-dir "$bd" -R "$ctest" > "$tree/test.log" 2>&1; then
            result=killed; detail="ctest $ctest"
          fi
        fi
        mv "$tree/$file.orig" "$tree/$file"
        touch "$tree/$file"  # objects built from the mutant are older than this: rebuilt next time
      fi
    fi
    printf '%s\t%s\t%s\t%s\t%s\n' "$id" "$file" "$result" "$detail" "$desc" >> "$out"
    printf '%-6s %-14s %s %s\n' "$id" "$result" "$file" "${detail:+($detail)}"
  done < "$selected"
}

echo "mutate.sh: $count of $total mutants of $(git rev-parse --short "$commit"), $jobs worker(s), work dir $work"
pids=""
for w in $(seq 1 "$jobs"); do
  worker "$w" & pids="$pids $!"
done
failed=0
for p in $pids; do wait "$p" || failed=1; done
[ "$failed" = 0 ] || { echo "mutate.sh: a worker failed" >&2; exit 2; }

# --- report ------------------------------------------------------------------------------------
cat "$work"/w*.results > "$work/results.tsv" 2>/dev/null || true
awk -F'\t' -v threshold="$threshold" '
  { n[$2]++; r[$2, $3]++; all[$3]++ }
  $3 == "survived" { surv[++ns] = $1 "  " $2 ": " $5 (($4 != "") ? "  [" $4 "]" : "") }
  $3 == "stale" { stale[++nst] = $1 "  " $2 }
  $3 == "baseline-fails" { base[++nb] = $1 "  " $2 "  [" $4 "]" }
  END {
    printf "\n%-44s %7s %9s %10s %6s %7s\n", "file", "killed", "survived", "equivalent", "stale", "score"
    for (f in n) {
      k = r[f, "killed"] + 0; s = r[f, "survived"] + 0
      printf "%-44s %7d %9d %10d %6d %6s\n", f, k, s, r[f, "equivalent"] + 0, r[f, "stale"] + 0,
             (k + s > 0) ? sprintf("%.1f%%", 100 * k / (k + s)) : "-"
    }
    k = all["killed"] + 0; s = all["survived"] + 0
    score = (k + s > 0) ? 100 * k / (k + s) : 100
    printf "%-44s %7d %9d %10d %6d %6.1f%%\n", "total", k, s, all["equivalent"] + 0, all["stale"] + 0, score
    for (i = 1; i <= ns; i++) print "survived: " surv[i]
    for (i = 1; i <= nst; i++) print "stale (update the list): " stale[i]
    for (i = 1; i <= nb; i++) print "not scored, a covering test fails unmutated: " base[i]
    if (score < threshold) { printf "score %.1f%% is below %s%%\n", score, threshold; exit 1 }
    if (nst > 0 || nb > 0) exit 1
  }' "$work/results.tsv"
