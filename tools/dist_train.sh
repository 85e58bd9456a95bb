#!/usr/bin/env bash
# Distributed training with torchrun: one process per GPU (or per CPU slot on
# a machine without CUDA, where tools/train.py uses gloo and BN instead of SyncBN).
#   bash tools/dist_train.sh CONFIG NUM_PROCS [train.py options...]
# Several nodes: run it on every node with the same MASTER_ADDR/PORT, e.g.
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 PORT=29500 bash tools/dist_train.sh CFG 8
#   NNODES=2 NODE_RANK=1 MASTER_ADDR=10.0.0.1 PORT=29500 bash tools/dist_train.sh CFG 8
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG NUM_PROCS [tools/train.py options...]" >&2
    exit 2
fi
HERE="$(cd "$(dirname "$0")" && pwd)"
exec bash "$HERE/torchrun.sh" "$2" "$HERE/train.py" "$1" "${@:3}"
