#!/usr/bin/env bash
# bench/tls/run.sh [--quick] [--rounds R] [--build-dir DIR]
#
# TLS benchmark: keel + mbed TLS against OpenSSL's own tools, in one run.
#  - handshakes/s: `openssl s_time -new -tls1_2` (the client, CPU 1) against
#    keel's examples/tls_echo_server --threads 1 and against `openssl
#    s_server` (each pinned to CPU 0), full handshakes (ECDHE x25519, ECDSA
#    P-256), with the server's CPU time per handshake;
#  - bulk MB/s: 256 MiB over one connection (AES-256-GCM, what both sides
#    prefer) from a sender on CPU 1 to a sink on CPU 0, for each pair of
#    sender {keel (bench/tls/tls_bulk.c, blocking session, 16 KiB writes),
#    openssl s_client} and sink {keel (bench/tls/tls_sink.c, loop), openssl
#    s_server -quiet}, with the sink's CPU time per MB.
# Runs go round-robin (keel, openssl, keel, ...), each server started fresh;
# ratios are medians of per-round ratios (see /work/shared/BENCHMARKING.md).
# The certificates are made by tests/tls/make_certs.sh into the results
# directory. A figure, not a target: nothing fails on a ratio.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$root/build/bench
quick=0
rounds=5
while [[ $# -gt 0 ]]; do
    case $1 in
    --quick) quick=1 ;;
    --rounds) rounds=${2:?}; shift ;;
    --build-dir) build=${2:?}; shift ;;
    *) echo "usage: bench/tls/run.sh [--quick] [--rounds R] [--build-dir DIR]" >&2; exit 2 ;;
    esac
    shift
done
hs_seconds=5
mib=256
if ((quick)); then
    [[ $rounds == 5 ]] && rounds=1
    hs_seconds=2
    mib=16
fi

"$root/ci/deps" build bench tls # (bench brings procps and util-linux: taskset; iproute2's ss is assumed)
if (($(nproc) < 2)); then
    echo "run.sh: needs 2 CPUs (server and client pinned apart); found $(nproc)" >&2
    exit 1
fi
mkdir -p "$build"
log=$build/tls-build.log
echo "building into $build (log: $log)"
if ! { cmake -S "$root" -B "$build" -DKEEL_BUILD_BENCH=ON -DKEEL_BUILD_TESTS=OFF -DKEEL_TLS=ON \
    -DKEEL_BUILD_EXAMPLES=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
    cmake --build "$build" -j2 --target tls_echo_server tls_sink tls_bulk; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "run.sh: build failed" >&2
    exit 1
fi
out=$build/tls-results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
pki=$out/pki
bash "$root/tests/tls/make_certs.sh" "$pki" >/dev/null
tick=$(getconf CLK_TCK)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# cpu_ticks PID: utime + stime of PID.
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# start_keel NAME PROG ARGS...: a keel server on CPU 0 that prints
# "listening on 127.0.0.1:PORT"; sets srv_pid, srv_port.
start_keel() {
    local name=$1 line= i
    shift
    taskset -c 0 "$@" >"$out/$name.out" 2>"$out/$name.err" &
    srv_pid=$!
    pids+=("$srv_pid")
    for i in $(seq 100); do
        line=$(head -n1 "$out/$name.out")
        [[ -n $line ]] && break
        sleep 0.05
    done
    [[ $line =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]] || { echo "$name did not start" >&2; exit 1; }
    srv_port=${BASH_REMATCH[1]}
}

# start_openssl NAME ARGS...: openssl s_server on CPU 0 on a free port
# (picked at random: s_server cannot report one it chose); sets srv_pid,
# srv_port.
start_openssl() {
    local name=$1 try i p
    shift
    for try in 1 2 3 4 5 6 7 8; do
        p=$((20000 + RANDOM % 40000))
        # -quiet: no output at all (the sink's data goes nowhere), so
        # readiness is seen in the kernel's table of listening sockets.
        # Its stdin is a FIFO this script holds open and never writes: at
        # EOF (</dev/null) s_server would spin on select() and read().
        taskset -c 0 openssl s_server -accept "127.0.0.1:$p" -cert "$pki/server.crt" \
            -key "$pki/server.key" -tls1_2 -quiet "$@" >/dev/null 2>"$out/$name.err" <"$out/stdin" &
        srv_pid=$!
        for i in $(seq 50); do
            [[ -n $(ss -Hltn "sport = :$p") ]] && break
            kill -0 "$srv_pid" 2>/dev/null || break
            sleep 0.05
        done
        if kill -0 "$srv_pid" 2>/dev/null && [[ -n $(ss -Hltn "sport = :$p") ]]; then
            pids+=("$srv_pid")
            srv_port=$p
            return 0
        fi
        kill "$srv_pid" 2>/dev/null || true
        wait "$srv_pid" 2>/dev/null || true
    done
    echo "openssl s_server found no free port" >&2
    exit 1
}

stop_server() {
    kill -TERM "$srv_pid" 2>/dev/null || true
    wait "$srv_pid" 2>/dev/null || true
}

# handshakes SERVER: one s_time run; prints "HS_PER_S US_PER_HS".
handshakes() {
    case $1 in
    keel) start_keel hs-keel "$build/examples/tls_echo_server" --cert "$pki/server.crt" \
        --key "$pki/server.key" --threads 1 --port 0 ;;
    openssl) start_openssl hs-openssl -no_ticket ;;
    esac
    local before after res
    before=$(cpu_ticks "$srv_pid")
    res=$(taskset -c 1 openssl s_time -connect "127.0.0.1:$srv_port" -new -tls1_2 \
        -time "$hs_seconds" 2>&1 | sed -n 's/^\([0-9]*\) connections in \([0-9.]*\) real seconds.*/\1 \2/p')
    after=$(cpu_ticks "$srv_pid")
    stop_server
    [[ -n $res ]] || { echo "s_time against $1 reported nothing" >&2; exit 1; }
    awk -v r="$res" -v c=$((after - before)) -v t="$tick" 'BEGIN {
        split(r, a, " "); printf "%.1f %.0f\n", a[1] / a[2], c / t * 1e6 / a[1] }'
}

