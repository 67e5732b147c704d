"""Text predictions one at a time, in batches, and in batches with the text front-end in bfloat16:
speed per text, and how much the answers change.

    python benchmarks/text_precision.py [--data data/default/goemotions data/default/meld ...]
                                        [--per-corpus 500] [--model DIR]

Texts are the test split of each prepared dataset given (``xmer prepare``; their ``manifest.jsonl``
holds the text), ``--per-corpus`` from each; without ``--data``, 200 sentences made from a few
templates (speed only: no labels). The default model unless ``--model``. One torch thread.

Prints, for float32 alone (the reference: what ``xmer predict`` does), float32 in batches of 32 and
bfloat16 in batches of 32: ms per text, then for each batched way the share of texts whose predicted
label differs from the reference, the largest difference of a probability, and accuracy where the
texts have labels. The last line is machine-readable:
``single_ms=<a> batch_ms=<b> bf16_ms=<c> bf16_changed=<share> bf16_max_diff=<d>``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))


def texts_of(folders: list[str], per_corpus: int) -> tuple[list[str], list[str | None]]:
    texts, labels = [], []
    for folder in folders:
        rows = [json.loads(line) for line in (Path(folder) / "manifest.jsonl").read_text().splitlines() if line.strip()]
        rows = [r for r in rows if r.get("split") == "test" and isinstance(r.get("media", {}).get("text"), str)]
        for row in rows[:per_corpus]:
            texts.append(row["media"]["text"])
            labels.append(row.get("label") if isinstance(row.get("label"), str) else None)
        print(f"{folder}: {min(len(rows), per_corpus)} test texts", flush=True)
    return texts, labels


def synthetic_texts(n: int) -> list[str]:
    subjects = ["I", "My brother", "The team", "Everyone here", "She"]
    verbs = ["cannot believe", "am so happy about", "is furious about", "is scared of", "feels nothing about"]
    objects = ["the news today", "what happened at the station last night", "the results", "this long wait in the rain"]
    return [f"{subjects[i % 5]} {verbs[(i // 5) % 5]} {objects[(i // 25) % 4]}." for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="*", default=[], help="prepared dataset folders with texts")
    parser.add_argument("--per-corpus", type=int, default=500)
    parser.add_argument("--model", help="model folder (default: xmer's default model)")
    args = parser.parse_args()

    import torch

    from xmer.features.text import bf16_native
    from xmer.inference import Recognizer

    torch.set_num_threads(1)
    recognizer = Recognizer.load(args.model)
    texts, labels = texts_of(args.data, args.per_corpus) if args.data else (synthetic_texts(200), [None] * 200)
    print(f"{len(texts)} texts; bfloat16 native on this CPU: {bf16_native()}", flush=True)
    recognizer.predict_texts(texts[:4]), recognizer.predict_texts(texts[:4], bf16=True)  # warm up

    def timed(fn):
        started = time.perf_counter()
        out = fn()
        return out, 1000 * (time.perf_counter() - started) / len(texts)

    single, single_ms = timed(lambda: [recognizer.predict_media(text=t) for t in texts])
    batch, batch_ms = timed(lambda: [p for i in range(0, len(texts), 32) for p in recognizer.predict_texts(texts[i : i + 32])])
    bf16, bf16_ms = timed(lambda: [p for i in range(0, len(texts), 32) for p in recognizer.predict_texts(texts[i : i + 32], bf16=True)])

    def compare(name: str, ms: float, predictions) -> tuple[float, float]:
        changed = sum(a.prediction != b.prediction for a, b in zip(single, predictions)) / len(texts)
        diff = max(abs(a.probabilities[k] - b.probabilities[k]) for a, b in zip(single, predictions) for k in a.probabilities)
        known = [(p, y) for p, y in zip(predictions, labels) if y in recognizer.labels]
        accuracy = f", accuracy {100 * sum(p.prediction == y for p, y in known) / len(known):.2f}%" if known else ""
        print(f"{name}: {ms:.2f} ms per text; predicted label changed for {100 * changed:.2f}% of texts, "
              f"largest probability difference {diff:.4f}{accuracy}")
        return changed, diff

    compare("float32, one at a time (reference)", single_ms, single)
    compare("float32, batches of 32", batch_ms, batch)
    changed, diff = compare("bfloat16, batches of 32", bf16_ms, bf16)
    print(f"single_ms={single_ms:.2f} batch_ms={batch_ms:.2f} bf16_ms={bf16_ms:.2f} bf16_changed={changed:.4f} bf16_max_diff={diff:.4f}")


if __name__ == "__main__":
    main()
