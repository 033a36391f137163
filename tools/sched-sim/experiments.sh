#!/usr/bin/env bash
# tools/sched-sim/experiments.sh: every sched-sim run docs/scheduler.md quotes,
# in order. The tables are deterministic for a given seed except the
# host-ns/pick column (wall time on this machine).
#
#   tools/sched-sim/experiments.sh [OUTDIR]   (default /tmp/sched-sim)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-/tmp/sched-sim}
mkdir -p "$out"
cargo build -q --release -p rint-sched-sim
sim=target/release/sched-sim
summary() { grep -E '^  all|^scheduling overhead|^useful CPU|^busy CPU|^latency jobs'; }

echo "## 1. RR vs joint, same 10 ms quantum, seed 1"
for load in 1.0 1.5; do
    echo "### load $load"
    $sim --load "$load" --csv "$out/load-$load.csv" --svg "$out/load-$load.svg" | summary
done

echo "## 2. Seeds 1-5 (all-epoch rows)"
for load in 1.0 1.5; do
    for seed in 1 2 3 4 5; do
        echo "### load $load seed $seed"
        $sim --load "$load" --seed "$seed" | grep -E '^  all'
    done
done

echo "## 3. RR with shorter quanta (joint keeps 10 ms), load 1.5"
for q in 10 5 2 1 0.5 0.25; do
    echo "### rr quantum $q ms"
    $sim --load 1.5 --rr-quantum-ms "$q" | grep -E '^  all rr'
done

echo "## 4. Share of the load that is latency work, load 1.5"
for share in 0.1 0.2 0.3 0.4 0.5; do
    echo "### latency share $share"
    $sim --load 1.5 --latency-share "$share" | grep -E '^  all|^useful CPU'
done

echo "## 5. Context-switch cost, load 1.5"
for sw in 1 3 10; do
    echo "### switch $sw us"
    $sim --load 1.5 --switch-us "$sw" | grep -E '^  all|^scheduling overhead'
done

echo "## 6. Latency tasks declared EDF by init instead of classified, load 1.5"
$sim --load 1.5 --declare | grep -E '^  all'

echo "## 7. Reclassification events, load 1.5 seed 4"
$sim --load 1.5 --seed 4 --events | grep '^joint:'
