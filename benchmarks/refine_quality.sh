#!/usr/bin/env bash
# Restoration quality on simulated data with known ground truth: simulate a cell-like project,
# refine (isonet2-n2n, CTF network) on a fixed budget of subtomograms, predict, and score raw
# and corrected maps against the ground truth with `isonet.py evaluate`.
#
# Example (GPU machine):  bash benchmarks/refine_quality.sh work 10 125 --mw_weight 200
#   arguments: work folder, epochs, subtomograms per tomogram per epoch (2 tomograms), then
#   any further refine flags. GPU_IDS (default 0) is passed as --gpuID to refine and predict,
#   e.g. GPU_IDS=0,1 for two data-parallel workers.
set -euo pipefail
gpus=${GPU_IDS:-0}
work=${1:-quality_run}; epochs=${2:-10}; per_tomo=${3:-125}; shift 3 || true
mkdir -p "$work" && cd "$work"
isonet.py simulate --preset cell -o sim --number_tomograms 2 --shape 128,384,384 --seed 1
python - "$per_tomo" <<'PY'
import sys
from isonet2.io.star import read_star, write_star
table = read_star("sim/tomograms.star")
for row in table.rows:
    row.number_subtomos = int(sys.argv[1])
write_star(table, "sim/tomograms.star")
PY
isonet.py evaluate --star sim/tomograms.star --column rlnTomoName --ground_truth sim/ground_truth -o eval_raw
isonet.py refine sim/tomograms.star -o refine --CTF_mode network \
    --epochs "$epochs" --save_interval "$epochs" --gpuID "$gpus" "$@"
isonet.py predict sim/tomograms.star refine/network_isonet2-n2n_unet-medium_96_full.pt \
    --gpuID "$gpus" --outputdir corrected
isonet.py evaluate --star sim/tomograms.star --ground_truth sim/ground_truth -o eval_corrected
