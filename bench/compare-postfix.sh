#!/usr/bin/env bash
# Tern vs a private Postfix, end to end, on loopback, in one run (bench/README.md, "Tern vs Postfix,
# end to end"; method: ../shared/reference/performance.md).
#
#   smtp-source --> server under test (127.0.0.1) --> smtp-sink (127.0.0.2), alternating A B / B A
#
# Per run and system: a fresh sink, a fresh server (new spool/queue), `smtp-source` timed
# (accepted msg/s), then a bounded wait until the sink has counted N (end-to-end msg/s), the
# server's CPU time and memory, and loss checks (sink count == N, server queue empty, every
# message delivered). Needs root (Postfix), smtp-source/smtp-sink/postfix in PATH or /usr/sbin,
# and a built out/tern. Builds nothing.
#
# Why the sink is on 127.0.0.2: Postfix treats an address literal of one of its own interfaces
# (inet_interfaces, here loopback-only = 127.0.0.1) as local, so b@[127.0.0.1] would go to
# local(8) instead of the relayhost. Both servers listen on 127.0.0.1 and both get the recipient
# b@[127.0.0.2]: Postfix sends it to relayhost = [127.0.0.2]:SINK, Tern delivers the address literal
# directly with `[delivery] direct_port = SINK`.
set -euo pipefail
export LC_ALL=C # '.' in $EPOCHREALTIME, plain sort order

usage() {
    cat <<'EOF'
usage: bench/compare-postfix.sh [options]
  --messages N       messages per run and system (50000)
  --sessions S       smtp-source parallel sessions, -s (20)
  --size BYTES       message size, -l (1024)
  --runs R           runs; each is one Postfix + one Tern, order A B then B A (3)
  --reuse            smtp-source -d: keep the connection for the next message (default)
  --no-reuse         a new connection per message
  --concurrency C    outbound concurrency of both: Tern delivery.concurrency (and
                     delivery.max_connections where it exists) and Postfix
                     default_destination_concurrency_limit (20)
  --only tern|postfix  measure one system only
  --loader smtp-source|tern-load  what sends the messages (smtp-source). tern-load send
                     pipelines (PIPELINING when offered) and measures the DATA-end -> 250
                     latency, reported as p50/p99
  --load-args "ARGS" more options for tern-load send, e.g. "--chunking on --window 8"
  --tern-load BINARY the tern-load binary (out/tern-load)
  --tern-poll DURATION Tern's delivery.poll_interval ("50ms"; "" leaves the default). The interim
                     delivery loop takes at most 4 x concurrency messages per poll, so the 1 s
                     default would cap delivery at 80 msg/s; left out when the binary does not
                     know the key (the delivery scheduler has none)
  --tern BINARY      the Tern binary (out/tern)
  --min-rate R       a phase fails when slower than 30 s + N/R (R msg/s, default 20)
  --json FILE        where to write the results (default: /var/tmp/compare-postfix-DATE.json)
  --keep             keep the temporary directory (it is always kept after a failure)
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MESSAGES=50000 SESSIONS=20 SIZE=1024 RUNS=3 REUSE=1 CONCURRENCY=20 ONLY="" KEEP=0 MIN_RATE=20
TERN="$ROOT/out/tern"
TERN_LOAD="$ROOT/out/tern-load"
LOADER=smtp-source LOAD_ARGS=""
TERN_POLL=50ms
JSON=""
while (($#)); do
    case $1 in
        --messages) MESSAGES=$2; shift ;;
        --sessions) SESSIONS=$2; shift ;;
        --size) SIZE=$2; shift ;;
        --runs) RUNS=$2; shift ;;
        --reuse) REUSE=1 ;;
        --no-reuse) REUSE=0 ;;
        --concurrency) CONCURRENCY=$2; shift ;;
        --only) ONLY=$2; shift ;;
        --tern) TERN=$2; shift ;;
        --tern-load) TERN_LOAD=$2; shift ;;
        --loader) LOADER=$2; shift ;;
        --load-args) LOAD_ARGS=$2; shift ;;
        --tern-poll) TERN_POLL=$2; shift ;;
        --min-rate) MIN_RATE=$2; shift ;;
        --json) JSON=$2; shift ;;
        --keep) KEEP=1 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "compare-postfix: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
