#!/usr/bin/env bash
# Several refine settings trained side by side on one GPU, on one simulated project, each then
# predicted and scored against the ground truth (`refine_quality.sh` for every setting).
# Three trainings of the short-run recipe at batch 2 share an H200 in about 7 minutes.
#
# Usage:  bash benchmarks/quality_sweep.sh WORK "name|refine flags" ["name|refine flags" ...]
# A setting "name|refine flags|make_mask flags" runs make_mask first (MASK_FLAGS of
# refine_quality.sh; the third field may be empty: "masked|--seed 1|").
# Example (three seeds of the fifth set in QUALITY.md; L2+FSC's band weight defaults to 1):
#   bash benchmarks/quality_sweep.sh /tmp/sweep \
#     "s0|--loss_func L2+FSC" "s1|--loss_func L2+FSC --seed 1" "s2|--loss_func L2+FSC --seed 2"
# Environment: EPOCHS (10) and PER_TOMO (125 subtomograms per tomogram per epoch: 2,500 in
# all), RECIPE (flags every setting gets; default the short-run recipe), PREDICT_FLAGS
# (default: full map, --tta with mirrors, 128³ tiles), SHAPE (see refine_quality.sh).
# A setting that changes a flag RECIPE already gives needs RECIPE set without it: refine
# refuses a flag given twice (e.g. --learning_rate_min in both).
# Prints one line per setting: mean FSC in / out of the wedge, sim_01 / sim_02.
set -u
work=${1:?usage: quality_sweep.sh WORK "name|refine flags" ...}; shift
[ $# -gt 0 ] || { echo "quality_sweep.sh: give at least one \"name|refine flags\"" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
recipe=${RECIPE:---learning_rate 1e-3 --learning_rate_min 1e-4 --batch_size 2 --random_rot_weight 0 --ncpus 4}
export PREDICT_FLAGS=${PREDICT_FLAGS:---tta --tta_mirrors --tile_size 128 --input_column rlnTomoName}
mkdir -p "$work"; work=$(cd "$work" && pwd)
first=${1%%|*}
# the first setting simulates the project; the others start once it exists and link to it
for spec in "$@"; do
  name=${spec%%|*}; flags=${spec#*|}; [ "$flags" = "$spec" ] && flags=""
  unset MASK_FLAGS
  case $flags in *"|"*) export MASK_FLAGS=${flags#*|}; flags=${flags%%|*} ;; esac
  if [ "$name" = "$first" ]; then
    SIM_FROM="" bash "$here/refine_quality.sh" "$work/$name" "${EPOCHS:-10}" "${PER_TOMO:-125}" \
      $recipe $flags > "$work/$name.log" 2>&1 &
    until [ -s "$work/$first/eval_raw/evaluate.jsonl" ] || ! kill -0 $! 2>/dev/null; do sleep 2; done
  else
    SIM_FROM="$work/$first" bash "$here/refine_quality.sh" "$work/$name" "${EPOCHS:-10}" \
      "${PER_TOMO:-125}" $recipe $flags > "$work/$name.log" 2>&1 &
  fi
done
status=0
for job in $(jobs -p); do wait "$job" || status=1; done
python3 - "$work" "$@" <<'PY'
import json
import sys
from pathlib import Path

work = Path(sys.argv[1])
for spec in sys.argv[2:]:
    name = spec.split("|")[0]
    for kind in ("eval_raw", "eval_corrected"):
        path = work / name / kind / "evaluate.jsonl"
        if not path.exists():
            print(f"{name:20s} {kind:15s} missing: see {work / (name + '.log')}")
            continue
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        ins = " / ".join(f"{r['mean_fsc_in_wedge']:.3f}" for r in rows)
        outs = " / ".join(f"{r['mean_fsc_out_of_wedge']:.3f}" for r in rows)
        print(f"{name:20s} {kind:15s} in {ins}   out {outs}")
PY
exit $status
