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

# start_server NAME PROTO [ARGS...]: sets port_NAME and pid_NAME. The
# command in the array server_prefix (empty by default) runs it.
server_prefix=()
start_server() {
    local name=$1 proto=$2 line= i
    shift 2
    "${server_prefix[@]}" "$bin/echo_server" "$proto" 127.0.0.1 0 "$@" \
        >"$work/$name.out" 2>"$work/$name.err" &
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

# start_listening NAME PROG [ARGS...]: start a program that prints
# "listening on 127.0.0.1:PORT" once ready; sets port_NAME and pid_NAME.
start_listening() {
    local name=$1 prog=$2 line= i
    shift 2
    "$bin/$prog" "$@" >"$work/$name.out" 2>"$work/$name.err" &
    printf -v "pid_$name" '%s' $!
    pids+=($!)
    for i in $(seq 100); do
        line=$(head -n1 "$work/$name.out")
        [[ -n $line ]] && break
        sleep 0.1
    done
    [[ $line =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]] ||
        fail "$prog $name did not announce its address within 10 s (got '$line')"
    printf -v "port_$name" '%s' "${BASH_REMATCH[1]}"
}

# start_async NAME PROG [ARGS...]: start async_echo_server / chat_server on
# port 0; sets port_NAME and pid_NAME from its "listening on" line.
start_async() {
    local name=$1 prog=$2
    shift 2
    start_listening "$name" "$prog" --port 0 "$@"
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
# echo_20_clients: $work/in1..in20 through 20 concurrent echo_client tcp
# runs against $port_srv, each holding its connection open across a 1 s
# pause after its first line (so all 20 are connected at once); every
# client must exit 0 with exactly its lines echoed back (passed through the
# command named by $1 first, if given: a server that changes the lines).
echo_20_clients() {
    local i rc pid_var transform=${1:-cat}
    for i in $(seq 20); do
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
        "$transform" <"$work/in$i" | sed 's/^/Response received: /' >"$work/c$i.expected"
        cmp -s "$work/c$i.expected" "$work/c$i.out" || fail "client $i: wrong responses"
    done
}

# expect_refused_line PORT BYTES EXPECTED: on a fresh connection, send one
# line of BYTES bytes, then 200 KB more the server will not read; the
# server must answer exactly EXPECTED (one line) and end the connection
# with an orderly EOF: its lingering close drains what it will not read, so
# the client reads the answer instead of a reset.
expect_refused_line() {
    local rc=0 writer
    exec 4<>"/dev/tcp/127.0.0.1/$1"
    # In the background (a reset would kill a writer in this shell with
    # SIGPIPE); the server's drain lets it finish.
    ( { head -c "$2" /dev/zero | tr '\0' x; echo; head -c 200000 /dev/zero | tr '\0' y; echo; } >&4 ) \
        2>/dev/null &
    writer=$!
    timeout 10 cat <&4 >"$work/long.out" 2>"$work/long.err" || rc=$?
    wait "$writer" 2>/dev/null || true
    exec 4<&-
    [[ $rc == 0 ]] || fail "over-long line: no orderly end (cat: $rc: $(cat "$work/long.err"))"
    [[ $(cat "$work/long.out") == "$3" ]] ||
        fail "over-long line: expected '$3', got '$(head -c 200 "$work/long.out")'"
}

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

# check_usage PROG ARGS...: PROG must refuse ARGS with status 2 and its
# usage on stderr.
check_usage() {
    local prog=$1 rc=0
    shift
    timeout 10 "$bin/$prog" "$@" </dev/null >"$work/bad.out" 2>"$work/bad.err" || rc=$?
    [[ $rc == 2 ]] || fail "$prog $* exited with $rc, expected 2"
    grep -q '^usage: ' "$work/bad.err" || fail "$prog $*: no usage message on stderr"
}

# check_snippets FILE...: every C block of each file is a snippet of a
# compiled example: the block after "<!-- snippet: examples/F.c#NAME -->"
# must equal the lines between "/* guide:NAME:begin */" and
# "/* guide:NAME:end */" of F.c (dedented as it stands there). In README.md
# the block after "<!-- snippet: examples/readme_snippet.c -->" is checked
# by readme_snippet_matches_and_runs instead.
check_snippets() {
    local g rel marker lineno spec file name indent checked=0
    for g in "$@"; do
        rel=${g#"$src"/}
        # A C block not right after a snippet marker is prose that could drift.
        awk -v f="$rel" '/^```c$/ && prev !~ /^<!-- snippet: examples\/[A-Za-z0-9_]+\.c#[A-Za-z0-9_]+ -->$/ &&
                !(f == "README.md" && (prev == "<!-- snippet: examples/readme_snippet.c -->" ||
                                       prev == "<!-- snippet: examples/readme_http_snippet.c -->")) {
                print f ":" NR ": a C block that is not a snippet of an example"; bad = 1 }
            { prev = $0 } END { exit bad }' "$g" >&2 || fail "$rel has a C block that is not a snippet"
        while IFS= read -r marker; do
            lineno=${marker%%:*}
            spec=${marker#*snippet: }
            spec=${spec% -->}
            file=${spec%#*} name=${spec#*#}
            [[ -f $src/$file ]] || fail "$rel:$lineno: no file $file"
            awk -v start="$lineno" 'NR == start + 1 { if ($0 != "```c") exit 1; on = 1; next }
                on && /^```$/ { exit } on { print }' "$g" >"$work/doc.c" ||
                fail "$rel:$lineno: the snippet marker is not followed by a \`\`\`c block"
            sed -n "/^[[:space:]]*\/\* guide:$name:begin \*\/\$/,/^[[:space:]]*\/\* guide:$name:end \*\/\$/p" \
                "$src/$file" | sed '1d;$d' >"$work/file.c"
            [[ -s $work/file.c ]] || fail "$rel:$lineno: no guide:$name:begin/end block in $file"
            indent=$(head -n1 "$work/file.c" | sed 's/[^ ].*//')
            sed "s/^$indent//" "$work/file.c" >"$work/file.dedented.c"
            diff -u "$work/doc.c" "$work/file.dedented.c" >&2 ||
                fail "$rel:$lineno: the block differs from $file#$name"
            checked=$((checked + 1))
        done < <(grep -n '^<!-- snippet: examples/[A-Za-z0-9_]*\.c#' "$g")
    done
    echo "$checked snippets in $# files match their examples"
}

# jc NAME ARGS...: run json_check (stdin as given) with its output in
# NAME.out/.err; sets rc, and fails at once on a signal or a hang.
jc() {
    local name=$1
    shift
    rc=0
    timeout 30 "$bin/json_check" "$@" >"$work/$name.out" 2>"$work/$name.err" || rc=$?
    [[ $rc -lt 124 ]] || fail "json_check $* ended with status $rc (signal or timeout)"
}

# hp NAME ARGS...: run http_parse (stdin as given) with its output in
# NAME.out/.err; sets rc, and fails at once on a signal or a hang.
hp() {
    local name=$1
    shift
    rc=0
    timeout 30 "$bin/http_parse" "$@" >"$work/$name.out" 2>"$work/$name.err" || rc=$?
    [[ $rc -lt 124 ]] || fail "http_parse $* ended with status $rc (signal or timeout)"
}

# ---- TLS (built with mbed TLS only) ----
# make_pki: the test PKI of tests/tls/make_certs.sh in $work/pki (made now,
# by openssl; never a key in the repository).
make_pki() {
    pki=$work/pki
    bash "$src/tests/tls/make_certs.sh" "$pki" >"$work/pki.log" 2>&1 || fail "making the test PKI failed"
}

# start_tls NAME [ARGS...]: tls_echo_server with the PKI's server
# certificate on port 0; sets port_NAME and pid_NAME.
start_tls() {
    local name=$1
    shift
    start_listening "$name" tls_echo_server --cert "$pki/server.crt" --key "$pki/server.key" \
        --port 0 "$@"
}

# start_s_server NAME CERT [ARGS...]: openssl s_server presenting CERT
# (with the server key) in -rev mode (each line back reversed) for one
# connection, on a free port of 127.0.0.1 picked at random (s_server cannot
# be told to choose one and say which); sets port_NAME and pid_NAME.
start_s_server() {
    local name=$1 cert=$2 try i p pid
    shift 2
    for try in 1 2 3 4 5 6 7 8; do
        p=$((20000 + RANDOM % 40000))
        openssl s_server -accept "127.0.0.1:$p" -cert "$pki/$cert" -key "$pki/server.key" -rev \
            -naccept 1 "$@" >"$work/$name.out" 2>"$work/$name.err" </dev/null &
        pid=$!
        for i in $(seq 50); do
            grep -q '^ACCEPT' "$work/$name.out" && break
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if grep -q '^ACCEPT' "$work/$name.out"; then
            pids+=("$pid")
            printf -v "pid_$name" '%s' "$pid"
            printf -v "port_$name" '%s' "$p"
            return 0
        fi
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    fail "openssl s_server found no free port in 8 tries"
}

# wait_for_line FILE REGEX WHAT: up to 5 s for a line matching REGEX in FILE.
wait_for_line() {
    local i
    for i in $(seq 50); do
        grep -q "$2" "$1" && return 0
        sleep 0.1
    done
    fail "$3: $(cat "$1")"
}

# tls_client NAME ARGS...: tls_echo_client with stdin from $work/NAME.in;
# sets rc.
tls_client() {
    local name=$1
    shift
    rc=0
    timeout 30 "$bin/tls_echo_client" "$@" <"$work/$name.in" >"$work/$name.out" 2>"$work/$name.err" ||
        rc=$?
    [[ $rc -lt 124 ]] || fail "tls_echo_client $name ended with status $rc (signal or timeout)"
}

case $case_name in
tls_echo_lines_and_concurrent_clients)
    make_pki
    start_tls srv --threads 2
    make_lines "$work/one.in"
    head -c 200000 /dev/zero | tr '\0' t >>"$work/one.in"
    echo >>"$work/one.in"
    tls_client one --ca "$pki/ca.crt" --name localhost 127.0.0.1 "$port_srv"
    [[ $rc == 0 ]] || fail "tls_echo_client exited with $rc: $(cat "$work/one.err")"
    sed 's/^/Response received: /' "$work/one.in" | cmp -s - "$work/one.out" ||
        fail "the responses differ from the lines sent"
    # Ten clients at once, each holding its connection across a pause.
    for i in $(seq 10); do
        printf 'client %s first\n' "$i" >"$work/c$i.first"
        printf 'client %s second\n%s\n' "$i" "$(head -c 3000 /dev/zero | tr '\0' "$((i % 10))")" >"$work/c$i.rest"
        { cat "$work/c$i.first"; sleep 1; cat "$work/c$i.rest"; } |
            timeout 30 "$bin/tls_echo_client" --ca "$pki/ca.crt" --name localhost 127.0.0.1 \
                "$port_srv" >"$work/c$i.out" 2>"$work/c$i.err" &
        printf -v "cpid$i" '%s' $!
        pids+=($!)
    done
    for i in $(seq 10); do
        pid_var="cpid$i"
        rc=0
        wait "${!pid_var}" || rc=$?
        [[ $rc == 0 ]] || fail "client $i exited with $rc: $(cat "$work/c$i.err")"
        cat "$work/c$i.first" "$work/c$i.rest" | sed 's/^/Response received: /' |
            cmp -s - "$work/c$i.out" || fail "client $i: wrong responses"
    done
    [[ ! -s $work/srv.err ]] || fail "the server reported: $(cat "$work/srv.err")"
    stop_server srv
    ;;
tls_client_against_openssl_s_server)
    make_pki
    start_s_server peer server.crt
    printf 'hello, openssl\nkeel speaks TLS 1.2\n%s\n' "$(head -c 4000 /dev/zero | tr '\0' k)" >"$work/c.in"
    tls_client c --ca "$pki/ca.crt" --name localhost 127.0.0.1 "$port_peer"
    [[ $rc == 0 ]] || fail "tls_echo_client against s_server exited with $rc: $(cat "$work/c.err")"
    rev "$work/c.in" | sed 's/^/Response received: /' | cmp -s - "$work/c.out" ||
        fail "the answers are not the lines reversed"
    wait_exit "$pid_peer" 10
    # s_server reports the session on stderr.
    grep -q '^Protocol version: TLSv1.2$' "$work/peer.err" || fail "s_server did not report TLS 1.2"
    grep -Eq '^Ciphersuite: ECDHE-ECDSA-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$' \
        "$work/peer.err" || fail "not an ECDHE AEAD suite: $(grep Ciphersuite "$work/peer.err")"
    cat "$work/c.out"
    grep -E '^(Protocol|Ciphersuite)' "$work/peer.err"
    ;;
openssl_s_client_against_tls_echo_server)
    make_pki
    start_tls srv --threads 1
    rc=0
    # stdin stays open until both echoes are back (at most 15 s), so a slow
    # machine does not end the session before they arrive.
    : >"$work/sc.out"
    {
        printf 'hello from s_client\nsecond line\n'
        for _ in $(seq 150); do
            [[ $(wc -l <"$work/sc.out") -ge 2 ]] && break
            sleep 0.1
        done
    } |
        timeout 20 openssl s_client -connect "127.0.0.1:$port_srv" -CAfile "$pki/ca.crt" \
            -verify_return_error -verify_hostname localhost -brief \
            >"$work/sc.out" 2>"$work/sc.err" || rc=$?
    [[ $rc == 0 ]] || fail "openssl s_client exited with $rc: $(cat "$work/sc.err")"
    [[ $(cat "$work/sc.out") == $'hello from s_client\nsecond line' ]] ||
        fail "s_client got back '$(cat "$work/sc.out")'"
    grep -q '^Protocol version: TLSv1.2$' "$work/sc.err" || fail "not TLS 1.2"
    grep -q '^Verification: OK$' "$work/sc.err" || fail "s_client did not verify the server"
    grep -Eq '^Ciphersuite: ECDHE-ECDSA-' "$work/sc.err" || fail "not an ECDHE-ECDSA suite"
    # s_client trusting another CA refuses keel's certificate; keel hears its alert.
    rc=0
    { printf 'never\n'; sleep 1; } |
        timeout 20 openssl s_client -connect "127.0.0.1:$port_srv" -CAfile "$pki/other-ca.crt" \
            -verify_return_error -verify_hostname localhost -brief \
            >"$work/bad.out" 2>"$work/bad.err" || rc=$?
    [[ $rc != 0 && $rc -lt 124 ]] || fail "s_client with the wrong CA exited with $rc"
    wait_for_line "$work/srv.err" '^tls_echo_server: handshake failed: KEEL_ERR_TLS_ALERT' \
        "the server did not report the client's alert"
    grep -E '^(Protocol|Ciphersuite|Verification)' "$work/sc.err"
    stop_server srv
    ;;
tls_refused_certificates)
    # keel's client against s_server presenting a certificate for another
    # host, from an unknown CA, and expired: each refused, with the reason.
    make_pki
    printf 'x\n' >"$work/x.in"
    check_refused() {
        local cert=$1 reason=$2
        start_s_server "peer_${cert%.crt}" "$cert"
        local port_var="port_peer_${cert%.crt}" pid_var="pid_peer_${cert%.crt}"
        cp "$work/x.in" "$work/$cert.in"
        tls_client "$cert" --ca "$pki/ca.crt" --name localhost 127.0.0.1 "${!port_var}"
        [[ $rc == 1 ]] || fail "$cert: tls_echo_client exited with $rc, expected 1"
        grep -q '(KEEL_ERR_TLS_VERIFY)$' "$work/$cert.err" ||
            fail "$cert: not KEEL_ERR_TLS_VERIFY: $(cat "$work/$cert.err")"
        grep -q "$reason" "$work/$cert.err" || fail "$cert: no '$reason' in: $(cat "$work/$cert.err")"
        [[ ! -s $work/$cert.out ]] || fail "$cert: data went over a refused session"
        kill "${!pid_var}" 2>/dev/null || true
        echo "$cert: $(tr '\n' ' ' <"$work/$cert.err")"
    }
    check_refused wronghost.crt 'Common Name'
    check_refused unknown.crt 'not correctly signed'
    check_refused expired.crt 'expired'
    # The same client accepts the right certificate (the control).
    start_s_server good server.crt
    cp "$work/x.in" "$work/good.in"
    tls_client good --ca "$pki/ca.crt" --name localhost 127.0.0.1 "$port_good"
    [[ $rc == 0 ]] || fail "the control failed: $(cat "$work/good.err")"
    ;;
tls_mutual_authentication)
    make_pki
    start_tls srv --client-ca "$pki/ca.crt"
    printf 'with a certificate\n' >"$work/yes.in"
    tls_client yes --ca "$pki/ca.crt" --name localhost --cert "$pki/client.crt" \
        --key "$pki/client.key" 127.0.0.1 "$port_srv"
    [[ $rc == 0 ]] || fail "the client with a certificate exited with $rc: $(cat "$work/yes.err")"
    printf 'without\n' >"$work/no.in"
    tls_client no --ca "$pki/ca.crt" --name localhost 127.0.0.1 "$port_srv"
    [[ $rc == 1 ]] || fail "the client without a certificate exited with $rc, expected 1"
    grep -q '(KEEL_ERR_TLS_ALERT)$' "$work/no.err" || fail "not KEEL_ERR_TLS_ALERT: $(cat "$work/no.err")"
    wait_for_line "$work/srv.err" '^tls_echo_server: handshake failed: KEEL_ERR_TLS_VERIFY' \
        "the server did not refuse the client"
    stop_server srv
    ;;
tls_bad_arguments_exit_2)
    make_pki
    check_usage() {
        local prog=$1 rc=0
        shift
        timeout 10 "$bin/$prog" "$@" </dev/null >"$work/bad.out" 2>"$work/bad.err" || rc=$?
        [[ $rc == 2 ]] || fail "$prog $* exited with $rc, expected 2"
        grep -q '^usage: ' "$work/bad.err" || fail "$prog $*: no usage message on stderr"
    }
    check_usage tls_echo_server
    check_usage tls_echo_server --cert "$pki/server.crt"
    check_usage tls_echo_server --key "$pki/server.key"
    check_usage tls_echo_server --cert "$pki/server.crt" --key "$pki/server.key" --port 65536
    check_usage tls_echo_server --cert "$pki/server.crt" --key "$pki/server.key" --ip localhost
    check_usage tls_echo_server --cert "$pki/server.crt" --key "$pki/server.key" --threads 0
    check_usage tls_echo_server --cert
    check_usage tls_echo_client
    check_usage tls_echo_client 127.0.0.1 7443
    check_usage tls_echo_client --ca "$pki/ca.crt" 127.0.0.1
    check_usage tls_echo_client --ca "$pki/ca.crt" 127.0.0.1 0
    check_usage tls_echo_client --ca "$pki/ca.crt" 127.0.0.1 7443 extra
    check_usage tls_echo_client --ca "$pki/ca.crt" --cert "$pki/client.crt" 127.0.0.1 7443
    check_usage tls_echo_client --bogus 127.0.0.1 7443
    # A key that does not match: refused at start, exit 1.
    rc=0
    timeout 10 "$bin/tls_echo_server" --cert "$pki/server.crt" --key "$pki/chain-mismatch.key" \
        --port 0 </dev/null >"$work/mm.out" 2>"$work/mm.err" || rc=$?
    [[ $rc == 1 ]] || fail "a mismatched key: exit $rc, expected 1"
    grep -q 'TLS certificate or key unusable' "$work/mm.err" || fail "no reason: $(cat "$work/mm.err")"
    ;;
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
    # need 20 s and trip the 15 s bound in echo_20_clients.
    for i in $(seq 20); do
        {
            echo "client $i first"
            echo "client $i second"
            head -c 3000 /dev/zero | tr '\0' "$((i % 10))"
            echo
        } >"$work/in$i"
    done
    echo_20_clients
    [[ $(grep -c '^client connected ' "$work/srv.out") == 20 ]] ||
        fail "server did not log 20 connections"
    stop_server srv
    ;;
bad_arguments_exit_2)
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
help_exits_0)
    # Every example: --help prints its usage on stdout, nothing on stderr,
    # and exits 0.
    progs=(echo_server echo_client readme_snippet readme_layers json_check async_echo_server
        chat_server tcp_server tcp_client line_server json_report migrate_after http_hello
        http_json_server http_json_client)
    [[ -x $bin/migrate_before ]] && progs+=(migrate_before)
    for prog in "${progs[@]}"; do
        rc=0
        timeout 10 "$bin/$prog" --help </dev/null >"$work/help.out" 2>"$work/help.err" || rc=$?
        [[ $rc == 0 ]] || fail "$prog --help exited with $rc, expected 0"
        grep -q "^usage: $prog" "$work/help.out" || fail "$prog --help: no usage on stdout"
        [[ ! -s $work/help.err ]] || fail "$prog --help wrote to stderr"
    done
    echo "${#progs[@]} examples answer --help"
    ;;
port_parsing_is_keels)
    # Ports are parsed by keel_addr_parse_port: "080" is a parse error as in
    # addr.h (not port 80, not octal 64), and so are signs and blanks.
    for p in 080 00 +80 ' 80' 65536; do
        check_usage echo_server tcp 127.0.0.1 "$p"
        check_usage echo_client tcp 127.0.0.1 "$p"
        check_usage async_echo_server --port "$p"
        check_usage chat_server --port "$p"
        check_usage http_hello --port "$p"
        check_usage http_json_server --port "$p"
        check_usage tcp_server "$p"
        check_usage tcp_client 127.0.0.1 "$p" name
        check_usage line_server "$p"
        check_usage readme_snippet 127.0.0.1 "$p"
        check_usage migrate_after 127.0.0.1 "$p" hello
    done
    # "0" itself is a port (chosen by the system), not a leading zero.
    start_server zero tcp
    stop_server zero
    ;;
echo_server_out_of_descriptors_backs_off)
    # With 32 descriptors the server runs out after ~28 clients. Accepting
    # must then pause (not spin logging "out of memory or descriptors"
    # hundreds of thousands of times a second), the server must survive,
    # and it must serve again once descriptors are free.
    server_prefix=(bash -c 'ulimit -n 32 && exec "$0" "$@"')
    start_server srv tcp
    fds=()
    for i in $(seq 40); do
        exec {fd}<>"/dev/tcp/127.0.0.1/$port_srv"
        fds+=("$fd")
    done
    # Wait (bounded) until the server has reported the shortage.
    for i in $(seq 100); do
        grep -q 'out of memory or descriptors' "$work/srv.err" && break
        sleep 0.1
    done
    grep -q 'out of memory or descriptors' "$work/srv.err" ||
        fail "the server never ran out of descriptors (40 clients, ulimit -n 32)"
    before=$(wc -l <"$work/srv.err")
    sleep 2
    after=$(wc -l <"$work/srv.err")
    kill -0 "$pid_srv" 2>/dev/null || fail "the server died when descriptors ran out"
    # A spinning accept loop logs thousands of lines a second even on a
    # loaded machine; one pausing 100 ms at a time, at most ~20 in 2 s.
    (( after - before <= 40 )) ||
        fail "the server logged $((after - before)) lines in 2 s while out of descriptors (spinning)"
    for fd in "${fds[@]}"; do exec {fd}>&-; done
    make_lines "$work/lines"
    expect_echo tcp "$port_srv" "$work/lines" after
    grep -q 'accepting again' "$work/srv.err" || fail "no 'accepting again' once descriptors were free"
    stop_server srv
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
readme_http_snippet_matches_and_runs)
    sed -n '/^\/\* README:begin \*\/$/,/^\/\* README:end \*\/$/p' "$src/examples/readme_http_snippet.c" |
        sed '1d;$d' >"$work/snippet.c"
    awk '/^<!-- snippet: examples\/readme_http_snippet.c -->$/ { on = 1; next }
         on && /^```c$/ { inside = 1; next }
         inside && /^```$/ { exit }
         inside { print }' "$src/README.md" >"$work/readme.c"
    [[ -s $work/snippet.c ]] || fail "no README:begin/end block in examples/readme_http_snippet.c"
    diff -u "$work/readme.c" "$work/snippet.c" >&2 ||
        fail "README.md's HTTP code block differs from examples/readme_http_snippet.c"
    rc=0
    timeout 20 "$bin/readme_http_snippet" >"$work/snippet.out" 2>"$work/snippet.err" || rc=$?
    [[ $rc == 0 ]] || fail "readme_http_snippet exited with $rc"
    [[ $(cat "$work/snippet.out") == "POST /upload host=example.com body=5 bytes at 67" ]] ||
        fail "unexpected output: $(cat "$work/snippet.out")"
    [[ $(cat "$work/snippet.err") == "rejected at byte 45: both Content-Length and Transfer-Encoding (400)" ]] ||
        fail "unexpected rejection: $(cat "$work/snippet.err")"
    ;;
async_echo_concurrent_clients)
    # 20 clients held open across a pause (all connected at once), one of
    # them with a 200 KB line, against two loop threads.
    start_async srv async_echo_server --threads 2
    for i in $(seq 20); do
        {
            echo "client $i first"
            head -c $((i == 1 ? 200000 : 3000)) /dev/zero | tr '\0' "$((i % 10))"
            echo
            echo "client $i last"
        } >"$work/in$i"
    done
    echo_20_clients
    stop_server srv
    ;;
chat_broadcast_and_long_line)
    start_async chat chat_server
    # A client that only reads (fd 3) must see every line of every client.
    exec 3<>"/dev/tcp/127.0.0.1/$port_chat"
    # Registered before anyone speaks: its own line comes back (a sleep was
    # not enough on a loaded machine). Nothing else is sent meanwhile, so
    # head reads that line alone.
    echo "listener here" >&3
    rc=0
    timeout 10 head -n 1 <&3 >"$work/hello.out" || rc=$?
    [[ $rc == 0 && $(cat "$work/hello.out") == "listener here" ]] ||
        fail "the listening client did not get its own line back (exit $rc)"
    # One client after another: each gets exactly its own lines back.
    for i in 1 2 3; do
        for m in 1 2 3 4 5; do echo "solo $i line $m"; done >"$work/solo$i"
        expect_echo tcp "$port_chat" "$work/solo$i" solo$i
    done
    rc=0
    timeout 10 head -n 15 <&3 >"$work/listener.out" || rc=$?
    [[ $rc == 0 ]] || fail "the listening client: head -n 15 exited with $rc (124: lines missing)"
    cat "$work"/solo? | cmp -s - "$work/listener.out" ||
        fail "the listening client did not get the 15 lines in order"
    # Eight at once. Every line has the same length, so each response is one
    # whole line: the client's own or another's. A client quits (and, with
    # lines still unread, resets) after its fifth response, so lines it sent
    # may be lost with it, even its first: on a loaded machine it can get
    # five broadcasts before the server has read it (a "first line is
    # missing" check failed 3 runs in 12). What holds: a line any client
    # got back was broadcast, so the listener, there all along, got it too.
    for i in $(seq 10 17); do
        for m in 1 2 3 4 5; do echo "client $i line $m"; done >"$work/in$i"
        timeout 15 "$bin/echo_client" tcp 127.0.0.1 "$port_chat" <"$work/in$i" \
            >"$work/c$i.out" 2>"$work/c$i.err" &
        printf -v "cpid$i" '%s' $!
        pids+=($!)
    done
    for i in $(seq 10 17); do
        pid_var="cpid$i"
        rc=0
        wait "${!pid_var}" || rc=$?
        [[ $rc == 0 ]] || fail "chat client $i exited with $rc (124: timed out)"
        [[ $(grep -cE '^Response received: client 1[0-7] line [1-5]$' "$work/c$i.out") == 5 ]] ||
            fail "chat client $i: expected 5 whole broadcast lines"
    done
    echo "end of round" >&3
    rc=0
    timeout 10 sed '/^end of round$/q' <&3 >"$work/round.out" || rc=$?
    [[ $rc == 0 ]] || fail "the listening client: sed exited with $rc (124: no end of round)"
    [[ $(tail -n1 "$work/round.out") == "end of round" ]] || fail "no end of round"
    sed -i '$d' "$work/round.out"
    cat "$work"/in1? >"$work/all"
    grep -vxFf "$work/all" "$work/round.out" && fail "the listener got lines nobody sent"
    [[ -z $(sort "$work/round.out" | uniq -d) ]] || fail "the listener got a line twice"
    sed -n 's/^Response received: //p' "$work"/c1?.out | sort -u >"$work/got_back"
    [[ -s $work/got_back ]] || fail "no chat client got a broadcast line back"
    grep -vxFf "$work/round.out" "$work/got_back" &&
        fail "lines above reached a client but not the listener"
    # An over-long line is refused whole: an error line, then the server
    # closes that connection; nobody else gets any part of it.
    expect_refused_line "$port_chat" 5000 "error: line longer than 4096 bytes"
    echo "after the long line" >&3
    read -r -t 10 back <&3 || fail "chat stopped serving after the long line"
    [[ $back == "after the long line" ]] || fail "got '$back' instead of my own line"
    # SIGTERM with a client still connected: it is closed, the server exits 0.
    stop_server chat
    timeout 10 cat <&3 >/dev/null || fail "the connected client was not closed on SIGTERM"
    exec 3<&-
    ;;
async_bad_arguments_exit_2)
    for prog in async_echo_server chat_server; do
        check_usage $prog --port
        check_usage $prog --port 65536
        check_usage $prog --port -1
        check_usage $prog --port 12ab
        check_usage $prog --ip
        check_usage $prog --ip 999.0.0.1
        check_usage $prog --ip localhost
        check_usage $prog --verbose
        check_usage $prog extra
    done
    check_usage async_echo_server --threads 0
    check_usage async_echo_server --threads 257
    check_usage async_echo_server --threads
    check_usage chat_server --threads 2
    ;;
json_check_valid_invalid_and_stdin)
    printf '{"a": [1, 2.5, "x\\u00e9"], "b": {"c": null}}' >"$work/ok.json"
    printf '{"a": [1, 2,]}' >"$work/comma.json"
    printf '{\n  "a": 1,\n  "b": tru\n}' >"$work/lines.json"
    printf '{"a": [1, 2' >"$work/cut.json"
    jc ok "$work/ok.json"
    [[ $rc == 0 && $(cat "$work/ok.out") == valid ]] || fail "valid file: exit $rc"
    jc comma "$work/comma.json"
    [[ $rc == 1 ]] || fail "trailing comma: exit $rc, expected 1"
    grep -q "comma.json:1:13: byte 12: " "$work/comma.err" || fail "trailing comma: wrong position"
    jc lines "$work/lines.json"
    [[ $rc == 1 ]] || fail "bad literal: exit $rc, expected 1"
    grep -Eq "lines.json:3:[0-9]+: byte (1[5-9]|2[0-9]): invalid literal" "$work/lines.err" ||
        fail "bad literal on line 3: wrong position or reason"
    jc cut "$work/cut.json"
    [[ $rc == 1 ]] || fail "truncated document: exit $rc, expected 1"
    grep -q "cut.json:1:12: byte 11: the document ends inside a value" "$work/cut.err" ||
        fail "truncated document: wrong offset or reason"
    jc stdin <"$work/ok.json"
    [[ $rc == 0 ]] || fail "valid stdin: exit $rc"
    jc dash - <"$work/comma.json"
    [[ $rc == 1 ]] || fail "invalid stdin: exit $rc"
    grep -q "^<stdin>:1:13: byte 12: " "$work/dash.err" || fail "invalid stdin: wrong message"
    ;;
json_check_usage_and_io_errors_exit_2)
    printf '[]' >"$work/ok.json"
    for args in "--nope" "--max-depth" "--max-depth 0" "--max-depth 1025" "--max-depth x" \
        "--max-depth -1" "$work/ok.json $work/ok.json"; do
        # shellcheck disable=SC2086
        jc usage $args </dev/null
        [[ $rc == 2 ]] || fail "json_check $args: exit $rc, expected 2"
        grep -q '^usage: ' "$work/usage.err" || fail "json_check $args: no usage message"
    done
    jc missing "$work/no-such-file"
    [[ $rc == 2 ]] || fail "missing file: exit $rc, expected 2"
    jc dir "$work"
    [[ $rc == 2 ]] || fail "directory: exit $rc, expected 2"
    if [[ $(id -u) != 0 ]]; then
        cp "$work/ok.json" "$work/locked.json"
        chmod 000 "$work/locked.json"
        jc locked "$work/locked.json"
        [[ $rc == 2 ]] || fail "unreadable file: exit $rc, expected 2"
    fi
    # The 64 MiB limit: exactly at it is read (and judged), one byte more is refused.
    head -c $((64 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$work/big.json"
    jc limit "$work/big.json"
    [[ $rc == 1 ]] || fail "64 MiB of spaces: exit $rc, expected 1 (read, then invalid)"
    printf ' ' >>"$work/big.json"
    jc over <"$work/big.json"
    [[ $rc == 2 ]] || fail "64 MiB + 1: exit $rc, expected 2"
    grep -q 'larger than' "$work/over.err" || fail "64 MiB + 1: no size message"
    ;;
json_check_hostile_inputs_never_crash)
    : >"$work/empty.json"
    jc empty "$work/empty.json"
    [[ $rc == 1 ]] || fail "empty file: exit $rc, expected 1"
    head -c 100000 /dev/zero | tr '\0' '[' >"$work/bomb.json"
    jc bomb "$work/bomb.json"
    [[ $rc == 1 ]] || fail "nesting bomb: exit $rc, expected 1"
    grep -q "byte 64: nesting too deep" "$work/bomb.err" || fail "nesting bomb: not TOO_DEEP at byte 64"
    jc bomb_cap --max-depth 1024 "$work/bomb.json"
    grep -q "byte 1024: nesting too deep" "$work/bomb_cap.err" || fail "bomb: not TOO_DEEP at byte 1024"
    printf '[[[]]]' >"$work/three.json"
    jc depth2 --max-depth 2 "$work/three.json"
    [[ $rc == 1 ]] || fail "--max-depth 2 on depth 3: exit $rc, expected 1"
    jc depth3 --max-depth 3 "$work/three.json"
    [[ $rc == 0 ]] || fail "--max-depth 3 on depth 3: exit $rc, expected 0"
    printf '{"a":\0 1}' >"$work/nul.json"
    jc nul "$work/nul.json"
    [[ $rc == 1 ]] || fail "NUL byte: exit $rc, expected 1"
    for i in $(seq 40); do
        head -c $((i * 37 % 1500)) /dev/urandom >"$work/random.json"
        jc random "$work/random.json"
        if [[ $rc != 0 && $rc != 1 ]]; then
            cp "$work/random.json" "$work/random.out"
            fail "random input $i: exit $rc (kept as random.out)"
        fi
    done
    ;;
guide_tcp_client_server)
    # docs/guide-tcp.md: tcp_server serves two clients one after the other.
    start_listening srv tcp_server 0 2
    rc=0
    timeout 20 "$bin/tcp_client" 127.0.0.1 "$port_srv" ada grace >"$work/c1.out" 2>"$work/c1.err" || rc=$?
    [[ $rc == 0 ]] || fail "tcp_client exited with $rc"
    [[ $(cat "$work/c1.out") == $'hello, ada\nhello, grace' ]] || fail "unexpected answers"
    # A name over the server's 256-byte line limit: the server drops that
    # client (its reader says TOO_LARGE) and the client fails cleanly.
    long=$(head -c 300 /dev/zero | tr '\0' n)
    rc=0
    timeout 20 "$bin/tcp_client" 127.0.0.1 "$port_srv" "$long" >"$work/c2.out" 2>"$work/c2.err" || rc=$?
    [[ $rc == 1 ]] || fail "tcp_client with an over-long line exited with $rc, expected 1"
    grep -q 'client dropped: ' "$work/srv.err" || fail "the server did not report the dropped client"
    wait_exit "$pid_srv" 10
    [[ $exit_rc == 0 ]] || fail "tcp_server exited with $exit_rc after its two clients"
    rc=0
    timeout 10 "$bin/tcp_client" 127.0.0.1 "$port_srv" >/dev/null 2>&1 || rc=$?
    [[ $rc == 2 ]] || fail "tcp_client without a name exited with $rc, expected 2"
    ;;
guide_line_server)
    # docs/guide-async-lines.md: every line back in upper case.
    start_listening srv line_server 0
    printf 'hello\nWorld 42\n\nmixed Case, punctuation!\n' >"$work/lines"
    rc=0
    timeout 20 "$bin/echo_client" tcp 127.0.0.1 "$port_srv" <"$work/lines" >"$work/c.out" 2>"$work/c.err" || rc=$?
    [[ $rc == 0 ]] || fail "echo_client exited with $rc"
    tr '[:lower:]' '[:upper:]' <"$work/lines" | sed 's/^/Response received: /' >"$work/c.expected"
    cmp -s "$work/c.expected" "$work/c.out" || fail "the answers are not the lines in upper case"
    # A line over 1024 bytes is refused whole, then the connection closes.
    expect_refused_line "$port_srv" 2000 "error: line longer than 1024 bytes"
    # Twenty clients connected at once, on the server's two threads.
    for i in $(seq 20); do
        printf 'client %s first\nclient %s second\n' "$i" "$i" >"$work/in$i"
    done
    upper() { tr '[:lower:]' '[:upper:]'; }
    echo_20_clients upper
    stop_server srv
    ;;
guide_json_report)
    # docs/guide-json.md: parse, look up, extract, write.
    jr() {
        local name=$1
        rc=0
        timeout 10 "$bin/json_report" >"$work/$name.out" 2>"$work/$name.err" || rc=$?
    }
    jr ok < <(printf '{"name": "ada", "scores": [90, 85.5, 77]}')
    [[ $rc == 0 && $(cat "$work/ok.out") == '{"name":"ada","count":3,"total":252.5,"best":90}' ]] ||
        fail "summary: exit $rc, got '$(cat "$work/ok.out")'"
    jr escapes < <(printf '{"scores": [], "name": "a\\u00e9\\"b", "extra": null}')
    [[ $rc == 0 && $(cat "$work/escapes.out") == '{"name":"aé\"b","count":0,"total":0}' ]] ||
        fail "escapes and empty scores: exit $rc, got '$(cat "$work/escapes.out")'"
    jr comma < <(printf '{"name": "ada", "scores": [90, 85.5,]}')
    [[ $rc == 1 ]] || fail "trailing comma: exit $rc, expected 1"
    grep -q '^json_report: byte 36: ' "$work/comma.err" || fail "trailing comma: no offset ($(cat "$work/comma.err"))"
    jr missing < <(printf '{"name": "ada"}')
    [[ $rc == 1 ]] || fail "missing scores: exit $rc, expected 1"
    jr type < <(printf '{"name": 7, "scores": []}')
    [[ $rc == 1 ]] || fail "a number as name: exit $rc, expected 1"
    jr big < <(head -c 70000 /dev/zero | tr '\0' ' ')
    [[ $rc == 2 ]] || fail "70,000 bytes: exit $rc, expected 2"
    ;;
migrate_before_and_after)
    # docs/migrating-from-mbedtls-net.md: the same client with keel and,
    # when mbed TLS was found at build time, with mbed TLS.
    start_server srv tcp
    sides=(migrate_after)
    if [[ -x $bin/migrate_before ]]; then
        sides+=(migrate_before)
    else
        echo "migrate_before was not built (no mbed TLS): the keel side only"
    fi
    for prog in "${sides[@]}"; do
        rc=0
        timeout 20 "$bin/$prog" 127.0.0.1 "$port_srv" 'hello, keel' >"$work/$prog.out" 2>"$work/$prog.err" || rc=$?
        [[ $rc == 0 ]] || fail "$prog exited with $rc"
        [[ $(cat "$work/$prog.out") == 'reply: hello, keel' ]] || fail "$prog printed '$(cat "$work/$prog.out")'"
        echo "$prog: $(cat "$work/$prog.out")"
    done
    stop_server srv
    # Nobody listens there now: both fail with their own error report.
    for prog in "${sides[@]}"; do
        rc=0
        timeout 20 "$bin/$prog" 127.0.0.1 "$port_srv" hi >"$work/$prog.out" 2>"$work/$prog.err" || rc=$?
        [[ $rc == 1 ]] || fail "$prog to a closed port exited with $rc, expected 1"
        echo "$prog, refused: $(cat "$work/$prog.err")"
    done
    grep -q 'KEEL_ERR_REFUSED' "$work/migrate_after.err" || fail "migrate_after did not report KEEL_ERR_REFUSED"
    ;;
guide_snippets_match_examples)
    shopt -s nullglob
    guides=("$src"/docs/*.md)
    [[ ${#guides[@]} -gt 0 ]] || fail "no guide in docs/"
    check_snippets "${guides[@]}"
    ;;
readme_snippets_match_examples)
    # README.md's C blocks are examples the build compiles too: the ones of
    # examples/readme_snippet.c (readme_snippet_matches_and_runs) and
    # examples/readme_http_snippet.c (readme_http_snippet_matches_and_runs) and the
    # guide:NAME blocks of the others (examples/readme_layers.c...).
    check_snippets "$src/README.md"
    ;;
readme_layers_run)
    rc=0
    timeout 60 "$bin/readme_layers" >"$work/layers.out" 2>"$work/layers.err" || rc=$?
    [[ $rc == 0 ]] || fail "readme_layers exited with $rc"
    printf '%s\n' 'line: one' 'line: two' 'codec: KEEL_OK, 9 bytes used' 'json: id 7, name ada' \
        'loop: KEEL_OK, echoed ping' 'framed: KEEL_OK, both lines back' >"$work/layers.expected"
    diff -u "$work/layers.expected" "$work/layers.out" >&2 || fail "readme_layers printed something else"
    ;;
http_parse_pipelined_requests)
    printf 'GET /a?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\nPOST /j HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n\r\n{"a":1}POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\nGET / HTTP/1.0\r\n\r\n' \
        >"$work/req.http"
    hp req "$work/req.http"
    [[ $rc == 0 ]] || fail "pipelined requests: exit $rc, expected 0"
    cat >"$work/req.want" <<'EOF'
{"method":"GET","target":"/a?x=1","version":"HTTP/1.1","headers":[["Host","example.com"],["Accept","*/*"]],"body_len":0,"body_b64":""}
{"method":"POST","target":"/j","version":"HTTP/1.1","headers":[["Host","h"],["Content-Length","7"]],"body_len":7,"body_b64":"eyJhIjoxfQ=="}
{"method":"POST","target":"/c","version":"HTTP/1.1","headers":[["Host","h"],["Transfer-Encoding","chunked"]],"body_len":5,"body_b64":"YWJjZGU="}
{"method":"GET","target":"/","version":"HTTP/1.0","headers":[],"body_len":0,"body_b64":""}
{"end":"ok","offset":215,"reason":"no error"}
EOF
    diff -u "$work/req.want" "$work/req.out" >&2 || fail "pipelined requests: unexpected output"
    # the same from stdin
    hp stdin - <"$work/req.http"
    [[ $rc == 0 ]] && cmp -s "$work/req.want" "$work/stdin.out" || fail "stdin: different output"
    ;;
http_parse_smuggling_is_rejected)
    # CL.TE: the message is rejected whole, nothing is printed for it
    printf 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG' \
        >"$work/clte.http"
    hp clte "$work/clte.http"
    [[ $rc == 1 ]] || fail "CL.TE: exit $rc, expected 1"
    [[ $(cat "$work/clte.out") == '{"end":"error","offset":45,"reason":"both Content-Length and Transfer-Encoding","status":400}' ]] ||
        fail "CL.TE: unexpected output: $(cat "$work/clte.out")"
    # TE.TE obfuscation after a good request: the good one is printed first
    printf 'GET / HTTP/1.1\r\nHost: h\r\n\r\nPOST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n' \
        >"$work/tete.http"
    hp tete "$work/tete.http"
    [[ $rc == 1 ]] || fail "TE.TE: exit $rc, expected 1"
    [[ $(sed -n 2p "$work/tete.out") == '{"end":"error","offset":72,"reason":"a transfer coding other than chunked","status":501}' ]] ||
        fail "TE.TE: unexpected output: $(cat "$work/tete.out")"
    [[ $(head -c 16 "$work/tete.out") == '{"method":"GET",' ]] || fail "TE.TE: the first request is missing"
    # a bad chunk size in the body: the offset counts from the input's first byte
    printf 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n' \
        >"$work/hex.http"
    hp hex "$work/hex.http"
    [[ $rc == 1 ]] || fail "0x chunk size: exit $rc, expected 1"
    [[ $(cat "$work/hex.out") == '{"end":"error","offset":57,"reason":"malformed chunk size","status":400}' ]] ||
        fail "0x chunk size: unexpected output: $(cat "$work/hex.out")"
    ;;
http_parse_truncated_message_exits_3)
    printf 'GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /next HTTP/1.1\r\nHo' >"$work/cut.http"
    hp cut "$work/cut.http"
    [[ $rc == 3 ]] || fail "truncated head: exit $rc, expected 3"
    [[ $(tail -n1 "$work/cut.out") == '{"end":"incomplete","offset":27,"reason":"the input ends inside a message head"}' ]] ||
        fail "truncated head: unexpected output: $(cat "$work/cut.out")"
    printf 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nshort' >"$work/body.http"
    hp body "$work/body.http"
    [[ $rc == 3 ]] || fail "truncated body: exit $rc, expected 3"
    [[ $(cat "$work/body.out") == '{"end":"incomplete","offset":0,"reason":"the input ends inside a message body"}' ]] ||
        fail "truncated body: unexpected output: $(cat "$work/body.out")"
    : >"$work/empty.http"
    hp empty "$work/empty.http"
    [[ $rc == 0 && $(cat "$work/empty.out") == '{"end":"ok","offset":0,"reason":"no error"}' ]] ||
        fail "empty input: exit $rc, output $(cat "$work/empty.out")"
    ;;
http_parse_chunked_response)
    printf 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext\r\n, world\r\n0\r\n\r\nHTTP/1.0 404 Not Found\r\nServer: k\r\n\r\ngone\n' \
        >"$work/resp.http"
    hp resp --response "$work/resp.http"
    [[ $rc == 0 ]] || fail "responses: exit $rc, expected 0"
    cat >"$work/resp.want" <<'EOF'
{"version":"HTTP/1.1","status":100,"headers":[],"body_len":0,"body_b64":""}
{"version":"HTTP/1.1","status":200,"headers":[["Transfer-Encoding","chunked"]],"body_len":12,"body_b64":"aGVsbG8sIHdvcmxk"}
{"version":"HTTP/1.0","status":404,"headers":[["Server","k"]],"body_len":5,"body_b64":"Z29uZQo="}
{"end":"ok","offset":145,"reason":"no error"}
EOF
    diff -u "$work/resp.want" "$work/resp.out" >&2 || fail "responses: unexpected output"
    ;;
http_parse_usage_and_io_errors)
    printf 'GET / HTTP/1.1\r\nHost: h\r\n\r\n' >"$work/ok.http"
    for args in "--nope" "$work/ok.http $work/ok.http" "-x"; do
        # shellcheck disable=SC2086
        hp usage $args </dev/null
        [[ $rc == 2 ]] || fail "http_parse $args: exit $rc, expected 2"
        grep -q '^usage: ' "$work/usage.err" || fail "http_parse $args: no usage message"
    done
    hp help --help
    [[ $rc == 0 ]] && grep -q '^usage: ' "$work/help.out" || fail "--help: exit $rc or no usage on stdout"
    hp missing "$work/no-such-file"
    [[ $rc == 2 ]] || fail "missing file: exit $rc, expected 2"
    hp dir "$work"
    [[ $rc == 2 ]] || fail "directory: exit $rc, expected 2"
    head -c $((64 * 1024 * 1024 + 1)) /dev/zero >"$work/big.http"
    hp big "$work/big.http"
    [[ $rc == 2 ]] && grep -q 'larger than' "$work/big.err" || fail "64 MiB + 1: exit $rc"
    ;;
http_json_showcase)
    # The seed's exchange, the 400s with their one-line reasons, the log.
    start_listening srv http_json_server --port 0 --threads 2
    url=http://127.0.0.1:$port_srv/data
    out=$(timeout 30 "$bin/http_json_client" --url "$url") || fail "client exited $?"
    [[ $out == 'Received: Data { number: 5, boolean: true }' ]] || fail "showcase: got '$out'"
    out=$(timeout 30 "$bin/http_json_client" --url "$url" --number 7 --boolean false) ||
        fail "client exited $?"
    [[ $out == 'Received: Data { number: 7, boolean: false }' ]] || fail "got '$out'"
    rc=0
    timeout 30 "$bin/http_json_client" --url "http://127.0.0.1:$port_srv/other" \
        >"$work/nf.out" 2>"$work/nf.err" || rc=$?
    [[ $rc == 1 ]] && grep -q 'answered 404' "$work/nf.err" || fail "404: exit $rc"
    rc=0
    timeout 30 "$bin/http_json_client" --url "http://u@127.0.0.1:$port_srv/data" \
        >"$work/ui.out" 2>"$work/ui.err" || rc=$?
    [[ $rc == 2 ]] || fail "userinfo URL: exit $rc, expected 2"
    if command -v curl >/dev/null; then
        post() { curl -s -o "$work/body" -w '%{http_code}' -H 'Content-Type: application/json' \
            --data-binary "$1" "$url"; }
        # Each refusal with its one-line reason: where, what was expected, what came.
        bad=('{"number": 5' '{"boolean": true}' '{"number": "5", "boolean": true}'
            '{"number": 5, "boolean": 1}' '[5, true]' '' '{"number": 5.5, "boolean": true}'
            '{\n  "number": 5,\n  "boolean": tru\n}' '{"number": 9223372036854775808, "boolean": true}'
            '{"number": 5, "number": 6, "boolean": true}')
        why=('invalid JSON at line 1 column 13: the document ends inside a value'
            'missing field `number`'
            'field `number`: expected an integer, got a string'
            'field `boolean`: expected true or false, got a number'
            'expected a JSON object, got an array'
            'invalid JSON at line 1 column 1: the document ends inside a value'
            'field `number`: expected an integer, got a fraction or an exponent'
            'invalid JSON at line 3 column 17: invalid literal (not true, false or null)'
            'field `number`: out of range'
            'invalid JSON at line 1 column 15: an object repeats a key')
        for i in "${!bad[@]}"; do
            code=$(post "$(printf '%b' "${bad[$i]}")")
            [[ $code == 400 && $(cat "$work/body") == "${why[$i]}" ]] ||
                fail "body '${bad[$i]}': status $code, body '$(cat "$work/body")', expected '${why[$i]}'"
        done
        [[ $(post '{"number": 5, "boolean": true}') == 200 ]] || fail "curl showcase POST"
        grep -q '^Received: Data { number: 5, boolean: true }$' <(cat "$work/body"; echo) ||
            fail "curl showcase body '$(cat "$work/body")'"
    fi
    stop_server srv
    n=$(grep -c '^POST /data [0-9]* [0-9]* bytes [0-9]* us$' "$work/srv.out" || true)
    want=2
    command -v curl >/dev/null && want=13
    [[ $n == "$want" ]] || fail "server log: $n POST /data lines, expected $want"
    ;;
https_json_showcase)
    # The showcase over HTTPS: keel's client, then curl, against keel's
    # server with the test PKI's localhost certificate; a client that does
    # not trust the server's CA is refused.
    make_pki
    start_listening srv http_json_server --port 0 --threads 2 --cert "$pki/server.crt" \
        --key "$pki/server.key"
    url=https://localhost:$port_srv/data
    out=$(timeout 30 "$bin/http_json_client" --url "$url" --cacert "$pki/ca.crt") ||
        fail "client exited $?"
    [[ $out == 'Received: Data { number: 5, boolean: true }' ]] || fail "https showcase: got '$out'"
    rc=0
    timeout 30 "$bin/http_json_client" --url "$url" --cacert "$pki/other-ca.crt" \
        >"$work/oc.out" 2>"$work/oc.err" || rc=$?
    [[ $rc == 1 ]] && grep -q 'certificate refused' "$work/oc.err" ||
        fail "untrusted CA: exit $rc: $(cat "$work/oc.err")"
    rc=0
    timeout 30 "$bin/http_json_client" --url "http://127.0.0.1:$port_srv/data" \
        >"$work/pl.out" 2>"$work/pl.err" || rc=$?
    [[ $rc == 1 ]] || fail "plain http to the https server: exit $rc"
    if command -v curl >/dev/null; then
        code=$(curl -s -o "$work/body" -w '%{http_code}' --cacert "$pki/ca.crt" \
            -H 'Content-Type: application/json' --data-binary '{"number": 5, "boolean": true}' "$url") ||
            fail "curl --cacert: exit $?"
        [[ $code == 200 ]] || fail "curl --cacert: status $code"
        grep -q '^Received: Data { number: 5, boolean: true }$' <(cat "$work/body"; echo) ||
            fail "curl body '$(cat "$work/body")'"
        # Keep-alive over TLS: two URLs, one connection.
        curl -sv --cacert "$pki/ca.crt" -d '{"number": 1, "boolean": false}' "$url" "$url" \
            >"$work/ka.out" 2>"$work/ka.err" || fail "curl keep-alive over TLS"
        grep -q 'Re-using existing connection' "$work/ka.err" || fail "curl did not reuse the TLS connection"
        rc=0
        curl -s -o /dev/null --cacert "$pki/other-ca.crt" -d '{}' "$url" || rc=$?
        [[ $rc == 60 ]] || fail "curl with the wrong CA: exit $rc, expected 60"
    fi
    stop_server srv
    n=$(grep -c '^POST /data 200 [0-9]* bytes [0-9]* us$' "$work/srv.out" || true)
    want=1
    command -v curl >/dev/null && want=4
    [[ $n == "$want" ]] || fail "server log: $n answered POST /data lines, expected $want"
    ;;
http_hello_with_curl)
    command -v curl >/dev/null || { echo "curl is not installed (ci/deps http): SKIPPED"; exit 77; }
    start_listening srv http_hello --port 0 --threads 2
    base=http://127.0.0.1:$port_srv
    # Keep-alive: three URLs on one connection (curl says it reused it).
    curl -sv "$base/a" "$base/b" "$base/c" >"$work/ka.out" 2>"$work/ka.err" || fail "curl keep-alive"
    [[ $(cat "$work/ka.out") == hellohellohello ]] || fail "keep-alive bodies: $(cat "$work/ka.out")"
    [[ $(grep -c 'Re-using existing connection' "$work/ka.err") == 2 ]] ||
        fail "curl did not reuse the connection"
    [[ $(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @"$src/README.md" "$base/x") == 200 ]] ||
        fail "POST a file"
    [[ $(curl -s -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' --data-binary hi "$base/") == 200 ]] ||
        fail "chunked POST"
    [[ $(curl -s -o /dev/null -w '%{http_code}' -H 'Expect: 100-continue' --data-binary hi "$base/") == 200 ]] ||
        fail "100-continue"
    [[ $(curl -sI "$base/" | head -n1 | tr -d '\r') == 'HTTP/1.1 200 OK' ]] || fail "HEAD"
    [[ $(curl -s -o /dev/null -w '%{http_code}' --http1.0 "$base/") == 200 ]] || fail "HTTP/1.0"
    [[ $(curl -s -o /dev/null -w '%{http_code}' -H 'Expect: tea' "$base/") == 417 ]] || fail "417"
    stop_server srv
    ;;
http_servers_bad_arguments_exit_2)
    for prog in http_hello http_json_server; do
        for args in "--port 65536" "--port -1" "--threads 0" "--threads 257" "--ip nowhere" "--nope 1" "--port" \
            "--cert x.crt" "--key x.key" "--port 0 --cert"; do
            rc=0
            # shellcheck disable=SC2086
            timeout 10 "$bin/$prog" $args >"$work/a.out" 2>"$work/a.err" || rc=$?
            [[ $rc == 2 ]] && grep -q '^usage: ' "$work/a.err" || fail "$prog $args: exit $rc"
        done
    done
    for args in "--url" "--url ftp://h/" "--url https:/h/" "--number x" "--boolean yes" "--what 1"; do
        rc=0
        # shellcheck disable=SC2086
        timeout 10 "$bin/http_json_client" $args >"$work/a.out" 2>"$work/a.err" || rc=$?
        [[ $rc == 2 ]] || fail "http_json_client $args: exit $rc"
    done
    ;;
*)
    echo "unknown case $case_name" >&2
    exit 2
    ;;
esac
echo "PASS ($case_name)"
