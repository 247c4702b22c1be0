#!/usr/bin/env bash
# The CUDA path, checked on a GPU machine (CI has none): the GPU tests, the default model's LSP-test score
# on CUDA and on the CPU, training images/s with AMP, and a torchrun
# launch. Needs LSP under $POSEKIT_DATA (default ../shared/datasets); writes logs to $OUT (default out/cuda).
#   POSEKIT_DATA=... OUT=... bash benchmarks/cuda_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
DATA=$(realpath "${POSEKIT_DATA:-../shared/datasets}"); export POSEKIT_DATA=$DATA
OUT=${OUT:-out/cuda}; mkdir -p "$OUT"
LSP_ONLY='data.train=[{format: lsp, path: lsp, split: train}]'
CFG=configs/simplebaseline_r18s_lsp+lspet_128x128.yaml
{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c 'import torch, platform; print("python", platform.python_version(), "torch", torch.__version__)'
} 2>&1 | tee "$OUT/machine.txt"
echo "== 1. GPU tests"; python3 -m pytest tests/test_cuda.py -q -p no:cacheprovider 2>&1 | tee "$OUT/pytest.txt"
echo "== 2. default model, LSP test, ground-truth boxes (the device's OpenCV 5 has no HOG), CPU vs CUDA"
for dev in cpu cuda; do
  python3 -m posekit eval --model default --data "lsp:$DATA/lsp" --split test --gt-boxes --device $dev \
    --json "$OUT/eval_default_gtboxes_$dev.json" 2>&1 | grep -v '%|' | tee "$OUT/eval_$dev.txt"
done
echo "== 3. training on CUDA with AMP: the default recipe (phase 1, from scratch), LSP train only, 400 steps x 32"
python3 -m posekit train $CFG "$LSP_ONLY" train.max_steps=400 train.eval_every=400 \
  train.checkpoint_every=400 data.num_workers=8 train.out_dir=/tmp/cuda_train 2>&1 | grep -v '%|' | tail -5
cp /tmp/cuda_train/metrics.jsonl "$OUT/train_metrics.jsonl"
echo "== 4. torchrun launch (one process: NCCL between ranks needs a second GPU)"
torchrun --nproc_per_node=1 -m posekit train $CFG "$LSP_ONLY" train.max_steps=20 \
  train.eval_every=20 data.num_workers=4 train.out_dir=/tmp/cuda_torchrun 2>&1 | grep -v '%|' | tail -3
echo "torchrun rc=${PIPESTATUS[0]}"
