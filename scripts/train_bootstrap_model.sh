#!/usr/bin/env bash
# Reproduces the bootstrap femoral cartilage model shipped in KneeCartilageT2Lib/Resources/:
#   1. 64 training + 4 validation phantoms of ONE real anatomy (right_knee_example.nrrd),
#      both protocols (oai, ge), both sides, random seeds/deformations/SNR/lesions: 32 with the
#      default anatomical variety and 32 with a wider one (larger deformation, size and rotation
#      ranges), all with the femoral cartilage thickness varied by a smooth random field of +-1 mm
#      (it also changes how far the cartilage wraps round the condyle margins), so that the
#      network learns cartilage rather than one knee's shape;
#   2. CPU training (about 35 minutes on 2 cores, plus about 15 minutes of phantom simulation);
#   3. evaluation on phantoms of the OTHER anatomy (benchmarks/bench_bootstrap_model.py).
# Usage: scripts/train_bootstrap_model.sh [WORKDIR]   (default ~/.cache/knee-t2/bootstrap)
# Needs the knee label maps (`knee-t2 fetch-sample`, or KNEE_T2_LABELS_DIR). Re-running resumes:
# existing phantom cases are kept and training continues from its state file.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${1:-$HOME/.cache/knee-t2/bootstrap}"
labels="${KNEE_T2_LABELS_DIR:-$repo/../shared/data/knee_labels}"
[ -f "$labels/right_knee_example.nrrd" ] || labels="${KNEE_T2_CACHE:-$HOME/.cache/knee-t2}/data/knee_labels"
python="${PYTHON:-python}"
knee_t2() { "$python" -m KneeCartilageT2Lib "$@"; }
export PYTHONPATH="$repo/KneeCartilageT2${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$work"
knee_t2 phantom -o "$work/train" --anatomy "$labels/right_knee_example.nrrd" --cases 32 --seed 1000 \
    --thickness-variation-mm 1.0
knee_t2 phantom -o "$work/train" --anatomy "$labels/right_knee_example.nrrd" --cases 32 --seed 2000 \
    --deformation-mm 4.5 --scale-jitter 0.15 --max-rotation 12 --thickness-variation-mm 1.0
knee_t2 phantom -o "$work/val" --anatomy "$labels/right_knee_example.nrrd" --cases 4 --seed 9000
knee_t2 train "$work/train" --validation "$work/val" -o "$work/bootstrap_femoral_cartilage_v3.safetensors" \
    --epochs 16 --max-minutes 50 --levels 5 --base-filters 16 --crop-size 128 --batch-size 8 \
    --pixel-spacing 0.5 --network-size 320 --threads 2 --seed 0 \
    --name knee-t2-bootstrap --version 3 \
    --description "Bootstrap 2D U-Net (5 levels, 16 base filters, batch norm) for femoral cartilage on sagittal MESE, trained on digital phantoms" \
    --training-data "64 digital MESE phantoms (knee-t2 phantom) of one real knee anatomy (mskt right_knee_example.nrrd, OAI 3D DESS labels), OAI and GE protocols, both sides: seeds 1000-1031 with the default anatomical variety and seeds 2000-2031 with wider variety (deformation 4.5 mm, scale +-15%, rotation +-12 deg); femoral cartilage thickness varied by a smooth random field within +-1 mm in all 64; validation: 4 phantoms seeds 9000-9003 of the same anatomy. Not trained on any real MESE image."
resources="$repo/KneeCartilageT2/KneeCartilageT2Lib/Resources"
cp "$work/bootstrap_femoral_cartilage_v3.safetensors" "$work/bootstrap_femoral_cartilage_v3.json" "$resources/"
"$python" "$repo/benchmarks/bench_bootstrap_model.py" --model "$resources/bootstrap_femoral_cartilage_v3.safetensors"
