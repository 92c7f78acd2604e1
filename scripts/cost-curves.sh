#!/usr/bin/env bash
# Cost curves: msgs/s and server CPU per echoed message as connections grow (50 -> 1,000 ->
# 10,000; one 64-byte line in flight each) and as the line grows (64 B -> 64 KiB; 50
# connections, one line in flight each). Server on CPU 0, load on CPU 1, every byte checked by
# echoload, the yardstick's load generator.
#
# The yardstick is not part of this repository (see scripts/yardstick.sh and
# docs/performance.md): this script needs echoload, either built (ECHOLOAD=/path/to/echoload) or
# compiled from $BENCH_DIR/echoload.c with gcc, and, for any server other than echod and
# echod-bun, the reference server's peers/NAME/{build,run} in $BENCH_DIR.
#   BENCH_DIR=/path/to/bench scripts/cost-curves.sh          # echod on Node and Bun, node-fast, go-seed
#   ECHOLOAD=/path/to/echoload scripts/cost-curves.sh echod echod-bun   # no reference server needed
#   SECS=5 BENCH_DIR=… scripts/cost-curves.sh echod c-epoll  # any of the yardstick's peers by name
# Prints two markdown tables (docs/performance.md); loads only ever target 127.0.0.1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
fail() { echo "cost-curves.sh: $*" >&2; exit 2; }
bench=${BENCH_DIR:-$root/../shared/bench}
secs=${SECS:-3}
bun=$root/node_modules/.bin/bun
flags="--host 127.0.0.1 --max-connections 20000 --port"
declare -A command=(
  [echod]="node $root/bin/echod.js $flags"
  [echod-bun]="$bun $root/bin/echod.js $flags"
)
servers=("$@")
((${#servers[@]})) || servers=(echod echod-bun node-fast go-seed)

# Everything the run needs, checked before anything starts: one line saying what is missing.
command -v taskset >/dev/null || fail "taskset is missing (util-linux): it pins the server and the load to their CPUs"
[[ -f $root/dist/cli/main.js ]] || fail "echod is not built ($root/dist is missing): run npm ci (or npm run build) first"
if [[ -n ${ECHOLOAD:-} ]]; then
  load=$ECHOLOAD
  [[ -x $load ]] || fail "ECHOLOAD=$load is not an executable echoload"
else
  load=${TMPDIR:-/tmp}/echoload
  if [[ ! -x $load || ( -f $bench/echoload.c && $bench/echoload.c -nt $load ) ]]; then
    [[ -f $bench/echoload.c ]] ||
      fail "no load generator: set ECHOLOAD to a built echoload, or BENCH_DIR to the yardstick directory holding echoload.c (now $bench)"
    command -v gcc >/dev/null || fail "gcc is missing: it builds echoload from $bench/echoload.c (or set ECHOLOAD to a built one)"
    gcc -O2 -o "$load" "$bench/echoload.c" || fail "could not build echoload from $bench/echoload.c"
  fi
fi
for name in "${servers[@]}"; do
  if [[ -n ${command[$name]:-} ]]; then
    [[ $name != echod-bun || -x $bun ]] || fail "echod-bun needs Bun at $bun: run npm ci (Bun is a dev dependency)"
  else
    [[ -x $bench/peers/$name/build && -x $bench/peers/$name/run ]] ||
      fail "unknown server '$name': not echod or echod-bun, and no reference server at $bench/peers/$name (set BENCH_DIR)"
  fi
done
ulimit -n 20000
port=$((21000 + RANDOM % 2000))

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user+sys clock ticks of one process
tree_ticks() { # the process and its children (a peer's run script may fork)
  local total=0 p
  for p in $1 $(pgrep -P "$1" || true); do total=$((total + $(ticks "$p" 2>/dev/null || echo 0))); done
  echo "$total"
}

# measure SERVER CONNS SIZE -> "msgs/s cpu_us_per_msg"
measure() {
  local name=$1 conns=$2 size=$3 cmd pid out c0 c1 total rate
  port=$((port + 1))
  if [[ -n ${command[$name]:-} ]]; then cmd="${command[$name]} $port"
  else "$bench/peers/$name/build" >/dev/null; cmd="$bench/peers/$name/run $port"; fi
  taskset -c 0 bash -c "exec $cmd" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  c0=$(tree_ticks $pid)
  out=$(taskset -c 1 "$load" -p $port -c "$conns" -d 1 -s "$size" -t "$secs" -w 1 2>/dev/null | sed -n 's/^json: //p')
  c1=$(tree_ticks $pid)
  pkill -P $pid 2>/dev/null || true
  kill $pid 2>/dev/null || true
  wait $pid 2>/dev/null || true
  total=$(sed -n 's/.*"total":\([0-9]*\).*/\1/p' <<<"$out")
  rate=$(sed -n 's/.*"msgs_per_s":\([0-9.]*\).*/\1/p' <<<"$out")
  if [[ -z $total || $total == 0 || $out == *'"errors_mismatch":'[1-9]* ]]; then echo "failed -"; return; fi
  awk -v r="$rate" -v a="$c0" -v b="$c1" -v n="$total" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%d %.2f\n", r, (b - a) * 1e6 / hz / n }'
}

table() { # title axis values...
  local title=$1 axis=$2; shift 2
  local values=("$@") header="| server |" rule="|---|" v r
  for v in "${values[@]}"; do header+=" $v |"; rule+="---|"; done
  echo; echo "$title (msgs/s / server CPU µs per message)"; echo; echo "$header"; echo "$rule"
  for name in "${servers[@]}"; do
    local row="| $name |"
    for v in "${values[@]}"; do
      if [[ $axis == conns ]]; then read -ra r <<<"$(measure "$name" "$v" 64)"; else read -ra r <<<"$(measure "$name" 50 "$v")"; fi
      if [[ ${r[0]} =~ ^[0-9]+$ ]]; then row+=" $(printf "%'d" "${r[0]}") / ${r[1]} |"; else row+=" ${r[0]} / ${r[1]} |"; fi
    done
    echo "$row"
  done
}

table "Connections (64-byte lines, one in flight per connection)" conns 50 1000 10000
table "Line size (50 connections, one line in flight each)" size 64 1024 16384 65536
