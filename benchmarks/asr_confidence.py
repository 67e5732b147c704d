"""When are Whisper tiny.en's words worth reading? Its own confidence on four speech corpora.

xmer transcribes speech with Whisper tiny.en, an English-only model: on Polish, Urdu or Hindi speech
it writes fluent English nonsense, or nothing. :func:`xmer.features.asr.judge` keeps, down-weights
or drops a clip's transcript from the recogniser's own confidence (its mean token log-probability,
its no-speech probability, how repetitive the text is). This benchmark shows the numbers behind the
rule: for validation clips of each prepared speech corpus it prints the distribution of the clip's
mean log-probability and no-speech probability, and how often the rule keeps, down-weights or drops
the transcript. For corpora whose manifest holds the spoken words (RAVDESS's two sentences, nEMO's
Polish transcripts, EmoSpeech's keyword) it prints the word error rate of the kept transcripts.

    python benchmarks/asr_confidence.py data/default/ravdess data/default/urdu data/default/nemo data/default/emospeech [--clips 60]

Ends with one line per corpus: ``corpus=... kept=... down_weighted=... dropped=... wer_kept=...``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from analyze import wer  # the word error rate benchmarks/analyze.py reports (same folder)

RAVDESS_SENTENCES = {"01": "kids are talking by the door", "02": "dogs are sitting by the door"}


def spoken_words(record: dict) -> str | None:
    """The words a clip holds, when its corpus says (RAVDESS: the statement code in its file name)."""
    audio = Path(record["media"]["audio"]).stem
    if record["source"] == "ravdess":
        return RAVDESS_SENTENCES.get(audio.split("-")[4])
    text = record["media"].get("text")
    return text if isinstance(text, str) else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+", type=Path, help="prepared speech datasets (xmer prepare ...)")
    parser.add_argument("--clips", type=int, default=60, help="validation clips per corpus (seeded draw)")
    parser.add_argument("--split", default="valid")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from xmer.data.dataset import PreparedDataset
    from xmer.features.asr import get_transcriber
    from xmer.features.audio import load_audio

    transcriber = get_transcriber()
    lines = []
    for folder in args.datasets:
        data = PreparedDataset.open(folder)
        records = [r for r in data.split(args.split) if "audio" in r["modalities"]]
        rng = np.random.default_rng(0)
        chosen = [records[i] for i in sorted(rng.choice(len(records), min(args.clips, len(records)), replace=False))]
        start = time.perf_counter()
        heard = [transcriber.hear(load_audio(r["media"]["audio"])) for r in chosen]
        seconds = time.perf_counter() - start
        logprob = np.array([h.avg_logprob for h in heard if h.utterances])
        no_speech = np.array([h.no_speech_prob for h in heard if h.utterances])
        decisions = [h.decision for h in heard]
        errors = [wer(spoken_words(r), h.text) for r, h in zip(chosen, heard) if h.decision != "drop" and spoken_words(r)]
        errors = [e / max(n, 1) for e, n in errors]
        name = data.info.name
        print(f"\n{name}: {len(chosen)} {args.split} clips, {seconds:.1f} s")
        if logprob.size:
            print(f"  mean log-probability (clips with words): quartiles {np.percentile(logprob, [25, 50, 75]).round(2).tolist()}")
            print(f"  no-speech probability: quartiles {np.percentile(no_speech, [25, 50, 75]).round(2).tolist()}")
        for h, r in list(zip(heard, chosen))[:3]:
            print(f"  e.g. {h.decision:>11}  {h.text[:60]!r}  ({h.reason})")
        wer_text = f"{np.mean(errors):.2f}" if errors else "n/a"
        lines.append(f"corpus={name} clips={len(chosen)} kept={decisions.count('keep')} "
                     f"down_weighted={decisions.count('down-weight')} dropped={decisions.count('drop')} wer_kept={wer_text}")
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