for v in MESSAGES SESSIONS SIZE RUNS CONCURRENCY MIN_RATE; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "compare-postfix: ${v,,} must be a positive integer, got '${!v}'" >&2; exit 2; }
done
case $ONLY in "" | tern | postfix) ;; *) echo "compare-postfix: --only tern|postfix" >&2; exit 2 ;; esac
case $LOADER in smtp-source | tern-load) ;; *) echo "compare-postfix: --loader smtp-source|tern-load" >&2; exit 2 ;; esac

PATH=$PATH:/usr/sbin:/sbin
[[ $EUID -eq 0 ]] || { echo "compare-postfix: run as root (Postfix needs it)" >&2; exit 2; }
for tool in smtp-source smtp-sink postfix ss timeout awk; do
    command -v "$tool" >/dev/null || { echo "compare-postfix: $tool not found" >&2; exit 2; }
done
[[ -x $TERN ]] || { echo "compare-postfix: no Tern binary at $TERN (build it first: ./build.sh)" >&2; exit 2; }
[[ $LOADER != tern-load || -x $TERN_LOAD ]] || { echo "compare-postfix: no tern-load binary at $TERN_LOAD (build it first: ./build.sh)" >&2; exit 2; }
TERN=$(cd "$(dirname "$TERN")" && pwd)/$(basename "$TERN")

SERVER_IP=127.0.0.1
SINK_IP=127.0.0.2
RCPT="b@[$SINK_IP]"
SENDER=a@example.test
HZ=$(getconf CLK_TCK)
TIMEOUT_S=$((30 + MESSAGES / MIN_RATE)) # per phase: acceptance, then delivery
STARTED=$EPOCHREALTIME
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
[[ -n $JSON ]] || JSON=/var/tmp/compare-postfix-$STAMP.json

# /var/tmp, not /tmp: both spools must be on a real disk (fsync is the point), and /tmp may be tmpfs.
T=$(mktemp -d "/var/tmp/compare-postfix.XXXXXX")
chmod 755 "$T" # Postfix's daemons (user postfix) must reach the queue directory below it
case $(stat -f -c %T "$T") in tmpfs | ramfs) echo "compare-postfix: warning: $T is on tmpfs: fsync costs nothing there" >&2 ;; esac
RESULTS=$T/results.tsv
: >"$RESULTS"

# ---------------------------------------------------------------------------------------------
# State of what is running, for cleanup and for failure reports.
SINK_PID="" TERN_PID="" PF_ETC="" PF_MASTER="" RUN_DIR="" FAILED=0

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

