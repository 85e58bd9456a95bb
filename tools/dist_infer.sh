#!/usr/bin/env bash
# Folder inference in several processes with torchrun: one per GPU, or per
# CPU slot on a machine without CUDA. Each process runs tools/infer.py with
# --launcher pytorch, i.e. BlastInferencer(..., launcher='pytorch'): the inputs
# are shared out; rank 0 merges the reports, so OUT holds exactly what a single
# tools/infer.py run writes.
#   bash tools/dist_infer.sh CONFIG CHECKPOINT INPUTS... NUM_PROCS --out-dir OUT [infer.py options...]
#   bash tools/dist_infer.sh MODEL.onnx INPUTS... NUM_PROCS --out-dir OUT [infer.py options...]
# NUM_PROCS is the last argument before the first option. Several nodes: as in
# dist_train.sh (NNODES, NODE_RANK, MASTER_ADDR, PORT), with OUT on a file
# system all nodes share.
set -euo pipefail
POSITIONAL=()
while [ $# -gt 0 ] && [[ "$1" != -* ]]; do
    POSITIONAL+=("$1")
    shift
done
if [ ${#POSITIONAL[@]} -lt 3 ] || ! [[ "${POSITIONAL[-1]}" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 CONFIG CHECKPOINT INPUTS... NUM_PROCS --out-dir OUT [tools/infer.py options...]" >&2
    echo "       $0 MODEL.onnx INPUTS... NUM_PROCS --out-dir OUT [tools/infer.py options...]" >&2
    exit 2
fi
GPUS=${POSITIONAL[-1]}
unset 'POSITIONAL[-1]'
HERE="$(cd "$(dirname "$0")" && pwd)"
exec bash "$HERE/torchrun.sh" "$GPUS" "$HERE/infer.py" "${POSITIONAL[@]}" "$@"
