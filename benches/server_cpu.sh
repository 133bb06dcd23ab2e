#!/usr/bin/env bash
# Throughput and server CPU per request, servers side by side: each round
# starts every server command in turn on one port, runs `inferd bench`
# against it (closed loop, CONC connections, DUR seconds), and prints its
# req/s, the server's CPU microseconds per request (user + system, all its
# threads, from /proc), the load generator's, the server's context
# switches per request, and the whole machine's busy and idle CPU
# microseconds per request (/proc/stat: busy takes in what neither process
# is charged for, such as the kernel writing a log file back to disk; idle
# is CPU the pipeline left unused). CPU per request moves far less than
# req/s on this shared VM; compare within a round. At the end: each
# server's medians, and the median of its per-round ratios to the first
# server with a bootstrap 95% interval.
#
#   benches/server_cpu.sh ROUNDS 'COMMAND' ['COMMAND' ...]
#   benches/server_cpu.sh 6 \
#     'target/release/inferd-bare $PORT "[4042.2642,4042.2642]"' \
#     'target/release/inferd serve --port $PORT --model diabetes-ridge --log-format json'
#
# Each COMMAND is run with `eval`, $PORT set. BODY (default: the two-row
# diabetes-ridge body of benches/peers/bodies.py), CONC (64), DUR (5).
# Needs the release binaries (cargo build --release -p inferd -p inferd-bench -p inferd-bare).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=$1; shift
CONC=${CONC:-64}; DUR=${DUR:-5}; PORT=${PORT:-5931}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [[ -z "${BODY:-}" ]]; then
  python3 benches/peers/bodies.py "$work"
  BODY=$work/ridge-aml.json
fi
# The machine's busy ticks (steal included) and idle ones (iowait included).
machine() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6}' /proc/stat; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
switches() { cat /proc/"$1"/task/*/status | awk '/ctxt_switches/ {n += $2} END {print n}'; }
hz=$(getconf CLK_TCK)
echo "round server req/s server_us/req bench_us/req switches/req machine_busy_us/req machine_idle_us/req"
for round in $(seq "$rounds"); do
  index=0
  for command in "$@"; do
    index=$((index + 1))
    eval "exec $command" >/dev/null 2>"$work/server.log" &
    pid=$!
    for _ in $(seq 200); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/ready" && break; sleep 0.05; done
    t0=$(ticks $pid); s0=$(switches $pid); read -r busy0 idle0 < <(machine)
    /usr/bin/time -f "%U %S" -o "$work/bench.time" target/release/inferd-bench \
      --url "http://127.0.0.1:$PORT/score" --body "$BODY" -c "$CONC" -d "$DUR" --warmup 0 \
      >"$work/bench.out" 2>/dev/null
    t1=$(ticks $pid); s1=$(switches $pid); read -r busy1 idle1 < <(machine)
    kill -9 $pid; wait $pid 2>/dev/null || true
    rps=$(awk -v c="$CONC" '$1 == c {print $3}' "$work/bench.out")
    awk -v r="$round" -v i="$index" -v rps="$rps" -v d="$DUR" -v t=$((t1 - t0)) -v hz="$hz" \
        -v b="$(awk '{print $1 + $2}' "$work/bench.time")" -v x=$((s1 - s0)) \
        -v mb=$((busy1 - busy0)) -v mi=$((idle1 - idle0)) \
      'BEGIN {n = rps * d; printf "%d %d %d %.1f %.1f %.3f %.1f %.1f\n", r, i, rps, t * 1e6 / hz / n,
              b * 1e6 / n, x / n, mb * 1e6 / hz / n, mi * 1e6 / hz / n}' |
      tee -a "$work/rounds"
  done
done
# Per server: the medians of req/s, server and machine CPU a request, and
# the median of its per-round ratios to server 1 (each ratio from one
# round: drift hits both sides of it alike) with a bootstrap 95% interval.
echo "summary: server median_req/s median_server_us/req median_busy_us/req median_idle_us/req median_ratio_to_1 interval"
python3 - "$work/rounds" <<'PY'
import random, statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
by_round = {}
for r, i, rps, us, _, _, busy, idle in rows:
    by_round.setdefault(r, {})[i] = (int(rps), float(us), float(busy), float(idle))
servers = sorted({row[1] for row in rows}, key=int)
draw = random.Random(1)
for i in servers:
    got = [round_[i] for round_ in by_round.values() if i in round_]
    ratios = [round_[i][0] / round_["1"][0] for round_ in by_round.values() if i in round_ and "1" in round_]
    medians = sorted(statistics.median(draw.choices(ratios, k=len(ratios))) for _ in range(2000))
    print(i, int(statistics.median(g[0] for g in got)),
          *(f"{statistics.median(g[k] for g in got):.2f}" for k in (1, 2, 3)),
          f"{statistics.median(ratios):.3f}", f"{medians[50]:.3f}-{medians[1949]:.3f}")
PY
