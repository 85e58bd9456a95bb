#!/usr/bin/env bash
# Distributed testing with torchrun (see dist_train.sh for several nodes).
#   bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [test.py options...]
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 CONFIG CHECKPOINT NUM_PROCS [tools/test.py options...]" >&2
    exit 2
fi
HERE="$(cd "$(dirname "$0")" && pwd)"
exec bash "$HERE/torchrun.sh" "$3" "$HERE/test.py" "$1" "$2" "${@:4}"
