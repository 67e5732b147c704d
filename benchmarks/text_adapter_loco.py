"""Is the text adapter better than the plain MiniLM vector, and does it hold on a corpus it never saw?

Two measurements of the ``minilm_emotion`` front-end, each against the baseline
it replaces: a logistic regression (C = 1) on plain ``minilm_sentence`` vectors of the very same
training texts (the seeded draw ``xmer pretrain text`` makes: at most 600 per class and corpus). Both
are read through a linear layer, the adapter's own head and the regression, so the columns differ
only in the front-end.

- Without ``--leave``: the shipped adapter (trained on every corpus) against the probe, on each
  corpus's validation draw (at most 600 texts, the draw the adapter's training scored); UA (the mean
  of the per-class recalls), so that neutral-heavy corpora do not hide the emotions.
- ``--leave CORPUS ...``: for each, an adapter trained afresh on every *other* corpus (same settings
  as the shipped one) and a probe on the same texts, both reading the whole left-out corpus (all
  splits); ``a+b`` leaves two corpora out together (MELD and EmoryNLP are one TV show), and every
  training text that is also a text of the corpora left out is dropped from both. The shipped adapter saw every corpus, so ``benchmarks/loco.py`` cannot measure this.
  5-10 minutes a corpus on 2 cores.

Run after ``SKIP_TRAIN=1 recipes/default_model.sh``::

    python benchmarks/text_adapter_loco.py [--leave emorynlp dailydialog] [--work data/default] [--json out.json]

Ends with ``text_adapter_valid_mean_ua=<adapter>/<probe>`` or ``text_adapter_loco_<corpus>=<adapter
acc>/<probe acc>`` (%).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

CORPORA = ("goemotions", "meld", "semeval2018-ec", "xed", "emorynlp", "dailydialog", "isear", "wassa2017", "composite_full")


def fit_probe(training: list[Path], per_class: int = 600, seed: int = 0, left_out: list[Path] = ()):
    """A logistic regression on plain minilm_sentence vectors of the texts the adapter trains on."""
    from sklearn.linear_model import LogisticRegression

    from xmer.data.overlap import text_key
    from xmer.features.text import MiniLMSentence
    from xmer.training.text_adapter import balanced, held_out_texts, labelled_texts

    plain = MiniLMSentence()
    rng = np.random.default_rng(seed)  # train_text_adapter's draw: one balanced() per corpus, in order
    held_out = held_out_texts(training) | held_out_texts(list(left_out), ("train", "valid", "test"))
    x, y = [], []
    for root in training:
        texts, labels, _ = labelled_texts(root, "train")
        clean = [i for i, t in enumerate(texts) if text_key(t) not in held_out]  # as the adapter's training drops them
        texts, labels = [texts[i] for i in clean], labels[clean]
        chosen = balanced(labels, per_class, rng)
        x.append(np.concatenate(plain.many([texts[i] for i in chosen], batch_size=64)))
        y.append(labels[chosen])
    probe = LogisticRegression(C=1.0, max_iter=3000).fit(np.concatenate(x), np.concatenate(y))
    return lambda texts: probe.predict(np.concatenate(plain.many(texts, batch_size=64)))


def adapter_head(path: Path):
    """texts -> the adapter's own head's predictions (it reads the mean of the states before normalising)."""
    import torch

    from xmer.features.text import MiniLMEmotion
    from xmer.features.text_adapter import load_adapter, mean_pooled

    adapted = MiniLMEmotion(adapter=path)  # MiniLM with the adapter merged in
    tensors, _ = load_adapter(path)
    head = torch.nn.Linear(tensors["head.weight"].shape[1], tensors["head.weight"].shape[0])
    head.load_state_dict({"weight": tensors["head.weight"], "bias": tensors["head.bias"]})

    def predict(texts: list[str]) -> np.ndarray:
        with torch.no_grad():
            out = [head(mean_pooled(adapted.model, adapted.tokenizer, texts[i : i + 64])).argmax(-1).numpy()
                   for i in range(0, len(texts), 64)]
        return np.concatenate(out)

    return predict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", default="data/default", help="folder of the prepared datasets")
    parser.add_argument("--leave", nargs="+", default=[], metavar="CORPUS[+CORPUS]",
                        help="corpora to leave out in turn; a+b leaves two out together (meld+emorynlp: one TV show)")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()

    import torch

    from xmer.features.text_adapter import ADAPTER_PATH
    from xmer.evaluation.metrics import unweighted_accuracy
    from xmer.training.text_adapter import VALID_PER_DATASET, labelled_texts, train_text_adapter

    torch.set_num_threads(2)
    work = Path(args.work)
    rows = []
    if not args.leave:
        started = time.time()
        probe, adapter = fit_probe([work / c for c in CORPORA]), adapter_head(ADAPTER_PATH)
        for corpus in CORPORA:
            texts, labels, _ = labelled_texts(work / corpus, "valid")
            chosen = np.random.default_rng(1).permutation(len(labels))[:VALID_PER_DATASET]  # the training's draw
            texts, labels = [texts[i] for i in chosen], labels[chosen]
            rows.append({"corpus": corpus, "n": len(labels), "adapter_ua": unweighted_accuracy(labels, adapter(texts)),
                         "probe_ua": unweighted_accuracy(labels, probe(texts))})
        print(f"\nvalidation UA, shipped adapter vs plain-vector probe ({time.time() - started:.0f} s)\n")
        print("| corpus (validation) | n | adapter UA | minilm_sentence probe UA |\n| :-- | --: | --: | --: |")
        for r in rows:
            print(f"| {r['corpus']} | {r['n']} | {100 * r['adapter_ua']:.1f} | {100 * r['probe_ua']:.1f} |")
        means = [100 * np.mean([r[k] for r in rows]) for k in ("adapter_ua", "probe_ua")]
        summary = f"text_adapter_valid_mean_ua={means[0]:.1f}/{means[1]:.1f}"
    for left in args.leave:
        group = left.split("+")
        unknown = [c for c in group if c not in CORPORA or c == "composite_full"]
        if unknown:
            parser.error(f"--leave {left}: unknown corpus {unknown[0]}; choose from {', '.join(CORPORA[:-1])}")
        started = time.time()
        training = [work / c for c in CORPORA if c not in group]
        left_roots = [work / c for c in group]
        with tempfile.TemporaryDirectory() as out:
            record = train_text_adapter(training, Path(out), progress=lambda line: None, left_out=left_roots)
            adapter = adapter_head(Path(out) / "text_adapter.safetensors")
        probe = fit_probe(training, left_out=left_roots)
        texts, labels = [], []
        for root in left_roots:
            for split in ("train", "valid", "test"):
                t, y, _ = labelled_texts(root, split)
                texts += t
                labels.append(y)
        y_left = np.concatenate(labels)
        a, p = adapter(texts), probe(texts)
        rows.append({"left_out": left, "n": len(y_left), "classes": len(np.unique(y_left)),
                     "adapter_accuracy": float((a == y_left).mean()), "adapter_ua": unweighted_accuracy(a, y_left),
                     "probe_accuracy": float((p == y_left).mean()), "probe_ua": unweighted_accuracy(p, y_left),
                     "adapter_valid_mean_ua": record["valid_mean_ua"], "seconds": round(time.time() - started)})
        print(json.dumps(rows[-1]), flush=True)
    if args.leave:
        print("\n| left out | n | classes | adapter acc | adapter UA | minilm_sentence probe acc | probe UA |")
        print("| :-- | --: | --: | --: | --: | --: | --: |")
        for r in rows:
            print(f"| {r['left_out']} | {r['n']:,} | {r['classes']} | {100 * r['adapter_accuracy']:.1f} | "
                  f"{100 * r['adapter_ua']:.1f} | {100 * r['probe_accuracy']:.1f} | {100 * r['probe_ua']:.1f} |")
        summary = " ".join(f"text_adapter_loco_{r['left_out']}={100 * r['adapter_accuracy']:.1f}/{100 * r['probe_accuracy']:.1f}" for r in rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    print(summary)


if __name__ == "__main__":
    main()
