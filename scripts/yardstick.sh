#!/usr/bin/env bash
# Runs the shared yardstick (matrix.sh: server on CPU 0, load on CPU 1, every byte checked) with
# echod on Node, on Bun and with --workers beside the reference servers, in one run.
#   scripts/yardstick.sh                      # the default workloads, every server
#   WORKLOADS="pingpong64 bulk16k" SECS=5 scripts/yardstick.sh echod node-fast go-seed
# BENCH_DIR points at the yardstick (default ../shared/bench beside this checkout).
# Servers: echod, echod-bun, echod-w2 and echod-bun-w2 (both CPUs: SERVER_CPUS=0,1
# LOAD_CPUS=0,1), echod-w6 (hold100k), and any peer.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bench=${BENCH_DIR:-$root/../shared/bench}
[[ -x $bench/matrix.sh ]] || { echo "no yardstick at $bench (set BENCH_DIR)" >&2; exit 2; }
bun=$root/node_modules/.bin/bun
# hold18k and hold100k need more than the default --max-connections (10,000 per process).
flags="--host 127.0.0.1 --port {PORT} --max-connections 20000"
declare -A spec=(
  [echod]="echod=node $root/bin/echod.js $flags"
  [echod-bun]="echod-bun=$bun $root/bin/echod.js $flags"
  [echod-w2]="echod-w2=node $root/bin/echod.js $flags --workers 2"
  [echod-w6]="echod-w6=node $root/bin/echod.js $flags --workers 6"
  [echod-bun-w2]="echod-bun-w2=$bun $root/bin/echod.js $flags --workers 2"
)
servers=("$@")
((${#servers[@]})) || servers=(c-epoll go-seed node-fast bun-fast uvloop-lines echod echod-bun)
args=()
for name in "${servers[@]}"; do args+=("${spec[$name]:-$name}"); done
exec "$bench/matrix.sh" "${args[@]}"