now_us() { local t=$EPOCHREALTIME; echo $((10#${t%.*} * 1000000 + 10#${t#*.})); }

alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }

# Waits (bounded) until pid $1 is gone; it must be our child or already reparented.
wait_gone() {
    local pid=$1 deadline=$(($(now_us) + $2 * 1000000))
    while alive "$pid"; do
        (($(now_us) < deadline)) || return 1
        sleep 0.05
    done
}

stop_sink() {
    if alive "$SINK_PID"; then
        kill -TERM "$SINK_PID" 2>/dev/null || true
        wait_gone "$SINK_PID" 5 || kill -KILL "$SINK_PID" 2>/dev/null || true
        wait "$SINK_PID" 2>/dev/null || true
    fi
    SINK_PID=""
}

stop_tern() {
    if alive "$TERN_PID"; then
        kill -TERM "$TERN_PID" 2>/dev/null || true
        # shutdown.grace is 10 s; give it a little more, then kill.
        if ! wait_gone "$TERN_PID" 20; then
            log "tern did not stop within 20 s of SIGTERM: SIGKILL"
            kill -KILL "$TERN_PID" 2>/dev/null || true
        fi
        wait "$TERN_PID" 2>/dev/null || true
    fi
    TERN_PID=""
}

stop_postfix() {
    if [[ -n $PF_ETC ]]; then
        timeout 30 postfix -c "$PF_ETC" stop >/dev/null 2>&1 || true
        if [[ -n $PF_MASTER ]]; then
            # master sends SIGTERM to its session and exits; wait for all of them.
            local deadline=$(($(now_us) + 15 * 1000000))
            while pgrep -s "$PF_MASTER" >/dev/null; do
                if (($(now_us) > deadline)); then
                    log "postfix processes left 15 s after 'postfix stop': SIGKILL"
                    pkill -KILL -s "$PF_MASTER" || true
                    break
                fi
                sleep 0.1
            done
        fi
    fi
    PF_ETC="" PF_MASTER=""
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_tern
    stop_postfix
    stop_sink
    if ((rc != 0 || FAILED)); then
        echo "compare-postfix: failed; everything is kept in $T" >&2
    elif ((KEEP)); then
        echo "kept: $T" >&2
    else
        rm -rf "$T"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Prints the tails of everything the current run wrote, then exits 1 (the EXIT trap cleans up).
fail() {
    FAILED=1
    echo "compare-postfix: FAILED: $*" >&2
    if [[ -n $RUN_DIR ]]; then
        # One line per message is routine; what is not comes first.
        show_log "$RUN_DIR/tern.log" 'm="message accepted"|m=delivery .*result=delivered'
        show_log "$RUN_DIR/pf/maillog" ': (connect from|disconnect from|client=|message-id=|from=<.*nrcpt=|to=<.*status=sent|removed)'
        show_log "$RUN_DIR/source.out" '^$'
        show_log "$RUN_DIR/sink.err" '^$'
        [[ ! -f $RUN_DIR/tern.log ]] || echo "---- tern logged $(grep -a -c 'm="message accepted"' "$RUN_DIR/tern.log" || true) accepted, $(grep -a -c 'm=delivery .*result=delivered' "$RUN_DIR/tern.log" || true) delivered" >&2
        [[ ! -f $RUN_DIR/pf/maillog ]] || echo "---- postfix logged $(grep -a -c 'status=sent' "$RUN_DIR/pf/maillog" || true) delivered" >&2
        [[ ! -f $RUN_DIR/sink.count ]] || echo "---- the sink counted $(sink_count "$RUN_DIR/sink.count")" >&2
    fi
    exit 1
}

show_log() { # file routine-lines-regex
    [[ -s $1 ]] || return 0
    echo "---- $1: the last 20 lines that are not routine" >&2
    grep -a -v -E "$2" "$1" | tail -n 20 >&2 || true
    echo "---- $1: the last 3 lines" >&2
    tail -n 3 "$1" >&2
}

# A port nobody on the machine uses now (racy, but every daemon's start is checked).
free_port() {
    local used p i
    used=$(ss -Htan | awk '{n = split($4, a, ":"); print a[n]}' | sort -u)
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + SRANDOM % 40000))
        grep -qx "$p" <<<"$used" || { echo "$p"; return; }
    done
    fail "no free port found"
}

wait_listening() { # ip port seconds pid
    local deadline=$(($(now_us) + $3 * 1000000))
    until [[ -n $(ss -Htln "src $1 and sport = :$2") ]]; do
        [[ -z $4 ]] || alive "$4" || return 1
        (($(now_us) < deadline)) || return 1
        sleep 0.05
    done
}

# smtp-sink -c writes "sess=N quit=N mesg=N" records separated by \r; the last one counts.
sink_count() {
    local s
    s=$(tail -c 120 "$1" 2>/dev/null || true)
    if [[ $s =~ .*mesg=([0-9]+) ]]; then echo "${BASH_REMATCH[1]}"; else echo 0; fi
}

# CPU and memory of a process (pid MODE) or of every process in a session (session MODE):
# prints "cpu_ns vmhwm_kib pss_kib processes".
# pid MODE (Tern: one multi-threaded process): utime+stime+cutime+cstime of /proc/PID/stat.
# session MODE (Postfix: single-threaded processes): each live process's own run time from
# /proc/PID/schedstat (nanoseconds), plus cutime+cstime, the time of the children it has reaped.
# Not utime+stime there: /proc truncates each to clock ticks per process and field, which over
# ~70 processes lost ~6 % of Postfix's CPU compared with a cpuacct cgroup around it; schedstat
# matched the cgroup. Falls back to utime+stime when schedstat is missing.
proc_sample() {
    local mode=$1 id=$2
    {
        if [[ $mode == pid ]]; then cat "/proc/$id/stat" 2>/dev/null || true; else cat /proc/[0-9]*/stat 2>/dev/null || true; fi
    } | awk -v mode="$mode" -v id="$id" -v hz="$HZ" '
        function value(file, key,   l, a, v) {
            v = 0
            while ((getline l < file) > 0) { split(l, a, " "); if (a[1] == key) { v = a[2]; break } }
            close(file)
            return v
        }
        {
            pid = $1; rest = $0; sub(/^.*\) /, "", rest); split(rest, f, " ")
            # f[k] is field k+2 of proc(5): f[4] session, f[12..15] utime stime cutime cstime
            if ((mode == "pid" && pid == id) || (mode == "session" && f[4] == id)) {
                pids[++n] = pid; own[pid] = f[12] + f[13]; reaped[pid] = f[14] + f[15]
            }
        }
        END {
            for (i = 1; i <= n; i++) {
                p = pids[i]; run = -1
                if (mode == "session" && (getline l < ("/proc/" p "/schedstat")) > 0) { split(l, a, " "); run = a[1] }
                close("/proc/" p "/schedstat")
                ns += (run >= 0 ? run : own[p] * 1e9 / hz) + reaped[p] * 1e9 / hz
                hwm += value("/proc/" p "/status", "VmHWM:")
                pss += value("/proc/" p "/smaps_rollup", "Pss:")
            }
            printf "%.0f %.0f %.0f %d\n", ns, hwm, pss, n
        }'
}

