#!/usr/bin/env bash
# bench/loop/run.sh [--quick] [--rounds R] [--seg B] [--min-bytes N] [--build-dir DIR]
#                   [--keel-server PATH]
#
# Trickle benchmark: what holding a header block that arrives in small
# segments costs a server, per byte, as the block grows from 1 KiB to
# 256 KiB. keel (bench/loop/trickle_keel.c: a keel_stream whose handler
# consumes nothing until the block is complete) against the floor, a raw
# epoll server appending to a doubling buffer (bench/loop/trickle_epoll.c),
# driven by bench/loop/trickle_client.c (one segment per server read: the
# client waits for a one-byte answer after each). O(n) holding cost shows
# as a flat server CPU time per byte across the sizes.
#
# Method (/work/shared/BENCHMARKING.md): each server is started fresh for
# every run, pinned to CPU 0 (taskset -c 0), the client to CPU 1; runs go
# round-robin keel, epoll, keel, ... (--rounds R, default 5); the server's
# CPU time comes from /proc/PID/task/*/schedstat at the edges of each
# size's run. The table gives, per size, the median ns of server CPU per
# byte for each server, the median of the per-round ratios keel/epoll, and
# for each server the median of the per-round ratios (ns/byte at this size)
# / (ns/byte at the smallest size): 1.00 means flat, i.e. O(n) in total.
# --keel-server runs another build of trickle_keel (e.g. one linked against
# an older keel) in keel's place. Raw lines stay in DIR/trickle-results/.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$root/build/bench
rounds=5
seg=64
min_bytes=262144
keel_server=
sizes=(1024 4096 16384 65536 262144)
while [[ $# -gt 0 ]]; do
    case $1 in
    --quick) rounds=1 min_bytes=65536 ;;
    --rounds) rounds=${2:?}; shift ;;
    --seg) seg=${2:?}; shift ;;
    --min-bytes) min_bytes=${2:?}; shift ;;
    --build-dir) build=${2:?}; shift ;;
    --keel-server) keel_server=${2:?}; shift ;;
    *) sed -n '2,4p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}/usage: /' >&2; exit 2 ;;
    esac
    shift
done

# ---- build -------------------------------------------------------------------
if [[ -x $root/ci/deps ]]; then
    "$root/ci/deps" build bench
fi
mkdir -p "$build"
log=$build/trickle-build.log
echo "building into $build (log: $log)"
if ! { cmake -S "$root" -B "$build" -DKEEL_BUILD_BENCH=ON -DKEEL_BUILD_TESTS=OFF \
    -DKEEL_BUILD_EXAMPLES=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
    cmake --build "$build" -j2 --target trickle_client trickle_epoll trickle_keel; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "run.sh: building the trickle benchmark failed" >&2
    exit 1
fi
bin=$build/bench/loop
[[ -n $keel_server ]] || keel_server=$bin/trickle_keel

pin_server=() pin_client=()
where="not pinned (taskset or a second CPU missing)"
if command -v taskset >/dev/null 2>&1 && taskset -c 1 true 2>/dev/null; then
    pin_server=(taskset -c 0) pin_client=(taskset -c 1)
    where="server pinned to CPU 0 (taskset -c 0), client to CPU 1 (taskset -c 1)"
fi
out=$build/trickle-results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"

# run_one NAME BINARY ROUND: start the server, run the client, stop it.
run_one() {
    local name=$1 exe=$2 round=$3 port="" pid i
    "${pin_server[@]}" "$exe" >"$out/$name.$round.server" 2>&1 &
    pid=$!
    for ((i = 0; i < 100; i++)); do
        port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out/$name.$round.server")
        [[ -n $port ]] && break
        sleep 0.05
    done
    if [[ -z $port ]]; then
        kill "$pid" 2>/dev/null || true
        echo "run.sh: $name did not start" >&2
        return 1
    fi
    local rc=0
    "${pin_client[@]}" "$bin/trickle_client" --port "$port" --pid "$pid" --seg "$seg" \
        --min-bytes "$min_bytes" "${sizes[@]}" >"$out/$name.$round.client" || rc=$?
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" || true
    [[ $rc -eq 0 ]] || { echo "run.sh: the client failed against $name (round $round)" >&2; return 1; }
    sed "s/^/server=$name round=$round /" "$out/$name.$round.client" >>"$out/all"
}

echo "trickle: blocks of ${sizes[*]} bytes in $seg-byte segments, >= $min_bytes bytes per size,"
echo "  $rounds rounds round-robin keel, epoll; $where; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$out/all"
for ((r = 1; r <= rounds; r++)); do
    run_one keel "$keel_server" "$r"
    run_one epoll "$bin/trickle_epoll" "$r"
done

awk -v smallest="${sizes[0]}" '
function med(list,    n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
    for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    v[f["server"], f["round"], f["size"]] = f["ns_per_byte"]
    if (!(f["size"] in seen)) { seen[f["size"]] = 1; order[++nsizes] = f["size"] }
    if (f["round"] > rounds) rounds = f["round"]
}
END {
    printf "%9s | %13s %13s | %10s | %11s %11s\n", "block (B)", "keel ns/B", "epoll ns/B",
        "keel/epoll", "keel flat", "epoll flat"
    for (k = 1; k <= nsizes; k++) {
        s = order[k]; kl = el = rl = fk = fe = ""
        for (r = 1; r <= rounds; r++) {
            kv_ = v["keel", r, s]; ev_ = v["epoll", r, s]
            kl = kl " " kv_; el = el " " ev_; rl = rl " " kv_ / ev_
            fk = fk " " kv_ / v["keel", r, smallest]; fe = fe " " ev_ / v["epoll", r, smallest]
        }
        printf "%9d | %13.1f %13.1f | %10.3f | %11.3f %11.3f\n", s, med(kl), med(el), med(rl),
            med(fk), med(fe)
    }
    print "(ns/B: server CPU time per byte received, median over rounds; keel/epoll: median of"
    print " per-round ratios; flat: median of per-round (ns/B at this size) / (ns/B at the smallest))"
}' "$out/all"
echo "raw results: $out"
