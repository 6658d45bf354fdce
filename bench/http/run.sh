#!/usr/bin/env bash
# bench/http/run.sh [--quick] [--rounds R] [--seconds S] [--build-dir DIR]
#
# HTTP benchmark: keel's examples/http_hello (--threads 1) against Debian's
# nginx (nginx-light: one worker, master process off, access log off,
# keep-alive on with keepalive_requests high, `return 200 "hello"`) and h2o
# (one thread, worker mode, serving a 5-byte file "hello"), under wrk with
# keep-alive: plain (wrk -t1 -c50) and pipelined (16 requests in flight per
# connection, a wrk Lua script). Every server answers GET /hello.txt with
# "hello". Method: bench/README.md and the project's benchmarking notes:
# server on CPU 0, wrk on CPU 1, each server started fresh per run,
# round-robin keel, nginx, h2o, floor, ...; per run the requests/s and p99 (wrk)
# and the server's CPU time per request (utime+stime from /proc/PID/stat
# around the measured run, over all its threads, divided by the requests
# wrk completed); the table gives medians and the median of the per-round
# ratios keel/nginx and keel/h2o. Then idle memory: each server's VmRSS
# before and after N idle keep-alive connections (each proven served by one
# request), delta / N. Any non-2xx answer or socket error fails the run.
# A fourth server runs in the rounds too: the floor (bench/http/floor.c),
# which makes the same system calls per request as the others but does no
# parsing and sends a canned answer; its CPU per request is what the
# kernel charges any server with that pattern, and the table gives it as
# ratios floor/nginx, floor/h2o and floor/keel. With liburing (ci/deps
# bench) a fifth runs too, floor-uring (bench/http/floor_uring.c): the same
# floor on io_uring, one io_uring_enter per loop turn instead of a recv
# and a send per request, so that what fewer system calls would save can
# be read in the same run.
# Builds what it needs (ci/deps build bench, CMake into --build-dir,
# default build/bench). A full run takes ~4 minutes; --quick only checks
# that everything works.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$root/build/bench
quick=0
rounds=5
seconds=4
while [[ $# -gt 0 ]]; do
    case $1 in
    --quick) quick=1 ;;
    --rounds) rounds=${2:?}; shift ;;
    --seconds) seconds=${2:?}; shift ;;
    --build-dir) build=${2:?}; shift ;;
    *) echo "usage: bench/http/run.sh [--quick] [--rounds R] [--seconds S] [--build-dir DIR]" >&2; exit 2 ;;
    esac
    shift
done
idle_n=10000
if ((quick)); then
    rounds=1 seconds=1 idle_n=1000
fi

"$root/ci/deps" build bench
mkdir -p "$build"
log=$build/http-build.log
echo "building http_hello into $build (log: $log)"
if ! { cmake -S "$root" -B "$build" -DKEEL_BUILD_BENCH=ON -DKEEL_BUILD_TESTS=OFF \
    -DKEEL_BUILD_EXAMPLES=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
    cmake --build "$build" -j2 --target http_hello http_floor &&
    if grep -q '^KEEL_LIBURING_LIB:FILEPATH=/' "$build/CMakeCache.txt"; then
        cmake --build "$build" -j2 --target http_floor_uring
    fi; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "run.sh: build failed" >&2
    exit 1
fi
for tool in wrk nginx h2o taskset python3; do
    command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] ||
        { echo "run.sh: $tool is missing (ci/deps bench installs it)" >&2; exit 1; }
done
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
(($(nproc) >= 2)) || { echo "run.sh: needs 2 CPUs" >&2; exit 1; }
hard=$(ulimit -Hn)
[[ $hard == unlimited ]] && hard=1048576
ulimit -Sn "$hard" 2>/dev/null || true
if (($(ulimit -Sn) < idle_n + 100)); then
    idle_n=$(($(ulimit -Sn) - 100))
    echo "open-files limit $(ulimit -Sn): idle run scaled down to $idle_n connections"
fi

out=$build/http-results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$out/www"
printf 'hello' >"$out/www/hello.txt"
cat >"$out/pipeline.lua" <<'EOF'
-- 16 requests per write, answers counted by wrk as they come
init = function(args)
  local r = {}
  for i = 1, 16 do r[i] = wrk.format(nil, "/hello.txt") end
  req = table.concat(r)
end
request = function() return req end
EOF

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

