#!/usr/bin/env bash
# Every GPU measurement of the closing notes in one go (the device machine starts cold, so one
# call does it all): GPU tests, training throughput at 96³, refine quality on simulated data,
# prediction throughput and host memory. Logs go to ${OUT:-gpu_out}/.
# Example:  OUT=/tmp/gpu_out bash benchmarks/gpu_all.sh   (QUALITY=0 leaves out the 5-minute refine,
# for a call that has its quality runs elsewhere, e.g. quality_sweep.sh)
set -u
out=${OUT:-gpu_out}; mkdir -p "$out"; repo=$(pwd)
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.txt" 2>&1
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name())" >> "$out/gpu.txt"
timeout 150 python3 -m pytest -q -m gpu -p no:cacheprovider --continue-on-collection-errors tests > "$out/gpu_tests.log" 2>&1
for extra in "" "--compile"; do
  timeout 150 python3 benchmarks/train_throughput.py --arch unet-medium --cube 96 --batch 4 \
    --method isonet2-n2n --ctf_mode network --mw_weight 200 $extra >> "$out/throughput.jsonl" 2>> "$out/throughput.err"
done
if [ "${QUALITY:-1}" != 0 ]; then
  timeout 330 bash benchmarks/refine_quality.sh /tmp/quality 10 125 --ncpus 12 --mw_weight 200 \
    > "$out/quality.log" 2>&1
  cp /tmp/quality/eval_raw/evaluate.jsonl "$out/eval_raw.jsonl" 2>/dev/null
  cp /tmp/quality/eval_corrected/evaluate.jsonl "$out/eval_corrected.jsonl" 2>/dev/null
  cp /tmp/quality/refine/loss_full.png "$out/" 2>/dev/null
  cp /tmp/quality/refine/preview/*.png "$out/preview.png" 2>/dev/null
fi
cd "$repo"
for variant in "" "--halves" "--default_layout"; do
  timeout 120 python3 benchmarks/predict.py --shape 160,400,400 --arch unet-medium --cube 96 \
    --device 0 $variant 2>> "$out/predict.err" | tail -1 >> "$out/predict.jsonl"
done
[ -f "$out/quality.log" ] && grep -v "it/s\|batch/s\|tile/s" "$out/quality.log" | tail -40
cat "$out/gpu.txt" "$out/throughput.jsonl" "$out/predict.jsonl"; tail -3 "$out/gpu_tests.log"
