#!/usr/bin/env bash
# bench/json/run.sh [--procs N] [--reps N] [--min-ms MS] - keel's JSON
# validator and path lookup against cJSON and simdjson
# (bench/json/bench_json.c).
#
# Builds keel (RelWithDebInfo, the default) and bench_json in ${KEEL_BENCH_BUILD:-build/bench}
# (installing cJSON and simdjson with ci/deps build bench when run as
# root), then runs --procs processes (default 5) pinned to CPU 1 with
# taskset, each taking the median of --reps rounds (default 7) of keel,
# cJSON and simdjson, and prints per document and workload: ns/doc and
# MB/s of each (medians over the processes) and the medians of the
# processes' median per-round ratios cJSON time / keel time and simdjson
# time / keel time, beside issue 16's targets (cJSON: validate >= 2x,
# extract >= 3x; simdjson: validate >= 1x on small and nested, >= 0.7x on
# strings).
# The method is /work/shared/BENCHMARKING.md's ("Parsers"). About 30 s.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

procs=5
reps=7
min_ms=5
while [[ $# -gt 0 ]]; do
    case "$1" in
        --procs) procs=${2:?}; shift 2 ;;
        --reps) reps=${2:?}; shift 2 ;;
        --min-ms) min_ms=${2:?}; shift 2 ;;
        -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench/json/run.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[[ "$procs" =~ ^[1-9][0-9]*$ && "$reps" =~ ^[1-9][0-9]?$ ]] ||
    { echo "bench/json/run.sh: bad --procs/--reps" >&2; exit 2; }

if [[ -x ci/deps ]]; then
    ci/deps build bench
fi

build=${KEEL_BENCH_BUILD:-build/bench}
mkdir -p "$build"
# The same configuration as bench/echo/run.sh, which shares build/bench.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKEEL_BUILD_TESTS=OFF \
    -DKEEL_BUILD_EXAMPLES=ON -DKEEL_BUILD_BENCH=ON >"$build/configure.log" 2>&1 ||
    { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j 2 --target bench_json >"$build/build.log" 2>&1 ||
    { tail -40 "$build/build.log"; exit 1; }
bin="$build/bench/json/bench_json"

pin=()
where="not pinned (taskset or a second CPU missing)"
if command -v taskset >/dev/null 2>&1 && taskset -c 1 true 2>/dev/null; then
    pin=(taskset -c 1)
    where="pinned to CPU 1 (taskset -c 1)"
fi

raw="$build/bench_json.raw"
: >"$raw"
echo "bench_json: $procs processes x $reps samples (>= ${min_ms} ms each), keel, cJSON, simdjson in turn, $where"
echo "cJSON $(pkg-config --modversion libcjson 2>/dev/null || echo '?'), $(uname -m), $(nproc) CPUs; documents: bench/json/bench_json.c"
"${pin[@]}" "$bin" --reps 1 --min-ms 0.1 | grep '^simdjson ' || true
for ((p = 1; p <= procs; p++)); do
    "${pin[@]}" "$bin" --reps "$reps" --min-ms "$min_ms" >>"$raw"
done

# Medians over the processes of each process's medians.
awk '
function med(list,    n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
$1 == "result" {
    key = $2 " " $3
    if (!(key in bytes)) { order[++keys] = key }
    bytes[key] = $4; k[key] = k[key] " " $5; c[key] = c[key] " " $6; r[key] = r[key] " " $7
    j[key] = j[key] " " $8; s[key] = s[key] " " $9
}
END {
    printf "%-8s %-16s %8s | %11s %7s | %9s %7s %-19s | %11s %7s %s\n", "doc", "workload", "bytes",
        "keel ns/doc", "MB/s", "cJSON ns", "MB/s", "cJSON/keel (target)", "simdjson ns", "MB/s",
        "simdjson/keel (target)"
    for (i = 1; i <= keys; i++) {
        key = order[i]; split(key, f, " ")
        kn = med(k[key]); cn = med(c[key]); ratio = med(r[key]); jn = med(j[key]); sr = med(s[key])
        target = (f[2] ~ /^validate/) ? 2 : 3
        st = ""
        if (f[2] == "validate") {
            starget = (f[1] == "strings") ? 0.7 : 1.0
            st = sprintf(" (>= %.1fx %s)", starget, (sr >= starget) ? "met" : "NOT met")
        }
        printf "%-8s %-16s %8d | %11.0f %7.1f | %9.0f %7.1f %5.2fx (>= %dx %-7s) | %11.0f %7.1f %5.2fx%s\n",
            f[1], f[2], bytes[key], kn, bytes[key] * 1e3 / kn, cn, bytes[key] * 1e3 / cn, ratio,
            target, ((ratio >= target) ? "met" : "NOT met"), jn, bytes[key] * 1e3 / jn, sr, st
    }
}' "$raw"
echo "cJSON/keel, simdjson/keel: median per-round ratio of the peer's time to keel's (> 1: keel is faster). Raw: $raw"
