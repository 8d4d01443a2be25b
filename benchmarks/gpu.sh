#!/usr/bin/env bash
# Run the benchmarks on a lent GPU machine (which has JAX with CUDA but installs nothing):
#   PYTHONPATH=. OUT=/some/dir bash benchmarks/gpu.sh [SECONDS_PER_BENCHMARK] [NAME ...]
# Each benchmark runs full size under a time limit; a benchmark whose peer is not installed
# there fails and is listed. Results land in $OUT/NAME.json, to be filed under
# benchmarks/results/gpu/ with the card's name (recorded in each file's "machine").
set -u
limit=${1:-60}
shift || true
names=${*:-matvec attention gaunt ntk ssm bessel kde gp quadrature}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$OUT/card.txt" 2>&1
for name in $names; do
  start=$(date +%s)
  if timeout "$limit" python -m benchmarks.run "$name" > "$OUT/$name.log" 2>&1; then
    cp "benchmarks/results/$name.json" "$OUT/$name.json"
    echo "$name ok $(( $(date +%s) - start ))s"
  else
    echo "$name FAILED ($?) $(( $(date +%s) - start ))s: $(tail -n 1 "$OUT/$name.log")"
  fi
done
