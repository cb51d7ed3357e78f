#!/usr/bin/env bash
# Measurements behind docs/models/general.md (issue 5 quality bars). Run from the repo root
# after `napari-irdm train ... --export general`. Writes logs to docs/results/.
set -u
PY=.venv/bin/python
R=docs/results
mkdir -p "$R" docs/models/img
echo "== bar 1: evaluate (held-back pairs, WBP/SART/TV/IRDM)"
.venv/bin/napari-irdm evaluate --model general --dataset D3 --wedges 40 60 80 --n 16 \
  --sources phantom medical natural --size 256 --out /tmp/eval_general 2>&1 | tail -60 | tee "$R/general_evaluate.txt"
cp /tmp/eval_general/summary.csv "$R/general_evaluate_summary.csv"
cp /tmp/eval_general/metrics_vs_wedge*.png /tmp/eval_general/grid_*.png docs/models/img/ 2>/dev/null
.venv/bin/napari-irdm evaluate --model general --dataset D3 --wedges 40 60 80 --n 16 --tta --methods irdm irdm_nonneg \
  --sources phantom medical natural --size 256 --out /tmp/eval_general_tta 2>&1 | tail -8 | tee "$R/general_evaluate_tta.txt"
cp /tmp/eval_general_tta/summary.csv "$R/general_evaluate_tta_summary.csv"
.venv/bin/napari-irdm evaluate --model general --dataset D3 --wedges 40 60 80 --n 16 \
  --sources phantom medical natural --size 128 --out /tmp/eval_general128 2>&1 | tail -20 | tee "$R/general_evaluate128.txt"
cp /tmp/eval_general128/summary.csv "$R/general_evaluate128_summary.csv"
cp /tmp/eval_general128/grid_phantom.png docs/models/img/grid_phantom_128.png
cp /tmp/eval_general128/metrics_vs_wedge.png docs/models/img/metrics_vs_wedge_128.png
echo "== bar 2: gold"
$PY benchmarks/irdm_gold.py --model general --json "$R/general_gold.json" 2>&1 | tee "$R/general_gold.txt"
$PY benchmarks/irdm_gold.py --model general --dose 1e5 --json "$R/general_gold_dose.json" 2>&1 | tail -6 | tee "$R/general_gold_dose.txt"
echo "== bar 3: needle"
$PY benchmarks/irdm_needle.py --model general --png docs/img/needle_wbp_irdm.png 2>&1 | tee "$R/general_needle.txt"
echo "== bar 4: speed"
$PY benchmarks/irdm_speed.py --model general --repeat 2 2>&1 | tail -4 | tee "$R/general_speed.txt"