# bulk SENDER SINK: one run; prints "MB_PER_S SINK_US_PER_MB".
bulk() {
    case $2 in
    keel) start_keel bulk-keel "$build/bench/tls/tls_sink" --cert "$pki/server.crt" \
        --key "$pki/server.key" ;;
    openssl) start_openssl bulk-openssl ;;
    esac
    local before after rate
    before=$(cpu_ticks "$srv_pid")
    case $1 in
    keel)
        rate=$(taskset -c 1 "$build/bench/tls/tls_bulk" --ca "$pki/ca.crt" --mib "$mib" \
            --port "$srv_port" | sed -n 's/.*mb_per_s=\([0-9.]*\).*/\1/p')
        ;;
    openssl)
        local t0 t1
        t0=$(date +%s.%N)
        taskset -c 1 openssl s_client -connect "127.0.0.1:$srv_port" -CAfile "$pki/ca.crt" \
            -verify_return_error -verify_hostname localhost -tls1_2 -brief \
            <"$out/payload" >/dev/null 2>"$out/s_client.err" || { echo "s_client failed" >&2; exit 1; }
        t1=$(date +%s.%N)
        rate=$(awk -v a="$t0" -v b="$t1" -v m="$mib" 'BEGIN { printf "%.1f", m * 1048576 / 1e6 / (b - a) }')
        ;;
    esac
    sleep 0.2 # the sink has read everything once the sender is done; let it finish
    after=$(cpu_ticks "$srv_pid")
    stop_server
    [[ -n $rate ]] || { echo "bulk $1 -> $2 reported nothing" >&2; exit 1; }
    awk -v r="$rate" -v c=$((after - before)) -v t="$tick" -v m="$mib" 'BEGIN {
        printf "%s %.0f\n", r, c / t * 1e6 / (m * 1.048576) }'
}

head -c $((mib * 1048576)) /dev/zero >"$out/payload"
mkfifo "$out/stdin"
exec 7<>"$out/stdin" # a writer that never writes: s_server's stdin never ends
echo "rounds: $rounds; handshakes: s_time -new -tls1_2 for ${hs_seconds}s; bulk: $mib MiB; pinned: server CPU 0, client CPU 1"
declare -A res=()
for ((r = 1; r <= rounds; r++)); do
    for s in keel openssl; do
        res[hs_$s,$r]=$(handshakes "$s")
    done
    for snd in keel openssl; do
        for snk in keel openssl; do
            res[bulk_${snd}_$snk,$r]=$(bulk "$snd" "$snk")
        done
    done
    echo "round $r: hs keel ${res[hs_keel,$r]} | hs openssl ${res[hs_openssl,$r]} | bulk k->k ${res[bulk_keel_keel,$r]} k->o ${res[bulk_keel_openssl,$r]} o->k ${res[bulk_openssl_keel,$r]} o->o ${res[bulk_openssl_openssl,$r]}"
done

# median COLUMN KEYS...: the median of field COLUMN (1 or 2) over the rounds.
median() {
    local col=$1 key=$2 r
    for ((r = 1; r <= rounds; r++)); do echo "${res[$key,$r]}" | awk -v c="$col" '{ print $c }'; done |
        sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# ratio_median KEY_A KEY_B COLUMN: median over rounds of A/B.
ratio_median() {
    local a=$1 b=$2 col=$3 r
    for ((r = 1; r <= rounds; r++)); do
        paste <(echo "${res[$a,$r]}") <(echo "${res[$b,$r]}") |
            awk -v c="$col" '{ printf "%.3f\n", $(c) / $(c + 2) }'
    done | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo
printf '%-44s %14s %16s %14s\n' "workload (client -> server)" "rate" "server CPU" "ratio keel/openssl"
printf '%-44s %10s/s %12s us/hs %14s\n' "handshakes: s_time -> keel+mbed TLS" "$(median 1 hs_keel)" "$(median 2 hs_keel)" \
    "$(ratio_median hs_keel hs_openssl 1)"
printf '%-44s %10s/s %12s us/hs %14s\n' "handshakes: s_time -> openssl s_server" "$(median 1 hs_openssl)" "$(median 2 hs_openssl)" ""
printf '%-44s %14s\n' "server CPU per handshake, keel / openssl" "$(ratio_median hs_keel hs_openssl 2)"
for snd in keel openssl; do
    for snk in keel openssl; do
        printf '%-44s %8s MB/s %12s us/MB\n' "bulk: $snd -> $snk" "$(median 1 "bulk_${snd}_$snk")" "$(median 2 "bulk_${snd}_$snk")"
    done
done
printf '%-44s %14s\n' "bulk ratio, keel sink / openssl sink (keel sender)" "$(ratio_median bulk_keel_keel bulk_keel_openssl 1)"
printf '%-44s %14s\n' "bulk ratio, keel sink / openssl sink (s_client)" "$(ratio_median bulk_openssl_keel bulk_openssl_openssl 1)"
printf '%-44s %14s\n' "bulk ratio, keel sender / s_client (keel sink)" "$(ratio_median bulk_keel_keel bulk_openssl_keel 1)"
printf '%-44s %14s\n' "sink CPU ratio, keel / openssl (keel sender)" "$(ratio_median bulk_keel_keel bulk_keel_openssl 2)"
echo "raw results: $out"