# The machine's aggregate CPU line: "total idle+iowait steal" in ticks.
machine_cpu() { awk '/^cpu / {t = 0; for (i = 2; i <= 9; i++) t += $i; print t, $5 + $6, $9; exit}' /proc/stat; }

# ---------------------------------------------------------------------------------------------
start_sink() { # dir -> sets SINK_PID, SINK_PORT
    local dir=$1 i
    for i in 1 2 3; do
        SINK_PORT=$(free_port)
        smtp-sink -u nobody -c "$SINK_IP:$SINK_PORT" 1024 >"$dir/sink.count" 2>"$dir/sink.err" &
        SINK_PID=$!
        wait_listening "$SINK_IP" "$SINK_PORT" 5 "$SINK_PID" && return 0
        stop_sink
    done
    fail "smtp-sink did not start on $SINK_IP"
}

# [delivery] keys that only some Tern versions know: written when set, left out (with a note) once
# `tern config check` calls them unknown. poll_interval belongs to the interim delivery loop
# (see --tern-poll); max_connections, the per-destination connection limit of the delivery
# scheduler, is Postfix's default_destination_concurrency_limit.
declare -A TERN_OPTIONAL=([max_connections]=$CONCURRENCY)
[[ -z $TERN_POLL ]] || TERN_OPTIONAL[poll_interval]="\"$TERN_POLL\""

write_tern_conf() { # dir http-port
    local dir=$1 http=$2 key optional=""
    for key in "${!TERN_OPTIONAL[@]}"; do optional+="$key = ${TERN_OPTIONAL[$key]}"$'\n'; done
    cat >"$TERN_CONF" <<EOF
# generated by bench/compare-postfix.sh
hostname = "tern.bench.test"
data_dir = "$dir/data"

[log]
level = "info"      # one line per accepted and per delivered message, like Postfix's maillog

[http]
listen = "127.0.0.1:$http"

[relay]
networks = ["127.0.0.0/8"]   # smtp-source relays without AUTH, as from Postfix's mynetworks

[smtp]
max_connections_per_ip = $((SESSIONS + 100))

[delivery]
enabled = true
direct_port = $SINK_PORT     # b@[$SINK_IP] is delivered directly, to the sink's port
concurrency = $CONCURRENCY
$optional
[listeners.relay]
kind = "relay"
address = "$SERVER_IP:$PORT"
EOF
}

start_tern() { # dir -> sets TERN_PID, PORT, TERN_CONF
    local dir=$1 http key
    PORT=$(free_port)
    http=$(free_port)
    TERN_CONF=$dir/tern.toml
    write_tern_conf "$dir" "$http"
    if ! "$TERN" config check -c "$TERN_CONF" >"$dir/config-check.out" 2>&1; then
        for key in "${!TERN_OPTIONAL[@]}"; do
            if grep -q "delivery.$key: unknown key" "$dir/config-check.out"; then
                log "this Tern has no delivery.$key: left out from now on"
                unset "TERN_OPTIONAL[$key]"
                [[ $key != poll_interval ]] || TERN_POLL=""
            fi
        done
        write_tern_conf "$dir" "$http"
        "$TERN" config check -c "$TERN_CONF" >"$dir/config-check.out" 2>&1 ||
            { cat "$dir/config-check.out" >&2; fail "tern config check refused the generated configuration"; }
    fi
    "$TERN" serve -c "$TERN_CONF" >"$dir/tern.log" 2>&1 &
    TERN_PID=$!
    wait_listening "$SERVER_IP" "$PORT" 30 "$TERN_PID" || fail "tern did not listen on $SERVER_IP:$PORT"
}

