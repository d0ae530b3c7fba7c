#!/usr/bin/env bash
# The Tern vs Postfix matrix of issue #9 in one command: bench/compare-postfix.sh for every
# message size (1, 10, 100 KiB), number of sessions (1, 20, 100) and loader (smtp-source -d, and
# tern-load send with pipelining), then one Markdown table of the medians and Tern/Postfix ratios
# (bench/RESULTS.md by default). Needs what compare-postfix.sh needs (root, Postfix's tools,
# out/tern and out/tern-load). Builds nothing.
set -euo pipefail
export LC_ALL=C

usage() {
    cat <<'EOF'
usage: bench/compare-matrix.sh [options]
  --runs R          runs per cell, alternating Postfix and Tern (2)
  --scale F         multiply every cell's message count by F (1; 0.1 for a smoke run)
  --sizes "LIST"    message sizes in bytes ("1024 10240 102400")
  --sessions "LIST" sessions ("1 20 100")
  --loaders "LIST"  loaders ("smtp-source tern-load")
  --out FILE        the Markdown results (bench/RESULTS.md)
  --dir DIR         where the per-cell JSON and logs go (a new directory under /var/tmp)
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=2 SCALE=1 SIZES="1024 10240 102400" SESSIONS="1 20 100" LOADERS="smtp-source tern-load"
OUT="$ROOT/bench/RESULTS.md" DIR=""
while (($#)); do
    case $1 in
        --runs) RUNS=$2; shift ;;
        --scale) SCALE=$2; shift ;;
        --sizes) SIZES=$2; shift ;;
        --sessions) SESSIONS=$2; shift ;;
        --loaders) LOADERS=$2; shift ;;
        --out) OUT=$2; shift ;;
        --dir) DIR=$2; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "compare-matrix: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "compare-matrix: --runs must be a positive integer" >&2; exit 2; }
[[ $SCALE =~ ^[0-9]*\.?[0-9]+$ ]] || { echo "compare-matrix: --scale must be a positive number" >&2; exit 2; }
[[ -n $DIR ]] || DIR=$(mktemp -d /var/tmp/compare-matrix.XXXXXX)
mkdir -p "$DIR"

# Messages per cell: enough for several seconds of Postfix at that size and concurrency, few enough
# that the whole matrix stays within about half an hour on 2 cores (Postfix: ~600 msg/s at 20
# sessions and 1 KiB, ~150 msg/s with one session).
messages_for() { # size sessions
    local n
    case $1 in 1024) n=10000 ;; 10240) n=6000 ;; *) n=2000 ;; esac
    (($2 > 1)) || n=$((n / 5))
    awk -v n="$n" -v f="$SCALE" 'BEGIN { m = int(n * f); print (m < 50 ? 50 : m) }'
}

STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
failed=()
for loader in $LOADERS; do
    for size in $SIZES; do
        for sessions in $SESSIONS; do
            cell="$loader-$size-$sessions"
            n=$(messages_for "$size" "$sessions")
            echo "$(date -u +%H:%M:%S) cell $cell: $n messages x $RUNS runs" >&2
            if ! bash "$ROOT/bench/compare-postfix.sh" --messages "$n" --runs "$RUNS" --size "$size" --sessions "$sessions" \
                --loader "$loader" --json "$DIR/$cell.json" >"$DIR/$cell.log" 2>&1; then
                echo "$(date -u +%H:%M:%S) cell $cell FAILED (log: $DIR/$cell.log)" >&2
                tail -n 5 "$DIR/$cell.log" >&2
                failed+=("$cell")
            fi
        done
    done
done

python3 - "$DIR" "$OUT" "$STARTED" "$RUNS" "$SCALE" "${failed[*]:-}" <<'EOF'
import glob, json, os, subprocess, sys
d, out, started, runs, scale, failed = sys.argv[1:7]
cells = []
for path in sorted(glob.glob(os.path.join(d, '*.json'))):
    with open(path) as f:
        cells.append(json.load(f))
def med(c, sys_, key):
    v = c['summary'].get(sys_, {}).get(key)
    return None if v is None else v['median']
def fmt(v, spec):
    return '-' if v is None else format(v, spec)
def ratio(c, key):
    t, p = med(c, 'tern', key), med(c, 'postfix', key)
    return '-' if t is None or not p else f'{t / p:.2f}'
order = {'smtp-source': 0, 'tern-load': 1}
cells.sort(key=lambda c: (order.get(c['flags'].get('loader', 'smtp-source'), 9), c['flags']['size'], c['flags']['sessions']))
first = cells[0] if cells else {}
lines = [
    '# Tern vs Postfix: results',
    '',
    f'Measured {started} with `bench/compare-matrix.sh --runs {runs}' + (f' --scale {scale}' if scale != '1' else '') + '` '
    f'(each cell is one `bench/compare-postfix.sh` run: the method, what each figure means and how CPU and memory are '
    f'counted are in `bench/README.md`, "Tern vs Postfix, end to end").',
    f'Machine: {first.get("host", "?")}, {first.get("cpus", "?")} CPUs; {first.get("tern", "?")}; Postfix {first.get("postfix", "?")}. '
    'Medians over the runs of each cell (min/median/max per run are in the per-cell JSON); ratios are Tern / Postfix. '
    'Every cell checks for loss: the sink counted exactly N, both queues empty, N deliveries logged.',
    '',
    '| loader | size | sessions | msgs | Postfix accepted/s | Tern accepted/s | ratio | Postfix e2e/s | Tern e2e/s | ratio | Postfix CPU ms/msg | Tern CPU ms/msg | ratio | Postfix PSS MiB | Tern peak RSS MiB | Postfix p50/p99 ms | Tern p50/p99 ms |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|',
]
for c in cells:
    fl = c['flags']
    lat = lambda s: '-' if med(c, s, 'latency_p50_ms') is None else f"{med(c, s, 'latency_p50_ms'):.2f} / {med(c, s, 'latency_p99_ms'):.2f}"
    lines.append('| {} | {} KiB | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |'.format(
        fl.get('loader', 'smtp-source'), fl['size'] // 1024, fl['sessions'], fl['messages'],
        fmt(med(c, 'postfix', 'accepted_msg_per_s'), '.0f'), fmt(med(c, 'tern', 'accepted_msg_per_s'), '.0f'), ratio(c, 'accepted_msg_per_s'),
        fmt(med(c, 'postfix', 'end_to_end_msg_per_s'), '.0f'), fmt(med(c, 'tern', 'end_to_end_msg_per_s'), '.0f'), ratio(c, 'end_to_end_msg_per_s'),
        fmt(med(c, 'postfix', 'cpu_ms_per_msg'), '.3f'), fmt(med(c, 'tern', 'cpu_ms_per_msg'), '.3f'), ratio(c, 'cpu_ms_per_msg'),
        fmt(med(c, 'postfix', 'pss_mib'), '.0f'), fmt(med(c, 'tern', 'peak_rss_mib'), '.0f'), lat('postfix'), lat('tern')))
if failed:
    lines += ['', f'Cells that failed (no figures): {failed}. Their logs were in `{d}`.']
lines += ['', 'Command per cell: `bench/compare-postfix.sh --messages N --runs R --size S --sessions C --loader L` '
          '(smtp-source runs with `-d`, one connection per session; tern-load with PIPELINING, one connection per session).', '']
with open(out, 'w') as f:
    f.write('\n'.join(lines))
print(f'wrote {out} ({len(cells)} cells)')
EOF
((${#failed[@]} == 0)) || exit 1