pid=
cleanup() { [[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null || true; }
trap cleanup EXIT

# start NAME: start server NAME on CPU 0; sets pid and port.
start() {
    local name=$1 i line
    case $name in
    keel | floor | floor-uring)
        local bin=$build/examples/http_hello args=(--threads 1)
        [[ $name == floor ]] && bin=$build/bench/http/http_floor args=()
        [[ $name == floor-uring ]] && bin=$build/bench/http/http_floor_uring args=()
        taskset -c 0 "$bin" "${args[@]}" --ip 127.0.0.1 --port 0 \
            >"$out/$name.out" 2>"$out/$name.err" &
        pid=$!
        for i in $(seq 100); do
            line=$(head -n1 "$out/$name.out")
            [[ -n $line ]] && break
            sleep 0.05
        done
        [[ $line =~ :([0-9]+)$ ]] || { echo "$name did not start" >&2; exit 1; }
        port=${BASH_REMATCH[1]}
        ;;
    nginx)
        port=$(free_port)
        cat >"$out/nginx.conf" <<EOF
daemon off; master_process off; worker_processes 1;
pid $out/nginx.pid; error_log $out/nginx.err;
events { worker_connections 20000; }
http {
  access_log off; keepalive_timeout 300s; keepalive_requests 100000000;
  client_body_temp_path $out; proxy_temp_path $out; fastcgi_temp_path $out;
  uwsgi_temp_path $out; scgi_temp_path $out;
  server { listen 127.0.0.1:$port; location / { return 200 "hello"; } }
}
EOF
        taskset -c 0 "$nginx_bin" -c "$out/nginx.conf" -e "$out/nginx.err" >/dev/null 2>&1 &
        pid=$!
        ;;
    h2o)
        port=$(free_port)
        cat >"$out/h2o.conf" <<EOF
listen:
  host: 127.0.0.1
  port: $port
num-threads: 1
max-connections: 20000
pid-file: $out/h2o.pid
error-log: $out/h2o.err
hosts:
  default:
    paths:
      /:
        file.dir: $out/www
EOF
        taskset -c 0 h2o -m worker -c "$out/h2o.conf" >/dev/null 2>&1 &
        pid=$!
        ;;
    esac
    for i in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/hello.txt" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "$name did not answer on port $port" >&2
    exit 1
}

stop() {
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=
}

# CPU ticks (utime + stime) of the server process, all threads.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }

# run NAME MODE ROUND: one measured wrk run; appends "name mode rps p99_us cpu_us_per_req".
run() {
    local name=$1 mode=$2 round=$3 args=() f=$out/wrk-$1-$2-$3.txt
    [[ $mode == pipelined ]] && args=(-s "$out/pipeline.lua")
    start "$name"
    # warm-up
    taskset -c 1 wrk -t1 -c50 -d1s "${args[@]}" "http://127.0.0.1:$port/hello.txt" >/dev/null
    local t0
    t0=$(cpu_ticks)
    taskset -c 1 wrk -t1 -c50 -d"${seconds}s" --latency "${args[@]}" \
        "http://127.0.0.1:$port/hello.txt" >"$f"
    local t1
    t1=$(cpu_ticks)
    stop
    if grep -qE 'Non-2xx|Socket errors' "$f"; then
        echo "run.sh: $name $mode: errors:" >&2
        cat "$f" >&2
        exit 1
    fi
    local reqs rps p99
    reqs=$(awk '/requests in/ { print $1 }' "$f")
    rps=$(awk '/^Requests\/sec/ { print $2 }' "$f")
    p99=$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us/, "", v); print v }
        else if (v ~ /ms$/) { sub(/ms/, "", v); print v * 1000 }
        else if (v ~ /s$/) { sub(/s/, "", v); print v * 1000000 } }' "$f")
    local hz
    hz=$(getconf CLK_TCK)
    echo "$name $mode $round $rps $p99 $(awk -v a="$t0" -v b="$t1" -v n="$reqs" -v hz="$hz" \
        'BEGIN { printf "%.3f", (b - a) * 1000000 / hz / n }')" >>"$out/runs.txt"
}

servers=(keel nginx h2o floor)
if [[ -x $build/bench/http/http_floor_uring ]]; then
    servers+=(floor-uring)
else
    echo "no io_uring floor (liburing-dev missing: ci/deps bench): its rows are left out"
fi
: >"$out/runs.txt"
echo "server on CPU 0, wrk -t1 -c50 on CPU 1; ${rounds} rounds of ${seconds} s per server and mode (results: $out)"
for round in $(seq "$rounds"); do
    for mode in plain pipelined; do
        for s in "${servers[@]}"; do
            run "$s" "$mode" "$round"
        done
    done
    echo "  round $round done"
done

