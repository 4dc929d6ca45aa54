#!/usr/bin/env bash
# The checks that need a GPU, as one command for a lent GPU machine.
#
# A lent machine has a few minutes in all, starts bare and can reach nothing,
# and only 64 MiB of the working tree travels to it: MNIST goes along packed
# (11 MB), CIFAR-10 (178 MB) cannot, so only the MNIST cases run there.
#
#   tools/device_run.sh pack     here: pack $DISTILL_DATA_ROOT/MNIST/raw into
#                                .device/ (ignored by git; carry it)
#   tools/device_run.sh run      there, with $OUT set: unpack MNIST, then
#                                1. the GPU benchmark of the MNIST speed cases
#                                   (results/bench-<gpu>.json, copied to $OUT);
#                                2. the paper-scale mnist_fixed row with its
#                                   baselines ($OUT/mnist_fixed-paper.json),
#                                   stopped after $ROW_SECONDS (default 420).
#
# The machine's own python3 and PyTorch are used as they are (the package
# needs nothing they lack); every step writes its log under $OUT. A row
# stopped by the time limit writes no JSON: never an estimate in its place.
# The other paper-scale rows do not fit one lease: mnist_random runs 23,200
# iterations of 10 x 3 steps (and as many for its optimized-real baseline),
# and the pre-trained rows first train a pool of 2,200 networks.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
pack=".device/mnist-raw.tar.gz"

case "${1:-}" in
pack)
    root="${DISTILL_DATA_ROOT:-$here/../shared/data}"
    if [[ ! -d "$root/MNIST/raw" ]]; then
        echo "error: no MNIST/raw under $root; set DISTILL_DATA_ROOT" >&2
        exit 2
    fi
    mkdir -p .device
    tar -czf "$pack" -C "$root" MNIST/raw
    ls -l "$pack"
    ;;
run)
    if [[ -z "${OUT:-}" || ! -f "$pack" ]]; then
        echo "error: needs \$OUT and $pack (run '$0 pack' here, carry .device)" >&2
        exit 2
    fi
    data=/tmp/distill-data
    mkdir -p "$data"
    tar -xzf "$pack" -C "$data"
    export DISTILL_DATA_ROOT="$data" PYTHONPATH="$here" PYTHONUNBUFFERED=1 \
        TQDM_DISABLE=1 MPLBACKEND=Agg
    {
        nvidia-smi -L
        python3 -c "import torch; print('torch', torch.__version__,
torch.cuda.get_device_name())"
    } > "$OUT/device.txt" 2>&1

    timeout "${BENCH_SECONDS:-150}" python3 -m benchmarks.bench --device cuda \
        --rounds 1 --only mnist-1x1-fixed,mnist-10x3-fixed,mnist-10x3-random4 \
        > "$OUT/bench.log" 2>&1
    echo "benchmark: status $?" >> "$OUT/device.txt"
    cp results/bench-*.json "$OUT/" 2>/dev/null
    rm -f "$OUT/bench-cpu.json"

    timeout "${ROW_SECONDS:-420}" python3 -m distill experiment mnist_fixed \
        --scale paper --device cuda --runs-dir /tmp/distill-runs \
        --results-dir "$OUT" --quiet > "$OUT/mnist_fixed-paper.log" 2>&1
    echo "mnist_fixed paper: status $? (124: stopped at the time limit)" \
        >> "$OUT/device.txt"
    cat "$OUT/device.txt"
    ;;
*)
    echo "usage: $0 pack | run" >&2
    exit 2
    ;;
esac
