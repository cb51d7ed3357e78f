#!/usr/bin/env bash
# Second one-shot GPU call (after tools/gpu_train.sh): fine-tune the shipped models side by side
# (`train --init-from`), export, and score them on held-back pairs. Everything comes back as one
# tarball split into ≤ 12 MB parts: `cat bundle.tar.part* | tar -x` on this machine.
#   general-ft100   general, content weight 100 (as trained), lr 1e-4
#   general-ft1000  general, content weight 1000 (10x less GAN relative to L1), lr 1e-4
#   general-large   general-large continued, content weight 100, lr 1e-4
# The model to ship is picked by the trainer's held-back validation (val.csv), not by the evaluation.
set -u
MIN=${1:-4.3}
OUT=${OUT:-/tmp/out}
B=/tmp/bundle
W=src/napari_irdm/dl/weights
mkdir -p "$OUT" "$B"
pack() { tar -cf /tmp/bundle.tar -C /tmp bundle && split -b 12000000 -d /tmp/bundle.tar "$OUT/bundle.tar.part"; }
trap pack EXIT
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1
common="--dataset DA --device cuda --val-every 250 --time-limit-min $MIN --lr 1e-4"
python3 -m napari_irdm.cli train $common --init-from general --preset cpu --size 256 --batch-size 16 --n-val 32 \
  --content-weight 100 --seed 11 --out /tmp/r_ft100 --export general-ft100 > "$B/train_ft100.txt" 2>&1 &
python3 -m napari_irdm.cli train $common --init-from general --preset cpu --size 256 --batch-size 16 --n-val 32 \
  --content-weight 1000 --seed 12 --out /tmp/r_ft1000 --export general-ft1000 > "$B/train_ft1000.txt" 2>&1 &
python3 -m napari_irdm.cli train $common --init-from general-large --preset paper \
  --content-weight 100 --seed 13 --out /tmp/r_large --export general-large > "$B/train_large.txt" 2>&1 &
wait
for r in ft100 ft1000 large; do
  tail -n 3 "$B/train_$r.txt"
  for f in log.csv val.csv config.json; do cp "/tmp/r_$r/$f" "$B/${r}_$f" 2>/dev/null; done
done
cp $W/general-ft100.* $W/general-ft1000.* $W/general-large.* "$B/" 2>/dev/null
ev() {  # model tag
  timeout 70 python3 -m napari_irdm.cli evaluate --model "$1" --dataset D3 --wedges 40 60 80 --n 8 \
    --sources phantom medical natural --size 256 --methods wbp irdm irdm_dc --device cuda --out "/tmp/ev_$2" > "$B/eval_$2.txt" 2>&1
  cp "/tmp/ev_$2/summary.csv" "$B/eval_$2_summary.csv" 2>/dev/null
}
ev general-ft100 ft100 & ev general-ft1000 ft1000 & ev general-large large &
wait
ls -la "$B"
