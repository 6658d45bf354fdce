#!/usr/bin/env bash
# bench/echo/run.sh [--quick] [--rounds R] [--build-dir DIR]
#
# Echo benchmark: keel's examples/async_echo_server (--threads 1) against a
# libuv echo server (bench/echo/uv_echo.c) and a raw epoll floor
# (bench/echo/epoll_echo.c), driven by bench/echo/loadgen.c. Method: see
# bench/README.md. Builds what it needs (ci/deps build bench, then CMake with
# KEEL_BUILD_BENCH=ON into --build-dir, default build/bench). The server runs
# on CPU 0 and the load generator on CPU 1; every server is started fresh for
# each run on 127.0.0.1 port 0; runs go round-robin keel, libuv, epoll, ...
# and the ratios are medians of per-round ratios. A full run takes ~5
# minutes; --quick (~1 minute) only checks that everything works.
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
    *) echo "usage: bench/echo/run.sh [--quick] [--rounds R] [--build-dir DIR]" >&2; exit 2 ;;
    esac
    shift
done
if ((quick)); then
    [[ $rounds == 5 ]] && rounds=1
    pp_warmup=0.3 pp_seconds=1 st_warmup=0.3 st_seconds=1 idle_n=2000
else
    pp_warmup=1 pp_seconds=2.5 st_warmup=0.5 st_seconds=2 idle_n=10000
fi
conn_counts=(1 50 1000)

# ---- build -----------------------------------------------------------------
"$root/ci/deps" build bench
mkdir -p "$build"
log=$build/echo-build.log
echo "building into $build (log: $log)"
if ! { cmake -S "$root" -B "$build" -DKEEL_BUILD_BENCH=ON -DKEEL_BUILD_TESTS=OFF \
    -DKEEL_BUILD_EXAMPLES=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
    cmake --build "$build" -j2 --target loadgen uv_echo epoll_echo; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "run.sh: building the load generator and peers failed" >&2
    exit 1
fi
bin=$build/bench/echo
servers=()
if [[ ! -f $root/examples/async_echo_server.c ]]; then
    echo "keel: examples/async_echo_server.c does not exist yet: SKIPPING keel (peers only)"
elif [[ ! -d $build/examples/CMakeFiles/async_echo_server.dir ]]; then
    echo "keel: async_echo_server is not a build target yet (examples/CMakeLists.txt adds it once the async runtime is in the build): SKIPPING keel (peers only)"
elif ! cmake --build "$build" -j2 --target async_echo_server >>"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "keel: examples/async_echo_server failed to build (above): SKIPPING keel (peers only)"
else
    servers+=(keel)
fi
servers+=(libuv epoll)

# server_cmd NAME: the command line of server NAME, into the array `cmd`.
server_cmd() {
    case $1 in
    keel) cmd=("$build/examples/async_echo_server" --threads 1 --ip 127.0.0.1 --port 0) ;;
    libuv) cmd=("$bin/uv_echo" --port 0) ;;
    epoll) cmd=("$bin/epoll_echo" --port 0) ;;
    esac
}

# ---- environment -------------------------------------------------------------
if (($(nproc) < 2)); then
    echo "run.sh: needs 2 CPUs (server and load generator pinned apart); found $(nproc)" >&2
    exit 1
fi
hard=$(ulimit -Hn)
[[ $hard == unlimited ]] && hard=1048576
ulimit -Sn "$hard" 2>/dev/null || true
soft=$(ulimit -Sn)
# Each process (the server, the load generator) holds idle_n sockets plus a few.
if ((soft < idle_n + 64)); then
    echo "NOTE: open-files limit is $soft (hard $hard): idle run scaled down from $idle_n to $((soft - 64)) connections"
    idle_n=$((soft - 64))
fi

results=$build/echo-results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$results"
# The server and load generator running now (only these: a finished
# process's pid may already belong to someone else).
spid='' lpid=''
cleanup() {
    [[ -n $lpid ]] && kill -KILL "$lpid" 2>/dev/null
    [[ -n $spid ]] && kill -KILL "$spid" 2>/dev/null
    return 0
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM

failures=0
failed() {
    echo "  FAILED: $*"
    failures=$((failures + 1))
}

# start_server NAME TAG: sets spid and sport, or reports and returns 1.
start_server() {
    local name=$1 out=$results/$2.server.out err=$results/$2.server.err line='' i
    server_cmd "$name"
    taskset -c 0 "${cmd[@]}" >"$out" 2>"$err" &
    spid=$!
    for ((i = 0; i < 200; i++)); do
        line=$(head -n1 "$out")
        [[ -n $line ]] && break
        kill -0 "$spid" 2>/dev/null || break
        sleep 0.025
    done
    if [[ ! $line =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+) ]]; then
        failed "server $name did not start (${cmd[*]}): stdout '$line', stderr '$(head -c 300 "$err")'"
        stop_server
        return 1
    fi
    sport=${BASH_REMATCH[1]}
}

stop_server() {
    local i
    kill -TERM "$spid" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do
        kill -0 "$spid" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    spid=
}

