#!/usr/bin/env bash
# bench/http_parse/run.sh [--procs N] [--reps N] [--min-ms MS] - keel's
# HTTP/1.1 request parser against picohttpparser (libh2o-evloop0.13),
# llhttp (node-llhttp's sources) and http-parser 2.9 (libhttp-parser-dev),
# in one run (bench/http_parse/bench_http_parse.c).
#
# Builds keel (RelWithDebInfo) and bench_http_parse in ${KEEL_BENCH_BUILD:-build/bench}
# (installing the peers with ci/deps build bench when run as root), then
# runs --procs processes (default 5) pinned to CPU 1 with taskset, each
# taking the median of --reps rounds (default 7; keel, pico, llhttp,
# http-parser round-robin in each round) after checking every parser's
# result on every request, and prints: ns/request and MB/s per request and
# for the mix (medians over the processes), the ratios parser/keel (medians
# of the processes' median per-round ratios; > 1: keel is faster) beside the
# targets, and the trickled case as ns/byte per block size with its
# flatness (ns/byte at the size / ns/byte at 1 KiB). About a minute.
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
        -h|--help) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench/http_parse/run.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[[ "$procs" =~ ^[1-9][0-9]*$ && "$reps" =~ ^[1-9][0-9]?$ && "$min_ms" =~ ^[0-9]+(\.[0-9]+)?$ ]] ||
    { echo "bench/http_parse/run.sh: bad --procs/--reps/--min-ms" >&2; exit 2; }

if [[ -x ci/deps ]]; then
    ci/deps build bench
fi

build=${KEEL_BENCH_BUILD:-build/bench}
mkdir -p "$build"
# The same configuration as bench/echo/run.sh and bench/json/run.sh, which share build/bench.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKEEL_BUILD_TESTS=OFF \
    -DKEEL_BUILD_EXAMPLES=ON -DKEEL_BUILD_BENCH=ON >"$build/configure.log" 2>&1 ||
    { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j 2 --target bench_http_parse >"$build/build.log" 2>&1 ||
    { tail -40 "$build/build.log"; exit 1; }
bin="$build/bench/http_parse/bench_http_parse"

pin=()
where="NOT pinned (taskset or a second CPU missing)"
if command -v taskset >/dev/null 2>&1 && taskset -c 1 true 2>/dev/null; then
    pin=(taskset -c 1)
    where="pinned to CPU 1 (taskset -c 1)"
fi

version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo '?'; }
raw="$build/bench_http_parse.raw"
: >"$raw"
echo "bench_http_parse: $procs processes x $reps rounds (>= ${min_ms} ms per sample), keel/pico/llhttp/http_parser round-robin, $where"
echo "peers: picohttpparser in libh2o-evloop0.13 $(version libh2o-evloop0.13), llhttp from node-llhttp $(version node-llhttp), http-parser $(version libhttp-parser2.9); $(uname -m), $(nproc) CPUs"
for ((p = 1; p <= procs; p++)); do
    out=$("${pin[@]}" "$bin" --reps "$reps" --min-ms "$min_ms") ||
        { echo "bench/http_parse/run.sh: process $p failed" >&2; exit 1; }
    grep -q '^verified: ' <<<"$out" ||
        { echo "bench/http_parse/run.sh: process $p did not verify the parsers" >&2; exit 1; }
    sed -n "s/^result /result $p /p" <<<"$out" >>"$raw"
done
echo "every process first checked every parser's result on every request (method, target, version, each field, framing, body, bytes)"

awk -v procs="$procs" '
function med(list,    n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
$1 == "result" {
    proc = $2; w = $3; p = $4
    if (!(w in seen)) { seen[w] = 1; order[++nw] = w }
    bytes[w] = $5; ns[w, p] = ns[w, p] " " $6; ratio[w, p] = ratio[w, p] " " $7
    nsp[w, p, proc] = $6
}
END {
    np = split("keel pico llhttp http_parser", P, " ")
    print ""
    printf "%-8s %5s", "", ""
    for (i = 1; i <= np; i++) printf " | %-*s", (i > 1 ? 22 : 14), P[i]
    print ""
    printf "%-8s %5s", "request", "bytes"
    for (i = 1; i <= np; i++) printf " | %7s %6s%s", "ns/req", "MB/s", (i > 1 ? " x keel" : "")
    print ""
    for (k = 1; k <= nw; k++) {
        w = order[k]
        if (w ~ /^trickle/) continue
        printf "%-8s %5.0f", w, bytes[w]
        for (i = 1; i <= np; i++) {
            n = med(ns[w, P[i]])
            printf " | %7.1f %6.0f", n, bytes[w] * 1e3 / n
            if (i > 1) printf " %6.2f", med(ratio[w, P[i]])
        }
        print ""
    }
    print "x keel: median paired ratio parser time / keel time (> 1: keel is faster); mix: the three requests in turn, per request"
    r = med(ratio["mix", "pico"]); h = med(ratio["mix", "http_parser"])
    printf "targets on the mix: keel ns/request <= picohttpparser (pico/keel %.2f >= 1: %s); keel >= 4.5x faster than http-parser (%.2fx: %s)\n",
        r, (r >= 1 ? "met" : "MISSED"), h, (h >= 4.5 ? "met" : "MISSED")
    print ""
    print "trickle: a GET with 1-64 KiB of field lines fed one byte more per call; ns per byte (flat: ns/B at the size / ns/B at 1 KiB, median over processes)"
    printf "%-12s %6s", "", ""
    for (i = 1; i <= np; i++) printf " | %-12s", P[i]
    print ""
    printf "%-12s %6s", "block", "bytes"
    for (i = 1; i <= np; i++) printf " | %6s %5s", "ns/B", "flat"
    print ""
    for (k = 1; k <= nw; k++) {
        w = order[k]
        if (w !~ /^trickle/) continue
        printf "%-12s %6.0f", w, bytes[w]
        for (i = 1; i <= np; i++) {
            fl = ""
            for (q = 1; q <= procs; q++)
                if ((w, P[i], q) in nsp && ("trickle-1k", P[i], q) in nsp)
                    fl = fl " " (nsp[w, P[i], q] / bytes[w]) / (nsp["trickle-1k", P[i], q] / bytes["trickle-1k"])
            printf " | %6.2f %5.2f", med(ns[w, P[i]]) / bytes[w], med(fl)
        }
        print ""
    }
    f = ""
    for (q = 1; q <= procs; q++)
        f = f " " (nsp["trickle-64k", "keel", q] / bytes["trickle-64k"]) / (nsp["trickle-1k", "keel", q] / bytes["trickle-1k"])
    f = med(f)
    printf "target: keel linear (ns/B flat from 1 to 64 KiB): 64 KiB / 1 KiB = %.2f (%s; flat means 0.83 to 1.20)\n", f,
        (f > 1.20 ? "MISSED" : f < 1 / 1.20 ? "not shown: the 1 KiB samples were disturbed, run again" : "met")
}' "$raw"
echo "Raw per-process lines: $raw"