# ---- idle memory -------------------------------------------------------------
cat >"$out/idle.py" <<'EOF'
import socket, sys, time, os, struct
port, n, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def rss():
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS:"):
            return int(l.split()[1]) * 1024
before = rss()
socks = []
req = b"GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n"
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(req)
    socks.append(s)
    if len(socks) % 500 == 0 or i == n - 1:
        for t in socks[-500:]:
            got = b""
            while b"hello" not in got:
                d = t.recv(4096)
                if not d:
                    sys.exit("closed")
                got += d
time.sleep(0.5)
after = rss()
for s in socks:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
print((after - before) / n)
EOF
for s in keel nginx h2o; do
    start "$s"
    echo "$s $(taskset -c 1 python3 "$out/idle.py" "$port" "$idle_n" "$pid")" >>"$out/idle.txt"
    stop
done

# ---- table -------------------------------------------------------------------
python3 - "$out/runs.txt" "$out/idle.txt" "$idle_n" <<'EOF'
import sys, statistics as st
runs = [l.split() for l in open(sys.argv[1])]
idle = dict(l.split() for l in open(sys.argv[2]))
n = sys.argv[3]
med = lambda xs: st.median(xs) if xs else float('nan')
by = {}
for name, mode, rnd, rps, p99, cpu in runs:
    by.setdefault((mode, name), {})[int(rnd)] = (float(rps), float(p99), float(cpu))
print()
print(f"{'mode':10} {'server':11} {'req/s':>10} {'p99 us':>11} {'CPU us/req':>11}")
# wrk prints 0.00us for its 90th and 99th percentiles in some runs with a
# pipelining script (its histogram, not the server): such a round has no p99,
# and the column gives the median of the rounds that have one (and how many).
dropped = False
for mode in ("plain", "pipelined"):
    for name in ("keel", "nginx", "h2o", "floor", "floor-uring"):
        d = by.get((mode, name), {})
        if not d:
            continue
        p99s = [v[1] for v in d.values() if v[1] > 0]
        p99 = f"{med(p99s):.0f}" if p99s else "n/a"
        if len(p99s) < len(d):
            p99 += f" ({len(p99s)}/{len(d)})"
            dropped = True
        print(f"{mode:10} {name:11} {med([v[0] for v in d.values()]):10.0f} "
              f"{p99:>11} {med([v[2] for v in d.values()]):11.2f}")
if dropped:
    print("(k/n): wrk printed a p99 of 0 in n - k rounds (its histogram under a pipelining "
          "script); the median is of the k rounds it printed one")
print()
print("median of per-round ratios (keel / peer):")
targets = {("plain", "nginx"): 0.75, ("pipelined", "nginx"): 0.25, ("plain", "h2o"): 1.0,
           ("pipelined", "h2o"): 1.0}
for mode in ("plain", "pipelined"):
    for peer in ("nginx", "h2o"):
        k, p = by.get((mode, "keel"), {}), by.get((mode, peer), {})
        common = sorted(set(k) & set(p))
        cpu = med([k[r][2] / p[r][2] for r in common])
        rps = med([k[r][0] / p[r][0] for r in common])
        t = targets[(mode, peer)]
        print(f"  {mode:9} vs {peer:5}: CPU/req {cpu:5.2f} (target <= {t:.2f}: "
              f"{'ok' if cpu <= t else 'MISSED'}), req/s {rps:5.2f} (target >= 1.00: "
              f"{'ok' if rps >= 1.0 else 'MISSED'})")
print()
print("the floor (bench/http/floor.c: the same system calls, no parsing, a canned answer)")
print("and the io_uring floor (floor_uring.c: the same, one io_uring_enter per loop turn):")
print("median of per-round ratios of CPU per request")
for floor in ("floor", "floor-uring"):
    for mode in ("plain", "pipelined"):
        f = by.get((mode, floor), {})
        if not f:
            continue
        parts = []
        for name in ("nginx", "h2o", "keel"):
            d = by.get((mode, name), {})
            common = sorted(set(f) & set(d))
            parts.append(f"{floor} / {name} {med([f[r][2] / d[r][2] for r in common]):5.2f}")
        print(f"  {mode:9}: " + ", ".join(parts))
print()
print(f"idle keep-alive connections ({n}): RSS bytes per connection")
for name in ("keel", "nginx", "h2o"):
    print(f"  {name:6} {float(idle[name]):8.0f}")
ratio = float(idle["keel"]) / float(idle["nginx"]) if float(idle["nginx"]) > 0 else float('nan')
print(f"  keel / nginx: {ratio:.2f} (target <= 0.50: {'ok' if ratio <= 0.5 else 'MISSED'})")
EOF
