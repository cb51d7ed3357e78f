#!/usr/bin/env bash
# One-shot GPU call (issue #15 item 2: one model across tilt ranges): train, side by side on one GPU,
#   general-film  FiLM-conditioned width-16 generator (`--condition film`) started from the shipped
#                 `general` (its FiLM starts at the identity, so the start is exactly `general`)
#   general-wide  the unconditioned fine-tune of `general` with the same data, steps and seed
# then score both (and `general` as it ships) with `napari-irdm evaluate` at wedges 60 90 120 and pack
# everything as one tarball split into <= 12 MB parts (`cat bundle.tar.part* | tar -x` on this machine).
# Usage on the device machine (carry [".whl"], see docs/training.md "On the lent GPU machine"):
#   bash tools/gpu_train_conditioned.sh MINUTES      # training budget of each run (both run at once)
# Ship the better of the two by the evaluation at the wedges the dataset covers, with its model card.
set -u
MIN=${1:-4.0}
# --- what to train on: the real-data library DR (wedges 30–120°, eight extra object families) with the
# acquisition model of the pairs (Poisson dose 30–3000 counts per pixel, read noise, asymmetric ranges
# up to ±15°, tilt steps 1–5°, residual misalignment, drift, background, objects past the field of view);
# DATASET=DA ACQ="--asymmetric --tilt-step 1 2 3" is the earlier, noise-free setting
DATASET=${DATASET:-DR}
# --noise 0.03 as well as counting noise: a CPU fine-tune with counting noise only gained 2.2 dB at
# Poisson dose 200 but nothing at 3 % Gaussian noise (docs/results/ft_dr_cpu/RULE.md)
ACQ=${ACQ:---asymmetric --max-shift 15 --tilt-step 1 2 3 4 5 --dose 30 3000 --read-noise 0.02 --noise 0.03 --misalign-px 0.5 --drift 0.1 --background 0.02 --exceed-fov 0.2}
WEDGES=${WEDGES:-60 90 120}
EVAL_DATASET=${EVAL_DATASET:-D3}   # sources scored (phantom, medical, natural); the wedge is forced
OUT=${OUT:-/tmp/out}
B=/tmp/bundle
W=src/napari_irdm/dl/weights
mkdir -p "$OUT" "$B"
pack() { tar -cf /tmp/bundle.tar -C /tmp bundle && split -b 12000000 -d /tmp/bundle.tar "$OUT/bundle.tar.part"; }
trap pack EXIT
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$B/gpu.txt"
echo "DATASET=$DATASET ACQ=$ACQ MIN=$MIN WEDGES=$WEDGES" | tee -a "$B/gpu.txt"

# same data, length, lr, loss and seed: the only difference is the conditioning
common="--dataset $DATASET $ACQ --device cuda --val-every 250 --time-limit-min $MIN --lr 1e-4 --init-from general
  --preset cpu --size 256 --batch-size 16 --n-val 32 --content-weight 1000 --ssim-weight 200 --seed 31"
# shellcheck disable=SC2086
python3 -m napari_irdm.cli train $common --condition film --out /tmp/r_film --export general-film \
  > "$B/train_film.txt" 2>&1 &
# shellcheck disable=SC2086
python3 -m napari_irdm.cli train $common --out /tmp/r_wide --export general-wide > "$B/train_wide.txt" 2>&1 &
wait
for r in film wide; do
  tail -n 3 "$B/train_$r.txt"
  for f in log.csv val.csv config.json; do cp "/tmp/r_$r/$f" "$B/${r}_$f" 2>/dev/null; done
done
cp $W/general-film.* $W/general-wide.* "$B/" 2>/dev/null   # width 16: ~4.7 MB each

ev() {  # model tag
  # shellcheck disable=SC2086
  timeout 100 python3 -m napari_irdm.cli evaluate --model "$1" --dataset "$EVAL_DATASET" --wedges $WEDGES --n 8 \
    --sources phantom medical natural --size 256 --methods wbp irdm irdm_dc --device cuda --out "/tmp/ev_$2" \
    > "$B/eval_$2.txt" 2>&1
  cp "/tmp/ev_$2/summary.csv" "$B/eval_$2_summary.csv" 2>/dev/null
}
ev general-film film & ev general-wide wide & ev general general &
wait
# one table: mean PSNR / SSIM over the sources, per wedge and model
python3 - "$B" <<'EOF' | tee "$B/compare.txt"
import csv, sys
from pathlib import Path
b = Path(sys.argv[1])
print("model     wedge  method   PSNR    SSIM")
for tag in ("general", "wide", "film"):
    p = b / f"eval_{tag}_summary.csv"
    if not p.exists():
        print(tag, "no summary"); continue
    for r in csv.DictReader(p.open()):
        if r["source"] == "all" and r["method"] in ("wbp", "irdm", "irdm_dc"):
            print(f"{tag:9s} {float(r['wedge_deg']):5.0f}  {r['method']:7s} {float(r['psnr']):6.2f}  {float(r['ssim']):.3f}")
EOF
ls -la "$B"
