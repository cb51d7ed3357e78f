#!/usr/bin/env bash
# One-shot GPU session (the lent H100): CUDA checks, then train the shipped models in parallel,
# export them and time GPU inference. Usage on the device machine:  bash tools/gpu_train.sh MINUTES
# Needs mrcfile/pydicom wheels in .whl/ (the GPU image has torch, scikit-image, tifffile, tqdm, scipy).
set -u
MIN=${1:-6}
OUT=${OUT:-/tmp/out}
LOG=/tmp/gpulogs
mkdir -p "$OUT" "$LOG"
# at most 8 files come back: weights (4) + one tarball of logs
trap 'tar -czf "$OUT/logs.tar.gz" -C /tmp gpulogs' EXIT
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 - <<'PY' 2>&1 | tee "$LOG/cuda_checks.txt"
import time, numpy as np, torch
from napari_irdm.device import resolve_device
from napari_irdm.tomo import ParallelProjector, wbp
dev = resolve_device("auto"); print("device", dev, torch.__version__)
ang = np.arange(-70, 71, 2.0)
P = ParallelProjector(ang, (48, 5, 40), n_det=44, device=dev)
x = torch.rand(48, 5, 40, device=dev); y = torch.rand(len(ang), 5, 44, device=dev)
a, b = float((y * P.forward(x)).sum()), float((P.adjoint(y) * x).sum())
print(f"cuda adjointness {a:.6g} {b:.6g} rel {abs(a-b)/abs(a):.2e}")
Pc = ParallelProjector(ang, (48, 5, 40), n_det=44, device="cpu")
print("cuda vs cpu forward max diff", float((P.forward(x).cpu() - Pc.forward(x.cpu())).abs().max()))
ts = torch.rand(141, 256, 256, device=dev); angs = np.linspace(-70, 70, 141)
wbp(ts, angs); torch.cuda.synchronize(); t = time.time(); wbp(ts, angs); torch.cuda.synchronize()
print(f"GPU wbp 256 slices 256^2 141 tilts: {time.time()-t:.3f} s")
PY
common="--dataset DA --preset paper --device cuda --val-every 200"
# smoke test (AMP); fall back to fp32 when bf16 autocast fails on this stack
AMP=""
if ! timeout 120 python3 -m napari_irdm.cli train $common --width 8 --steps 3 --batch-size 4 --n-val 4 --out /tmp/smoke > "$LOG/smoke.txt" 2>&1; then
  AMP="--no-amp"; echo "smoke with AMP failed; using --no-amp"; tail -5 "$LOG/smoke.txt"
  timeout 120 python3 -m napari_irdm.cli train $common --width 8 --steps 3 --batch-size 4 --n-val 4 --out /tmp/smoke2 $AMP > "$LOG/smoke2.txt" 2>&1 || { tail -20 "$LOG/smoke2.txt"; exit 1; }
fi
python3 -m napari_irdm.cli train $common $AMP --width 8 --time-limit-min "$MIN" --out /tmp/run_general --export general > "$LOG/train_general.txt" 2>&1 &
P1=$!
python3 -m napari_irdm.cli train $common $AMP --width 16 --time-limit-min "$MIN" --seed 1 --out /tmp/run_large --export general-large > "$LOG/train_large.txt" 2>&1 &
P2=$!
wait $P1; wait $P2
tail -n 4 "$LOG/train_general.txt" "$LOG/train_large.txt"
cp src/napari_irdm/dl/weights/general.* src/napari_irdm/dl/weights/general-large.* "$OUT/" 2>/dev/null
cp /tmp/run_general/log.csv "$LOG/log_general.csv"; cp /tmp/run_large/log.csv "$LOG/log_large.csv"
cp /tmp/run_general/val.csv "$LOG/val_general.csv"; cp /tmp/run_large/val.csv "$LOG/val_large.csv" 2>/dev/null
cp /tmp/run_general/config.json "$LOG/config_general.json"; cp /tmp/run_large/config.json "$LOG/config_large.json" 2>/dev/null
python3 benchmarks/irdm_speed.py --device cuda 2>&1 | tail -5 | tee "$LOG/irdm_speed_gpu.txt"
ls -la "$OUT"
