#!/usr/bin/env bash
# One-shot GPU session (the lent H100/H200): train the two shipped models side by side on one
# GPU, export them, evaluate them on held-back pairs and time GPU inference, inside one
# 10-minute device call. Usage on the device machine:  bash tools/gpu_train.sh MINUTES
#   general        width 16, 256² slices, batch 16  (the CPU default: 256 slices of 256² in < 60 s)
#   general-large  the paper preset (width 32, 256², batch 32)
# Needs mrcfile/pydicom wheels in .whl/ (the GPU image has torch, scikit-image, tifffile, tqdm, scipy).
# At most 8 files come back (each ≤ 16 MB): weights > 15 MB are split into .partN files
# (reassemble with `cat general-large.pt.part* > general-large.pt`, then check the sha256 in the .json).
set -u
MIN=${1:-6.2}
OUT=${OUT:-/tmp/out}
LOG=/tmp/gpulogs
W=src/napari_irdm/dl/weights
mkdir -p "$OUT" "$LOG"
trap 'tar -czf "$OUT/logs.tar.gz" -C /tmp gpulogs' EXIT
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$LOG/gpu.txt"
python3 -c "import torch, skimage, scipy; print('torch', torch.__version__, 'skimage', skimage.__version__)" | tee -a "$LOG/gpu.txt"

common="--dataset DA --device cuda --val-every 250 --time-limit-min $MIN"
run_general() {
  python3 -m napari_irdm.cli train $common "$@" --preset cpu --width 16 --size 256 --batch-size 16 --lr 3e-4 \
    --n-val 32 --out /tmp/run_general --export general > "$LOG/train_general.txt" 2>&1
}
run_large() {
  python3 -m napari_irdm.cli train $common "$@" --preset paper --lr 2e-4 --seed 1 \
    --out /tmp/run_large --export general-large > "$LOG/train_large.txt" 2>&1
}
run_general & P1=$!
run_large & P2=$!
# bf16 autocast problems show within a minute: restart that run in fp32
sleep 75
if ! kill -0 $P1 2>/dev/null && ! grep -q "exported" "$LOG/train_general.txt"; then
  echo "general died early; fp32 retry"; tail -5 "$LOG/train_general.txt"; rm -rf /tmp/run_general
  run_general --no-amp --time-limit-min "$(python3 -c "print($MIN-1.4)")" & P1=$!
fi
if ! kill -0 $P2 2>/dev/null && ! grep -q "exported" "$LOG/train_large.txt"; then
  echo "large died early; fp32 retry"; tail -5 "$LOG/train_large.txt"; rm -rf /tmp/run_large
  run_large --no-amp --time-limit-min "$(python3 -c "print($MIN-1.4)")" & P2=$!
fi
wait $P1; wait $P2
tail -n 3 "$LOG/train_general.txt" "$LOG/train_large.txt"
for r in general large; do
  for f in log.csv val.csv config.json; do cp "/tmp/run_$r/$f" "$LOG/${r}_$f" 2>/dev/null; done
done
for m in general general-large; do
  cp "$W/$m.json" "$OUT/" 2>/dev/null
  if [ -f "$W/$m.pt" ] && [ "$(stat -c %s "$W/$m.pt")" -gt 15000000 ]; then
    split -b 12000000 -d "$W/$m.pt" "$OUT/$m.pt.part"
  else
    cp "$W/$m.pt" "$OUT/" 2>/dev/null
  fi
done
# held-back evaluation of both models (same settings as tools/issue5_eval.sh), in parallel
ev() {  # model size tag
  timeout 100 python3 -m napari_irdm.cli evaluate --model "$1" --dataset D3 --wedges 40 60 80 --n 8 \
    --sources phantom medical natural --size "$2" --device cuda --out "/tmp/ev_$3" > "$LOG/eval_$3.txt" 2>&1
  cp "/tmp/ev_$3/summary.csv" "$LOG/eval_$3_summary.csv" 2>/dev/null
}
ev general 256 general256 & ev general 128 general128 & ev general-large 256 large256 & ev general-large 128 large128 &
wait
timeout 30 python3 benchmarks/irdm_speed.py --model general --device cuda --repeat 2 2>&1 | tail -3 | tee "$LOG/speed_general_gpu.txt"
timeout 30 python3 benchmarks/irdm_speed.py --model general-large --device cuda --repeat 2 2>&1 | tail -3 | tee "$LOG/speed_large_gpu.txt"
tar -czf "$OUT/logs.tar.gz" -C /tmp gpulogs; ls -la "$OUT"