# loadgen TAG ARGS...: runs the load generator pinned to CPU 1; its result
# line into `line`; false (after reporting) when it failed.
loadgen() {
    local tag=$1 rc=0
    shift
    taskset -c 1 "$bin/loadgen" "$@" >"$results/$tag.out" 2>"$results/$tag.err" &
    lpid=$!
    wait "$lpid" || rc=$?
    lpid=
    line=$(tail -n1 "$results/$tag.out")
    if ((rc != 0)); then
        failed "loadgen $* exited $rc: $(head -c 300 "$results/$tag.err")"
        return 1
    fi
}

# field LINE KEY: the value of KEY=... in LINE ("na" when absent).
field() {
    local v
    v=$(tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p")
    echo "${v:-na}"
}

# ---- runs --------------------------------------------------------------------
echo "echo benchmark: $(date -u '+%F %T UTC'), $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"
echo "  keel $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'), libuv $(pkg-config --modversion libuv)"
echo "pinning: server on CPU 0 (taskset -c 0), load generator on CPU 1 (taskset -c 1); 127.0.0.1, port 0"
echo "servers: ${servers[*]}; $rounds round(s) each, round-robin; raw results in $results"
((quick)) && echo "QUICK MODE: checks that the suite works; the figures mean nothing"

pp=$results/pingpong.tsv st=$results/stream.tsv mem=$results/idle.tsv
: >"$pp"; : >"$st"; : >"$mem"
for n in "${conn_counts[@]}"; do
    echo "pingpong, 64 B messages, $n connection(s): warm-up ${pp_warmup} s, measured ${pp_seconds} s"
    for ((r = 1; r <= rounds; r++)); do
        for s in "${servers[@]}"; do
            tag=pp-n$n-r$r-$s
            start_server "$s" "$tag" || continue
            if loadgen "$tag" pingpong --port "$sport" --conns "$n" --size 64 \
                --warmup "$pp_warmup" --seconds "$pp_seconds" --pid "$spid"; then
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$r" "$s" "$(field "$line" rt_per_s)" \
                    "$(field "$line" p50_us)" "$(field "$line" p99_us)" \
                    "$(field "$line" cpu_us_per_rt)" >>"$pp"
                printf '  round %d %-5s %s\n' "$r" "$s" "$line"
            fi
            stop_server
        done
    done
done

echo "streaming, 1 connection, 16 KiB writes: warm-up ${st_warmup} s, measured ${st_seconds} s"
for ((r = 1; r <= rounds; r++)); do
    for s in "${servers[@]}"; do
        tag=stream-r$r-$s
        start_server "$s" "$tag" || continue
        if loadgen "$tag" stream --port "$sport" --conns 1 --size 16384 \
            --warmup "$st_warmup" --seconds "$st_seconds" --pid "$spid"; then
            printf '%s\t%s\t%s\t%s\n' "$r" "$s" "$(field "$line" mb_per_s)" \
                "$(field "$line" cpu_us_per_mb)" >>"$st"
            printf '  round %d %-5s %s\n' "$r" "$s" "$line"
        fi
        stop_server
    done
done

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

echo "idle memory: $idle_n idle connections (open-files limit $soft)"
for s in "${servers[@]}"; do
    tag=idle-$s
    start_server "$s" "$tag" || continue
    sleep 0.2
    rss0=$(rss_kb "$spid")
    taskset -c 1 "$bin/loadgen" idle --port "$sport" --conns "$idle_n" --seconds 120 \
        >"$results/$tag.out" 2>"$results/$tag.err" &
    lpid=$!
    for ((i = 0; i < 1800; i++)); do
        grep -q '^ready' "$results/$tag.out" && break
        kill -0 "$lpid" 2>/dev/null || break
        sleep 0.05
    done
    if grep -q '^ready' "$results/$tag.out"; then
        sleep 0.5
        rss1=$(rss_kb "$spid")
        kill -TERM "$lpid"
        rc=0
        wait "$lpid" || rc=$?
        lpid=
        if ((rc == 0)); then
            printf '%s\t%s\t%s\n' "$s" "$rss0" "$rss1" >>"$mem"
            printf '  %-5s VmRSS %s kB -> %s kB: %s B/connection\n' "$s" "$rss0" "$rss1" \
                "$((((rss1 - rss0) * 1024 + idle_n / 2) / idle_n))"
        else
            failed "loadgen idle against $s exited $rc: $(head -c 300 "$results/$tag.err")"
        fi
    else
        kill -TERM "$lpid" 2>/dev/null || true
        wait "$lpid" 2>/dev/null || true
        lpid=
        failed "loadgen idle against $s never got ready: $(head -c 300 "$results/$tag.err")"
    fi
    stop_server
done

# ---- report ------------------------------------------------------------------
# Medians, per-round ratios and their medians, and the issue's targets.
echo
awk -F'\t' -v servers="${servers[*]}" -v counts="${conn_counts[*]}" -v rounds="$rounds" \
    -v quick="$quick" -v idle_n="$idle_n" -v ppf="$pp" -v stf="$st" -v memf="$mem" '
function median(list,    a, n, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    if (n == 0) return "na"
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function add(key, v) { if (v != "na" && v != "") vals[key] = vals[key] " " v }
function num(v, fmt) { return v == "na" ? "n/a" : sprintf(fmt, v) }
# ratio of medians over rounds where both servers have a value
function ratio(kind, n, a, b, col,    r, list, x, y) {
    list = ""
    for (r = 1; r <= rounds; r++) {
        x = run[kind, n, r, a, col]; y = run[kind, n, r, b, col]
        if (x != "" && y != "" && x != "na" && y != "na" && y + 0 > 0) list = list " " x / y
    }
    return median(list)
}
function verdict(v, op, target) {
    if (v == "na") return "n/a"
    if (op == "<=") return v <= target ? "ok" : "MISSED"
    return v >= target ? "ok" : "MISSED"
}
function line(what, v, op, target) {
    printf "  %-34s %7s   %s %s  %s\n", what, num(v, "%.3f"), op == "" ? "  " : op,
        target == "" ? "    " : sprintf("%.2f", target), op == "" ? "" : verdict(v, op, target)
}
BEGIN {
    while ((getline l < ppf) > 0) {
        split(l, f, "\t")
        for (c = 4; c <= 7; c++) { run["pp", f[1], f[2], f[3], c] = f[c]; add("pp" SUBSEP f[1] SUBSEP f[3] SUBSEP c, f[c]) }
    }
    while ((getline l < stf) > 0) {
        split(l, f, "\t")
        for (c = 3; c <= 4; c++) { run["st", 0, f[1], f[2], c] = f[c]; add("st" SUBSEP f[2] SUBSEP c, f[c]) }
    }
    while ((getline l < memf) > 0) { split(l, f, "\t"); bpc[f[1]] = (f[3] - f[2]) * 1024 / idle_n }
    ns = split(servers, sv, " "); nc = split(counts, cv, " ")
    if (quick) print "QUICK MODE: figures below only show the suite works"
    printf "pingpong, 64 B (medians of %d round(s))\n", rounds
    printf "  %5s  %-6s %10s %9s %9s %12s\n", "conns", "server", "RT/s", "p50 us", "p99 us", "CPU us/RT"
    for (i = 1; i <= nc; i++) for (j = 1; j <= ns; j++) {
        k = "pp" SUBSEP cv[i] SUBSEP sv[j] SUBSEP
        printf "  %5s  %-6s %10s %9s %9s %12s\n", cv[i], sv[j], num(median(vals[k 4]), "%.0f"),
            num(median(vals[k 5]), "%.1f"), num(median(vals[k 6]), "%.1f"), num(median(vals[k 7]), "%.3f")
    }
    printf "streaming, 1 connection, 16 KiB writes (medians)\n"
    printf "  %-6s %10s %12s\n", "server", "MB/s", "CPU us/MB"
    for (j = 1; j <= ns; j++)
        printf "  %-6s %10s %12s\n", sv[j], num(median(vals["st" SUBSEP sv[j] SUBSEP 3]), "%.1f"),
            num(median(vals["st" SUBSEP sv[j] SUBSEP 4]), "%.1f")
    printf "idle memory, %d connections: server RSS delta per connection\n", idle_n
    for (j = 1; j <= ns; j++) printf "  %-6s %8s\n", sv[j], (sv[j] in bpc) ? sprintf("%.0f B", bpc[sv[j]]) : "n/a"
    print ""
    if (index(" " servers " ", " keel ") == 0) {
        print "keel was not run: no keel ratios (targets: see bench/README.md)"
        exit
    }
    printf "paired ratios (median of per-round ratios)   measured   target\n"
    for (i = 1; i <= nc; i++) {
        n = cv[i]; tgt = (n == 50 || n == 1000)
        line("N=" n " RT/s keel/libuv", ratio("pp", n, "keel", "libuv", 4), ">=", 1.0)
        line("N=" n " RT/s keel/epoll", ratio("pp", n, "keel", "epoll", 4), "", "")
        line("N=" n " CPU/RT keel/libuv", ratio("pp", n, "keel", "libuv", 7), tgt ? "<=" : "", tgt ? 0.9 : "")
        line("N=" n " CPU/RT keel/epoll", ratio("pp", n, "keel", "epoll", 7), tgt ? "<=" : "", tgt ? 1.05 : "")
    }
    line("stream MB/s keel/epoll", ratio("st", 0, "keel", "epoll", 3), ">=", 0.95)
    line("stream MB/s keel/libuv", ratio("st", 0, "keel", "libuv", 3), "", "")
    line("idle B/conn keel/libuv", ("keel" in bpc) && bpc["libuv"] > 0 ? bpc["keel"] / bpc["libuv"] : "na", "<=", 1.0)
}'

echo
if ((failures)); then
    echo "$failures run(s) FAILED (see above and $results)"
    exit 1
fi
echo "all runs completed without errors (every echoed byte checked)"
