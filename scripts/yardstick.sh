#!/usr/bin/env bash
# Runs the yardstick's matrix (server on CPU 0, load on CPU 1, every echoed byte checked) with
# echod on Node, on Bun and with --workers beside reference servers, in one run.
#
# The yardstick is not part of this repository: it is a separate benchmark directory holding
# matrix.sh (the driver), echoload.c (the load generator, built with gcc on first use) and
# peers/NAME/{build,run} (the reference servers, each built by its own build script, which needs
# that server's toolchain: Go, a C compiler, Bun, Python with uvloop, ...). Point BENCH_DIR at
# it. See docs/performance.md, "Reproducing the figures".
#
#   BENCH_DIR=/path/to/bench scripts/yardstick.sh            # the default workloads and servers
#   WORKLOADS="pingpong64 bulk16k" SECS=5 BENCH_DIR=… scripts/yardstick.sh echod node-fast go-seed
#
# Servers: echod, echod-bun, echod-w2 and echod-bun-w2 (both CPUs: SERVER_CPUS=0,1
# LOAD_CPUS=0,1), echod-w6 (hold100k), and any peer in $BENCH_DIR/peers.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
fail() { echo "yardstick.sh: $*" >&2; exit 2; }

bench=${BENCH_DIR:-$root/../shared/bench}
[[ -x $bench/matrix.sh ]] ||
  fail "no yardstick at $bench (no executable matrix.sh there): set BENCH_DIR to the benchmark directory (matrix.sh, echoload.c, peers/)"
[[ -f $root/dist/cli/main.js ]] || fail "echod is not built ($root/dist is missing): run npm ci (or npm run build) first"
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
for name in "${servers[@]}"; do
  if [[ -n ${spec[$name]:-} ]]; then
    [[ $name != echod-bun* || -x $bun ]] || fail "$name needs Bun at $bun: run npm ci (Bun is a dev dependency)"
    args+=("${spec[$name]}")
  else
    [[ -x $bench/peers/$name/run ]] ||
      fail "unknown server '$name': not one of ${!spec[*]}, and no peer at $bench/peers/$name (BENCH_DIR)"
    args+=("$name")
  fi
done
exec "$bench/matrix.sh" "${args[@]}"
