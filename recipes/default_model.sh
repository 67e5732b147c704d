#!/usr/bin/env bash
# Rebuild xmer's default model from the real data in ../shared/data (docs/default_model.md says why).
#   recipes/default_model.sh [DATA_ROOT] [WORK]      (defaults: ../shared/data, data/default)
# Steps: prepare the composite benchmark and every Ekman-7 release (RAVDESS twice: as released, and with the
# words xmer hears in each clip), extract the default front-ends
# (faces: fer; speech: whisper_egemaps, Whisper states and eGeMAPS functionals side by side; text: minilm_emotion,
# MiniLM with the shipped emotion adapter), train configs/default_model.yaml (speech standardised per corpus),
# evaluate on the composite test split; then seeds 2..ENSEMBLE (default 3: the shipped model) of the
# same config and one ensemble folder of them all (RUN_ensemble), evaluated; ship it with
#   xmer export runs/default_model_ensemble --out src/xmer/assets/default_model --overwrite
# Resumable: a prepared dataset is kept, extraction skips what is done, training resumes. A WORK folder made
# before the speech front-end changed holds whisper_stats features, which extract refuses to mix: use a new WORK.
set -euo pipefail
ROOT=${1:-../shared/data}
WORK=${2:-data/default}
XMER=${XMER:-xmer}
WORKERS=${WORKERS:-2}
ENSEMBLE=${ENSEMBLE:-3}   # seeds of the shipped ensemble
TEXT=${TEXT:-minilm_emotion}  # TEXT=minilm_sentence into another WORK: the plain vectors benchmarks/loco.py probes
SPEECH=${SPEECH:-whisper_egemaps}
FRONT="visual=fer,audio=$SPEECH,text=$TEXT"
# The text adapter (src/xmer/assets/text_adapter.safetensors) was trained on the prepared text sets below with
#   xmer pretrain text --data $WORK/{goemotions,meld,semeval2018-ec,xed,emorynlp,dailydialog,isear,wassa2017,composite_full} --out DIR --threads 2
# (text_adapter.json beside it has the exact command and scores); copy DIR's two files into src/xmer/assets to ship another.
# It leaves out every training text that is a valid or test text of any of those sets. The face front-end
# (src/xmer/assets/visual_frontend.safetensors) was trained with
#   xmer pretrain visual --raw $ROOT/fer2013 --out DIR --epochs 30 --threads 1
# which leaves out FER2013 Training's copies of PublicTest and PrivateTest faces (visual_frontend.json).
# Check the mixture once extracted: xmer audit --config configs/default_model.yaml (exit 0: no valid or
# test item among the training records; the run log and metrics.json say what each source dropped).
mkdir -p "$WORK"

prepare() {  # prepare SOURCE RELEASE_DIR [options...]  (into $WORK/SOURCE; the composite into $WORK/composite_full)
  local source=$1 release=$2; shift 2
  local out="$WORK/$(folder "$source")"
  [ -f "$out/dataset.json" ] || $XMER prepare "$source" --raw "$ROOT/$release" --out "$out" "$@"
}
folder() { if [ "$1" = composite ]; then echo composite_full; else echo "$1"; fi; }
extract() {  # extract SOURCE MODALITY=EXTRACTOR,...
  $XMER extract --data "$WORK/$(folder "$1")" --extractors "$2" --workers "$WORKERS" --keep-going
}

prepare composite . --train-per-class -1
extract composite "$FRONT"
prepare fer2013 fer2013 --label-space ekman7
extract fer2013 visual=fer
for s in ravdess urdu nemo; do prepare $s $s --label-space ekman7; extract $s audio=$SPEECH; done
prepare emospeech indian_emospeech --label-space ekman7
extract emospeech audio=$SPEECH
# RAVDESS again, each clip with the words xmer hears in it (Whisper tiny.en, judged): real voice+words pairs (~8 min)
[ -f "$WORK/ravdess_heard/dataset.json" ] || $XMER prepare ravdess --raw "$ROOT/ravdess" --out "$WORK/ravdess_heard" --label-space ekman7 --transcribe
$XMER extract --data "$WORK/ravdess_heard" --extractors "audio=$SPEECH,text=$TEXT" --workers "$WORKERS" --keep-going
prepare semeval2018-ec semeval2018_ec --label-space ekman7
prepare wassa2017 wassa2017 --label-space ekman7 --dedupe-against "$ROOT/semeval2018_ec"
prepare dailydialog dailydialog_reccon --label-space ekman7
for s in goemotions meld xed emorynlp isear; do prepare $s $s --label-space ekman7; done
for s in semeval2018-ec wassa2017 dailydialog emorynlp isear meld xed goemotions; do extract $s text=$TEXT; done
if [ "${SKIP_TRAIN:-0}" = 1 ]; then exit 0; fi
RUN=${RUN:-runs/default_model}   # the shipped model: configs/default_model.yaml as is (seed 1)
RESUME=""; [ -f "$RUN/model.json" ] && RESUME=--resume   # continue a killed run; --resume refuses a folder that is not one
$XMER train --config configs/default_model.yaml --out "$RUN" $RESUME
$XMER evaluate "$RUN" --split test
# Seeds 2..ENSEMBLE of the same config, and one model folder averaging them all (calibrated on
# validation at export; the shipped default model is ENSEMBLE=3: docs/default_model.md). ENSEMBLE=1: one run.
if [ "$ENSEMBLE" -gt 1 ]; then
  runs=("$RUN")
  for seed in $(seq 2 "$ENSEMBLE"); do
    r="${RUN}_seed$seed"; resume=""; [ -f "$r/model.json" ] && resume=--resume
    $XMER train --config configs/default_model.yaml --set train.seed=$seed --out "$r" $resume
    runs+=("$r")
  done
  $XMER export "${runs[@]}" --out "${RUN}_ensemble" --overwrite
  $XMER evaluate "${RUN}_ensemble" --split test
fi
