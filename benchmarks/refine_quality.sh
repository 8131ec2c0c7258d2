#!/usr/bin/env bash
# Restoration quality on simulated data with known ground truth: simulate a cell-like project,
# refine (isonet2-n2n, CTF network) on a fixed budget of subtomograms, predict, and score raw
# and corrected maps against the ground truth with `isonet.py evaluate`.
#
# Example (GPU machine):  bash benchmarks/refine_quality.sh work 10 125 --mw_weight 200
#   arguments: work folder, epochs, subtomograms per tomogram per epoch (2 tomograms), then
#   any further refine flags. GPU_IDS (default 0) is passed as --gpuID to refine and predict,
#   e.g. GPU_IDS=0,1 for two data-parallel workers. SIM_FROM=<folder> reuses the simulated
#   project (its sim/ folder) of an earlier run instead of simulating it again: the volumes
#   are linked, the star is copied (predict writes its own columns into it). PREDICT_FLAGS
#   are added to predict, e.g. PREDICT_FLAGS="--tta --tta_mirrors --tile_size 128
#   --input_column rlnTomoName" for the README's best maps. SHAPE (default 128,384,384) is
#   the simulated tomograms' Z,Y,X size; smaller ones only for checking the script on a CPU.
#   MASK_FLAGS, where set (even empty), runs `isonet.py make_mask` with those flags on the
#   project before refine, as the tutorial does, so training cubes are drawn inside the masks.
#   REFINE_CMD (default `isonet.py refine`) trains instead, e.g. REFINE_CMD="python
#   /path/to/benchmarks/train_variant.py --noise_scale 1.2 --" for a training variant.
set -euo pipefail
gpus=${GPU_IDS:-0}
work=${1:-quality_run}; epochs=${2:-10}; per_tomo=${3:-125}; shift 3 || true
mkdir -p "$work" && cd "$work"
if [ -n "${SIM_FROM:-}" ]; then
  mkdir -p sim
  for d in "$SIM_FROM"/sim/*/; do ln -sfn "$(cd "$d" && pwd)" "sim/$(basename "$d")"; done
  cp "$SIM_FROM/sim/tomograms.star" sim/
else
  isonet.py simulate --preset cell -o sim --number_tomograms 2 --shape "${SHAPE:-128,384,384}" --seed 1
fi
python - "$per_tomo" <<'PY'
import sys
from isonet2.io.star import read_star, write_star
table = read_star("sim/tomograms.star")
for row in table.rows:
    row.number_subtomos = int(sys.argv[1])
write_star(table, "sim/tomograms.star")
PY
isonet.py evaluate --star sim/tomograms.star --column rlnTomoName --ground_truth sim/ground_truth -o eval_raw
if [ -n "${MASK_FLAGS+set}" ]; then
  # shellcheck disable=SC2086  # MASK_FLAGS is a list of words
  isonet.py make_mask sim/tomograms.star --maskfolder mask $MASK_FLAGS
fi
# shellcheck disable=SC2086  # REFINE_CMD is a command line
${REFINE_CMD:-isonet.py refine} sim/tomograms.star -o refine --CTF_mode network \
    --epochs "$epochs" --save_interval "$epochs" --gpuID "$gpus" "$@"
model=$(ls refine/network_*_full.pt | grep -v _epoch | head -1)  # whatever --arch/--cube_size
# shellcheck disable=SC2086  # PREDICT_FLAGS is a list of words
isonet.py predict sim/tomograms.star "$model" --gpuID "$gpus" --outputdir corrected ${PREDICT_FLAGS:-}
isonet.py evaluate --star sim/tomograms.star --ground_truth sim/ground_truth -o eval_corrected
