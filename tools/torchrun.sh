#!/usr/bin/env bash
# The one torchrun launch behind dist_train.sh, dist_test.sh and dist_infer.sh:
#   bash tools/torchrun.sh NUM_PROCS SCRIPT [SCRIPT arguments...]
# runs SCRIPT with --launcher pytorch in NUM_PROCS processes (one per GPU, or
# per CPU slot without CUDA). Several nodes: run it on every node with the same
# MASTER_ADDR and PORT, and NNODES and NODE_RANK set, e.g.
#   NNODES=2 NODE_RANK=1 MASTER_ADDR=10.0.0.1 PORT=29500 bash tools/dist_train.sh CFG 8
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 NUM_PROCS SCRIPT [SCRIPT arguments...]" >&2
    exit 2
fi
NPROC=$1
SCRIPT=$2
shift 2
exec "${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --nproc_per_node="$NPROC" \
    --master_port="${PORT:-29500}" \
    "$SCRIPT" "$@" --launcher pytorch
