#!/usr/bin/env bash
# tests/run_all_cases.sh PREFIX ALLOWED-SKIPS RUNNER... PROGRAM
#
# Runs every case of a cmocka test program in one process, under RUNNER
# (valgrind): the valgrind stage registers one CTest test per program this
# way (tests/discover_cases.cmake, KEEL_VALGRIND) instead of one per case,
# because memcheck's start-up (~0.7 s a process) was most of that stage's
# time (570 processes). Every case still runs under memcheck; a failing
# case, a memcheck error (exit 99) or a leak fails the run.
#
# A case that calls skip() fails the run unless ALLOWED-SKIPS
# (tests/allowed-skips.txt) allows PREFIX.CASE, as ci/check-skips does for
# the per-case tests of the other stages.
set -uo pipefail
prefix=$1
allowed=$2
shift 2

out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}

# cmocka prints "[  SKIPPED ] NAME" for a skipped case (and again in its summary).
skipped=$(sed -n 's/^\[  SKIPPED \] \([A-Za-z_][A-Za-z0-9_]*\)$/\1/p' "$out" | sort -u)
bad=0
for case in $skipped; do
    name=$prefix.${case#test_}
    if perl -e '
        my ($allowed, $name) = @ARGV;
        open my $fh, "<", $allowed or die "run_all_cases: cannot read $allowed: $!\n";
        while (my $line = <$fh>) {
            next if $line =~ /^\s*(#|$)/;
            my ($pattern) = $line =~ /^(\S+)\s+\S/ or next;
            exit 0 if $name =~ /^(?:$pattern)$/;
        }
        exit 1;' "$allowed" "$name"; then
        echo "run_all_cases: allowed skip $name (tests/allowed-skips.txt)"
    else
        echo "run_all_cases: SKIPPED, not allowed: $name"
        bad=1
    fi
done
if [[ $rc -ne 0 ]]; then
    echo "run_all_cases: $prefix exited with $rc"
    exit "$rc"
fi
exit "$bad"
