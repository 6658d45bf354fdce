#!/usr/bin/env bash
# examples/test_examples.sh CASE BIN_DIR SOURCE_DIR
# One CTest test per CASE (see examples/CMakeLists.txt). Servers bind
# 127.0.0.1 port 0; every wait is bounded; leftovers are killed on exit.
set -euo pipefail

case_name=$1 bin=$2 src=$3
work=$(mktemp -d)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL ($case_name): $*" >&2
    local f
    for f in "$work"/*.out "$work"/*.err; do
        [[ -s $f ]] && { echo "--- $f" >&2; head -c 2000 "$f" >&2; echo >&2; }
    done
    exit 1
}

# start_server NAME PROTO [ARGS...]: sets port_NAME and pid_NAME.
start_server() {
    local name=$1 proto=$2 line= i
    shift 2
    "$bin/echo_server" "$proto" 127.0.0.1 0 "$@" >"$work/$name.out" 2>"$work/$name.err" &
    printf -v "pid_$name" '%s' $!
    pids+=($!)
    for i in $(seq 100); do
        line=$(head -n1 "$work/$name.out")
        [[ -n $line ]] && break
        sleep 0.1
    done
    [[ $line =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)\ \($proto\)$ ]] ||
        fail "server $name did not announce its address within 10 s (got '$line')"
    printf -v "port_$name" '%s' "${BASH_REMATCH[1]}"
}

# wait_exit PID SECONDS: sets exit_rc to the exit status of PID (137 if it
# had to be killed). Not in $(...): only this shell can wait for its children.
wait_exit() {
    local pid=$1 watchdog
    (
        trap 'kill "$s"; exit 0' TERM
        sleep "$2" &
        s=$!
        wait $s && kill -KILL "$pid"
    ) >/dev/null 2>&1 &
    watchdog=$!
    exit_rc=0
    wait "$pid" || exit_rc=$?
    kill "$watchdog" 2>/dev/null || true
    wait "$watchdog" 2>/dev/null || true
}

# stop_server NAME: SIGTERM must end it with status 0 within 10 s.
stop_server() {
    local pid_var="pid_$1"
    kill -TERM "${!pid_var}" 2>/dev/null || true
    wait_exit "${!pid_var}" 10
    [[ $exit_rc == 0 ]] || fail "server $1 exited with $exit_rc after SIGTERM (137: did not stop in 10 s)"
}

# expect_echo PROTO PORT INPUT NAME: run the client, compare with the input.
expect_echo() {
    local proto=$1 port=$2 input=$3 name=$4 rc=0
    timeout 30 "$bin/echo_client" "$proto" 127.0.0.1 "$port" <"$input" \
        >"$work/$name.out" 2>"$work/$name.err" || rc=$?
    [[ $rc == 0 ]] || fail "client $name exited with $rc"
    sed 's/^/Response received: /' "$input" >"$work/$name.expected"
    cmp -s "$work/$name.expected" "$work/$name.out" ||
        fail "client $name: responses differ from the lines sent"
}

# The standard input: a plain line, an empty line, a ~4 KB line, blanks.
make_lines() {
    {
        echo "hello, keel"
        echo ""
        head -c 4000 /dev/zero | tr '\0' 'k'
        echo
        printf 'tabs\tand  spaces \n'
        echo "last line"
    } >"$1"
}

case $case_name in
tcp_echo | udp_echo)
    proto=${case_name%_echo}
    make_lines "$work/lines"
    start_server srv "$proto"
    expect_echo "$proto" "$port_srv" "$work/lines" client
    [[ $(grep -c '^Response received: ' "$work/client.out") == 5 ]] || fail "expected 5 responses"
    stop_server srv
    ;;
tcp_20_concurrent_clients)
    start_server srv tcp
    # Each client holds its connection open across a 1 s pause, so all 20
    # are connected at once: a server serving clients one at a time would
    # need 20 s and trip the 15 s bound below.
    for i in $(seq 20); do
        {
            echo "client $i first"
            echo "client $i second"
            head -c 3000 /dev/zero | tr '\0' "$((i % 10))"
            echo
        } >"$work/in$i"
        { head -n1 "$work/in$i"; sleep 1; tail -n +2 "$work/in$i"; } |
            timeout 15 "$bin/echo_client" tcp 127.0.0.1 "$port_srv" \
                >"$work/c$i.out" 2>"$work/c$i.err" &
        printf -v "cpid$i" '%s' $!
        pids+=($!)
    done
    for i in $(seq 20); do
        pid_var="cpid$i"
        rc=0
        wait "${!pid_var}" || rc=$?
        [[ $rc == 0 ]] || fail "client $i exited with $rc (124: timed out)"
        sed 's/^/Response received: /' "$work/in$i" >"$work/c$i.expected"
        cmp -s "$work/c$i.expected" "$work/c$i.out" || fail "client $i: wrong responses"
    done
    [[ $(grep -c '^client connected ' "$work/srv.out") == 20 ]] ||
        fail "server did not log 20 connections"
    stop_server srv
    ;;
bad_arguments_exit_2)
    check_usage() {
        local prog=$1 rc=0
        shift
        timeout 10 "$bin/$prog" "$@" </dev/null >"$work/bad.out" 2>"$work/bad.err" || rc=$?
        [[ $rc == 2 ]] || fail "$prog $* exited with $rc, expected 2"
        grep -q '^usage: ' "$work/bad.err" || fail "$prog $*: no usage message on stderr"
    }
    check_usage echo_server
    check_usage echo_server sctp
    check_usage echo_server tcp 127.0.0.1 65536
    check_usage echo_server tcp 127.0.0.1 -1
    check_usage echo_server udp 127.0.0.1 12ab
    check_usage echo_server tcp 127.0.0.1 ''
    check_usage echo_server tcp 127.0.0.1 99999999999999999999999
    check_usage echo_server tcp 127.0.0.1 0 extra
    check_usage echo_server tcp 999.0.0.1 0
    check_usage echo_server tcp localhost 0
    check_usage echo_server tcp --max-clients
    check_usage echo_server tcp --max-clients many
    check_usage echo_server udp --idle-exit -5
    check_usage echo_server tcp --verbose
    check_usage echo_client
    check_usage echo_client tcp
    check_usage echo_client tcp 127.0.0.1
    check_usage echo_client sctp 127.0.0.1 7
    check_usage echo_client tcp 127.0.0.1 0
    check_usage echo_client tcp 127.0.0.1 65536
    check_usage echo_client udp 127.0.0.1 port
    check_usage echo_client tcp '' 7
    check_usage echo_client tcp 127.0.0.1 7 extra
    ;;
connection_refused_exits_1)
    # A port that was just free: nothing listens there any more.
    start_server gone tcp
    stop_server gone
    rc=0
    echo hi | timeout 10 "$bin/echo_client" tcp 127.0.0.1 "$port_gone" \
        >"$work/refused.out" 2>"$work/refused.err" || rc=$?
    [[ $rc == 1 ]] || fail "client to a closed port exited with $rc, expected 1"
    grep -q 'connection refused' "$work/refused.err" || fail "no 'connection refused' message"
    ;;
server_limits_stop_it)
    make_lines "$work/lines"
    start_server one tcp --max-clients 1
    expect_echo tcp "$port_one" "$work/lines" one_client
    wait_exit "$pid_one" 10
    [[ $exit_rc == 0 ]] || fail "server with --max-clients 1 exited with $exit_rc after its client"
    start_server idle udp --idle-exit 1
    wait_exit "$pid_idle" 10
    [[ $exit_rc == 0 ]] || fail "server with --idle-exit 1 exited with $exit_rc"
    grep -q '^idle for 1 s, stopping$' "$work/idle.out" || fail "no idle message"
    ;;
readme_snippet_matches_and_runs)
    sed -n '/^\/\* README:begin \*\/$/,/^\/\* README:end \*\/$/p' "$src/examples/readme_snippet.c" |
        sed '1d;$d' >"$work/snippet.c"
    awk '/^<!-- snippet: examples\/readme_snippet.c -->$/ { on = 1; next }
         on && /^```c$/ { inside = 1; next }
         inside && /^```$/ { exit }
         inside { print }' "$src/README.md" >"$work/readme.c"
    [[ -s $work/snippet.c ]] || fail "no README:begin/end block in examples/readme_snippet.c"
    diff -u "$work/readme.c" "$work/snippet.c" >&2 ||
        fail "README.md's code block differs from examples/readme_snippet.c"
    start_server srv tcp
    rc=0
    timeout 20 "$bin/readme_snippet" 127.0.0.1 "$port_srv" >"$work/snippet.out" 2>&1 || rc=$?
    [[ $rc == 0 ]] || fail "readme_snippet exited with $rc"
    [[ $(cat "$work/snippet.out") == "reply: hello" ]] || fail "unexpected reply"
    stop_server srv
    ;;
*)
    echo "unknown case $case_name" >&2
    exit 2
    ;;
esac
echo "PASS ($case_name)"