start_postfix() { # dir -> sets PF_ETC, PF_MASTER, PORT
    local dir=$1 p=$1/pf
    PORT=$(free_port)
    mkdir -p "$p/etc" "$p/spool" "$p/data"
    chown postfix "$p/data"
    # The recipe of performance.md ("A private Postfix on loopback"); fsync and everything else
    # not named here as shipped.
    cat >"$p/etc/main.cf" <<EOF
# generated by bench/compare-postfix.sh
compatibility_level = 3.6
queue_directory = $p/spool
data_directory = $p/data
myhostname = postfix.bench.test
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [$SINK_IP]:$SINK_PORT
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
smtpd_tls_security_level = none
smtp_tls_security_level = none
maillog_file = $p/maillog
maillog_file_prefixes = /var, /dev/stdout, $p
default_process_limit = $((SESSIONS + CONCURRENCY + 60))
default_destination_concurrency_limit = $CONCURRENCY
EOF
    # Debian's master.cf without comments up to postlog, nothing chrooted, smtpd on our port.
    sed -e '/^#/d' -e '/^postlog/q' /usr/share/postfix/master.cf.dist | awk -v listen="$SERVER_IP:$PORT" '
        /^smtp[ \t]+inet/ { print listen " inet n - n - - smtpd"; next }
        /^[a-z]/ && NF >= 8 { $5 = "n" }
        { print }' >"$p/etc/master.cf"
    PF_ETC=$p/etc
    # No /dev/log here: postfix prints its errors only to a tty, hence script(1).
    timeout 60 script -qec "postfix -c '$p/etc' start" /dev/null >"$dir/postfix-start.out" 2>&1 ||
        { cat "$dir/postfix-start.out" >&2; fail "postfix start failed"; }
    PF_MASTER=$(tr -d ' \n' <"$p/spool/pid/master.pid")
    wait_listening "$SERVER_IP" "$PORT" 30 "$PF_MASTER" || fail "postfix did not listen on $SERVER_IP:$PORT"
}

# Server CPU and memory. Tern is one process. Postfix is a master(8) that is a session leader
# (setsid) and its children in that session (smtpd, cleanup, qmgr, smtp, trivial-rewrite, ...):
# the sum over every live process of the session of utime+stime+cutime+cstime is the CPU of every
# Postfix process alive now plus every one that has exited, because master reaps its children and
# their time then lands in master's cutime/cstime (Postfix daemons fork no children of their own
# in this setup). Sampling before the load and again once the sink has counted N (all processes
# still alive and idle, so no exit races with the scan) and taking the difference gives the CPU
# spent on the workload; start-up (postfix-script, postsuper, Tern's own start) is left out for
# both. The helpers 'postfix start' runs outside the session are start-up only.
server_sample() { # system
    if [[ $1 == tern ]]; then proc_sample pid "$TERN_PID"; else proc_sample session "$PF_MASTER"; fi
}

