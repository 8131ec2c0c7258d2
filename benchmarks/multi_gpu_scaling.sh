#!/usr/bin/env bash
# Multi-GPU scaling (issue #9), in one call on a machine with at least 2 GPUs:
#   1. training throughput at 96³ with 1 and with 2 GPUs at the same per-GPU batch;
#   2. the same refine budget on one simulated project with --gpuID 0,1 and with --gpuID 0
#      (global batch 4 both times: 2 per GPU on two), each followed by predict (on the same
#      GPUs) and evaluate against the ground truth; the epoch lines, with their share of time
#      spent waiting for data, are kept;
#   3. after every command, the isonet2 processes still alive (there should be none).
# Logs and JSON lines go to ${OUT:-multi_gpu_out}/.
# Example:  OUT=/tmp/multi bash benchmarks/multi_gpu_scaling.sh 10 125
set -u
epochs=${1:-10}; per_tomo=${2:-125}
out=${OUT:-multi_gpu_out}; mkdir -p "$out"; repo=$(pwd)
export PYTHONUNBUFFERED=1
leftovers() {  # processes of ours still running after a command returned
  sleep 2
  local found
  found=$(pgrep -af "isonet2|train_throughput|torch.distributed" | grep -v pgrep || true)
  echo "$1: ${found:-no process left}" >> "$out/leftovers.txt"
}
nvidia-smi --query-gpu=name,memory.total --format=csv > "$out/gpu.txt" 2>&1
for ids in 0 0,1; do
  timeout 120 python3 benchmarks/train_throughput.py --gpuID "$ids" --arch unet-medium --cube 96 \
    --batch 4 --method isonet2-n2n --ctf_mode network --mw_weight 200 \
    >> "$out/throughput.jsonl" 2>> "$out/throughput.err"
  leftovers "train_throughput --gpuID $ids"
done
first=""
for ids in 0,1 0; do  # the same global batch of 4: 2 per GPU on two GPUs
  name="gpus_${ids/,/_}"
  SIM_FROM=$first GPU_IDS=$ids timeout 280 bash benchmarks/refine_quality.sh "/tmp/$name" \
    "$epochs" "$per_tomo" --ncpus 6 --batch_size 4 > "$out/$name.log" 2>&1
  echo "$name exit $?" >> "$out/leftovers.txt"
  first=${first:-/tmp/$name}
  leftovers "refine+predict+evaluate --gpuID $ids"
  cp "/tmp/$name/eval_corrected/evaluate.jsonl" "$out/$name.eval.jsonl" 2>/dev/null
  grep "subtomos/s" "/tmp/$name/refine/log.txt" > "$out/$name.epochs.txt" 2>/dev/null
  cd "$repo"
done
cat "$out/gpu.txt" "$out/throughput.jsonl" "$out/leftovers.txt"
grep -ho '"map": "[^"]*"\|"mean_fsc_in_wedge": [-0-9.]*\|"mean_fsc_out_of_wedge": [-0-9.]*' "$out"/*.eval.jsonl