queue_left() { # system -> messages still queued
    if [[ $1 == tern ]]; then
        local s
        s=$("$TERN" queue status --json -c "$TERN_CONF" 2>&1) || fail "tern queue status failed: $s"
        echo "$s" >"$RUN_DIR/queue-status.json"
        [[ $s =~ \"queued\":([0-9]+) ]] || fail "unexpected tern queue status: $s"
        echo "${BASH_REMATCH[1]}"
    else
        find "$RUN_DIR/pf/spool/"{maildrop,incoming,active,deferred,hold} -type f | wc -l
    fi
}

# Log lines that are not routine: warnings and errors, and deliveries that did not succeed.
problems() { # system -> prints the lines
    if [[ $1 == tern ]]; then
        grep -a -E 'l=(warn|error)|m=delivery .*result=' "$RUN_DIR/tern.log" |
            grep -a -v -e 'result=delivered' -e 'generated a self-signed certificate' || true
    else
        grep -a -E 'warning:|error:|fatal:|panic:|status=' "$RUN_DIR/pf/maillog" | grep -a -v 'status=sent' || true
    fi
}

settle() { # before each measured run: the previous run's writes on disk, so that neither system pays for the other's
    local i dirty
    sync
    for ((i = 0; i < 100; i++)); do
        dirty=$(awk '/^(Dirty|Writeback):/ {s += $2} END {print s + 0}' /proc/meminfo)
        ((dirty <= 4096)) && break
        sleep 0.1
    done
    sleep 1
}

run_one() { # run system
    local run=$1 sys=$2 c0 c1 h1 p1 n1 a b n m0 m1 i0 i1 s0 s1 t0 t1 t2 got deadline left probs load0 load1
    RUN_DIR=$T/run$run-$sys
    mkdir -p "$RUN_DIR"
    settle
    start_sink "$RUN_DIR"
    if [[ $sys == tern ]]; then start_tern "$RUN_DIR"; else start_postfix "$RUN_DIR"; fi
    local src=(smtp-source -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" -f "$SENDER" -t "$RCPT" "$SERVER_IP:$PORT")
    ((REUSE)) && src=(smtp-source -d "${src[@]:1}")
    if [[ $LOADER == tern-load ]]; then
        # Recipients u<N>@[127.0.0.2]; one connection per session for the whole run (as -d), or one per message.
        # shellcheck disable=SC2206
        src=("$TERN_LOAD" send --target "$SERVER_IP:$PORT" --sessions "$SESSIONS" --messages "$MESSAGES" --size "$SIZE"
            --from "$SENDER" --rcpt-domains "[$SINK_IP]" --per-connection $((REUSE ? 0 : 1)) --timeout 120s
            --json "$RUN_DIR/load.json" --fail-on-error $LOAD_ARGS)
    fi

    read -r load0 _ </proc/loadavg
    read -r c0 _ < <(server_sample "$sys")
    read -r m0 i0 s0 < <(machine_cpu)
    t0=$(now_us)
    timeout -s KILL "$TIMEOUT_S" "${src[@]}" >"$RUN_DIR/source.out" 2>&1 ||
        fail "$LOADER failed or took over $TIMEOUT_S s (exit $?): $(tail -c 800 "$RUN_DIR/source.out")"
    t1=$(now_us)
    # smtp-source says nothing when all went well; tern-load prints its summary (exit 0 = every message 2xx).
    [[ $LOADER == tern-load || ! -s $RUN_DIR/source.out ]] || fail "smtp-source reported problems: $(head -c 500 "$RUN_DIR/source.out")"
    local p50=- p99=-
    if [[ $LOADER == tern-load ]]; then
        read -r p50 p99 < <(python3 -c 'import json,sys; l=json.load(open(sys.argv[1]))["latency_ms"]; print(l["p50"], l["p99"])' "$RUN_DIR/load.json") ||
            fail "cannot read the latency from $RUN_DIR/load.json"
    fi
    read -r _ h1 p1 n1 < <(server_sample "$sys") # memory now, when most processes have done most work

    # Delivery: poll the sink's counter, bounded.
    deadline=$((t1 + TIMEOUT_S * 1000000))
    while :; do
        got=$(sink_count "$RUN_DIR/sink.count")
        ((got < MESSAGES)) || break
        (($(now_us) < deadline)) || fail "the sink counted $got of $MESSAGES messages $TIMEOUT_S s after acceptance ended (queue: $(queue_left "$sys" 2>/dev/null || echo '?') left)"
        sleep 0.05
    done
    t2=$(now_us)

    read -r c1 a b n < <(server_sample "$sys")
    ((a > h1)) && h1=$a # the larger of the two samples of the summed peaks
    p1=$b n1=$n
    read -r m1 i1 s1 < <(machine_cpu)
    read -r load1 _ </proc/loadavg
    # Anything extra (duplicates, bounces to the sender) would arrive right behind.
    sleep 0.5
    got=$(sink_count "$RUN_DIR/sink.count")
    ((got == MESSAGES)) || fail "the sink counted $got messages, expected $MESSAGES"
    left=$(queue_left "$sys")
    ((left == 0)) || fail "$left messages still queued after the sink counted all $MESSAGES"
    probs=$(problems "$sys")
    if [[ $sys == postfix ]]; then
        local sent
        sent=$(grep -a -c 'status=sent' "$RUN_DIR/pf/maillog" || true)
        ((sent == MESSAGES)) || fail "postfix logged $sent deliveries, expected $MESSAGES"
    else
        local delivered
        delivered=$(grep -a -c 'm=delivery .*result=delivered' "$RUN_DIR/tern.log" || true)
        ((delivered == MESSAGES)) || fail "tern logged $delivered deliveries, expected $MESSAGES"
    fi
    if [[ -n $probs ]]; then
        printf '%s\n' "$probs" >"$RUN_DIR/problems.txt"
        log "run $run $sys: $(wc -l <"$RUN_DIR/problems.txt") warning/error lines in the log (first 5):"
        head -n 5 "$RUN_DIR/problems.txt" >&2
    fi

    if [[ $sys == tern ]]; then stop_tern; else stop_postfix; fi
    stop_sink

    # The machine over the whole measured interval (t0..t2): steal share and busy cores; the
    # server's share of those cores tells how much else ran meanwhile.
    awk -v run="$run" -v sys="$sys" -v n="$MESSAGES" -v t0="$t0" -v t1="$t1" -v t2="$t2" \
        -v c="$((c1 - c0))" -v hz="$HZ" -v hwm="$h1" -v pss="$p1" -v procs="$n1" \
        -v dm="$((m1 - m0))" -v di="$((i1 - i0))" -v ds="$((s1 - s0))" -v l0="$load0" -v l1="$load1" \
        -v probs="$(printf '%s' "$probs" | grep -c . || true)" -v p50="$p50" -v p99="$p99" '
        BEGIN {
            acc = (t1 - t0) / 1e6; e2e = (t2 - t0) / 1e6; cpu = c / 1e9
            steal = dm > 0 ? 100 * ds / dm : 0
            busy = (dm - di - ds) / hz / e2e
            printf "%d\t%s\t%.3f\t%.3f\t%.1f\t%.1f\t%.4f\t%.3f\t%.1f\t%.1f\t%d\t%.2f\t%.2f\t%.1f\t%.2f\t%.2f\t%d\t%s\t%s\n", \
                run, sys, acc, e2e, n / acc, n / e2e, 1000 * cpu / n, cpu, hwm / 1024, pss / 1024, procs, \
                l0, l1, steal, busy, cpu / e2e, probs, p50, p99
        }' >>"$RESULTS"
    tail -n 1 "$RESULTS" | awk -F'\t' -v runs="$RUNS" '{
        printf "run %d/%d %-7s accepted %.0f msg/s (%.1f s), end to end %.0f msg/s (%.1f s), CPU %.3f ms/msg (%.1f s), peak RSS %.0f MiB, PSS %.0f MiB (%d processes); load %.2f->%.2f, steal %.1f %%, machine busy %.2f cores of which server %.2f; %d log problems\n",
            $1, runs, $2, $5, $3, $6, $4, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17 }' >&2
    RUN_DIR=""
}

# ---------------------------------------------------------------------------------------------
summarise() { # prints the table; writes $JSON
    awk -F'\t' -v json="$JSON" -v date="$(date -u -d "@${STARTED%.*}" +%Y-%m-%dT%H:%M:%SZ)" -v host="$(hostname)" -v cpus="$(nproc)" \
        -v messages="$MESSAGES" -v sessions="$SESSIONS" -v size="$SIZE" -v runs="$RUNS" -v reuse="$REUSE" \
        -v concurrency="$CONCURRENCY" -v poll="$TERN_POLL" -v loader="$LOADER" -v loadargs="$LOAD_ARGS" -v tern="$("$TERN" version 2>/dev/null | head -n 1)" \
        -v postfix="$(postconf -dh mail_version 2>/dev/null)" '
        function stats(sys, k,   m, i, j, v, x) {
            m = cnt[sys, k]
            for (i = 1; i <= m; i++) v[i] = val[sys, k, i]
            for (i = 2; i <= m; i++) { x = v[i]; for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
            lo[sys, k] = v[1]; hi[sys, k] = v[m]
            med[sys, k] = m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
        }
        function cell(sys, k) {
            if (!cnt[sys, k]) return "-"
            return sprintf(fmt[k] " / " fmt[k] " / " fmt[k], lo[sys, k], med[sys, k], hi[sys, k])
        }
        function jstats(sys, k) {
            if (!cnt[sys, k]) return "null"
            return sprintf("{\"min\": %s, \"median\": %s, \"max\": %s}", lo[sys, k] + 0, med[sys, k] + 0, hi[sys, k] + 0)
        }
        BEGIN {
            nk = split("5 6 7 9 10 18 19 14", col, " ")
            split("accepted_msg_per_s end_to_end_msg_per_s cpu_ms_per_msg peak_rss_mib pss_mib latency_p50_ms latency_p99_ms steal_pct", key, " ")
            split("accepted msg/s|end-to-end msg/s|CPU ms/msg|peak RSS MiB (Postfix: sum of VmHWM)|PSS MiB at end|DATA end -> 250 p50 ms (tern-load)|DATA end -> 250 p99 ms (tern-load)|steal % (hypervisor; no ratio)", label, "|")
            split("%.0f %.0f %.3f %.1f %.1f %.2f %.2f %.1f", f, " ")
            # Steal: the share of CPU time the hypervisor took during a run. How noisy the run was, not a result.
            noratio[8] = 1
            for (i = 1; i <= nk; i++) fmt[i] = f[i]
            nsys = split("postfix tern", sysname, " ")
        }
        {
            for (i = 1; i <= nk; i++) if ($(col[i]) != "-" && $(col[i]) != "") val[$2, i, ++cnt[$2, i]] = $(col[i])
            line[++nl] = sprintf("{\"run\": %d, \"system\": \"%s\", \"accept_s\": %s, \"end_to_end_s\": %s, \"accepted_msg_per_s\": %s, \"end_to_end_msg_per_s\": %s, \"cpu_ms_per_msg\": %s, \"cpu_s\": %s, \"peak_rss_mib\": %s, \"pss_mib\": %s, \"processes\": %d, \"loadavg_start\": %s, \"loadavg_end\": %s, \"steal_pct\": %s, \"machine_busy_cores\": %s, \"server_cores\": %s, \"log_problems\": %d, \"latency_p50_ms\": %s, \"latency_p99_ms\": %s}",
                $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, ($18 == "-" ? "null" : $18), ($19 == "-" ? "null" : $19))
        }
        END {
            for (s = 1; s <= nsys; s++) for (i = 1; i <= nk; i++) if (cnt[sysname[s], i]) stats(sysname[s], i)
            printf "\n%-38s | %-27s | %-27s | %s\n", "metric", "postfix min / median / max", "tern min / median / max", "tern/postfix (median)"
            printf "%s\n", "---------------------------------------|-----------------------------|-----------------------------|----------------------"
            for (i = 1; i <= nk; i++) {
                r = (!noratio[i] && cnt["postfix", i] && cnt["tern", i] && med["postfix", i] > 0) ? sprintf("%.2f", med["tern", i] / med["postfix", i]) : "-"
                ratio[i] = r
                printf "%-38s | %-27s | %-27s | %s\n", label[i], cell("postfix", i), cell("tern", i), r
            }
            printf "{\n  \"date\": \"%s\", \"host\": \"%s\", \"cpus\": %d,\n", date, host, cpus > json
            printf "  \"tern\": \"%s\", \"postfix\": \"%s\",\n", tern, postfix > json
            printf "  \"flags\": {\"messages\": %d, \"sessions\": %d, \"size\": %d, \"runs\": %d, \"reuse\": %s, \"concurrency\": %d, \"tern_poll_interval\": \"%s\", \"loader\": \"%s\", \"load_args\": \"%s\"},\n", \
                messages, sessions, size, runs, (reuse ? "true" : "false"), concurrency, poll, loader, loadargs > json
            printf "  \"runs\": [\n" > json
            for (i = 1; i <= nl; i++) printf "    %s%s\n", line[i], (i < nl ? "," : "") > json
            printf "  ],\n  \"summary\": {\n" > json
            for (s = 1; s <= nsys; s++) {
                printf "    \"%s\": {", sysname[s] > json
                for (i = 1; i <= nk; i++) printf "\"%s\": %s%s", key[i], jstats(sysname[s], i), (i < nk ? ", " : "") > json
                printf "}%s\n", (s < nsys ? "," : "") > json
            }
            printf "  },\n  \"ratio_tern_over_postfix_median\": {" > json
            for (i = 1; i <= nk; i++) printf "\"%s\": %s%s", key[i], (ratio[i] == "-" ? "null" : ratio[i]), (i < nk ? ", " : "") > json
            printf "}\n}\n" > json
        }' "$RESULTS"
}

systems=(postfix tern)
[[ -z $ONLY ]] || systems=("$ONLY")
log "Tern: $TERN ($("$TERN" version 2>/dev/null | head -n 1)); Postfix $(postconf -dh mail_version)"
log "workload: $MESSAGES messages x $SIZE bytes, $SESSIONS sessions, reuse=$REUSE, outbound concurrency $CONCURRENCY, Tern poll_interval ${TERN_POLL:-default}, $RUNS run(s) of ${systems[*]}; each phase times out after $TIMEOUT_S s; work dir $T"
for ((r = 1; r <= RUNS; r++)); do
    order=("${systems[@]}")
    if ((${#systems[@]} == 2 && r % 2 == 0)); then order=("${systems[1]}" "${systems[0]}"); fi
    for sys in "${order[@]}"; do
        run_one "$r" "$sys"
    done
done
summarise
echo
echo "machine: $(nproc) CPUs, load average now $(cut -d' ' -f1-3 /proc/loadavg); per-run steal and load above"
echo "results: $JSON (per run: $RESULTS$( ((KEEP)) || echo ', removed with the work dir'))"
