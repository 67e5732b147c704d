"""Leave-one-corpus-out generalisation of xmer's speech and text front-ends.

For each corpus of a modality: train a classifier on every *other* corpus of that modality (their
train splits, without any item of the corpus left out; C chosen on their valid splits), then score
the whole left-out corpus (all splits; MELD and EmoryNLP, one TV show, are left out together),
on the Ekman-7 classes it shares with the training corpora (the prediction is the most probable of
those; speech: RAVDESS and URDU share angry, happy, neutral and sad). Each training corpus
contributes at most 5,000 training samples (a seeded subset; ``--most``), so that GoEmotions does not
outweigh the rest and the fits take minutes. This asks what a user
asks: does it work on recordings, speakers and writers it never saw? Reported with the chance rate
(1 / classes) and the majority-class rate of the left-out corpus.

The classifier is a multinomial logistic regression (scikit-learn) on the front-end's clip- or
sentence-level vector (``whisper_stats``: mean and std of Whisper tiny.en encoder states;
``minilm_sentence``: the MiniLM sentence embedding), standardised on the training corpora, with
balanced class weights: a linear probe, so the table measures the front-ends, not a tuned model.
(Faces: FER2013 is the only face corpus here, and the composite's faces are FER2013's, so no
face corpus can be left out; the model card reports FER2013 PrivateTest instead.)

Run on datasets prepared and extracted with the plain MiniLM vectors (the shipped text adapter saw
every text corpus, so its features cannot be probed this way: ``benchmarks/text_adapter_loco.py``
leaves corpora out of the adapter itself)::

    TEXT=minilm_sentence SKIP_TRAIN=1 recipes/default_model.sh ../shared/data data/default_sentence
    python benchmarks/loco.py --work data/default_sentence [--json out.json]

Speech front-ends can be compared with ``--speech whisper egemaps both``: ``egemaps`` is the 88
eGeMAPSv02 functionals of openSMILE per clip, ``both`` the two vectors side by side (856 values). The
functionals are computed from each clip's audio file on the first run and kept in ``--cache``
(default ``data/loco_cache``; 400-4,500 clips per corpus, about 20 clips a second on one core)::

    python benchmarks/loco.py --work data/default --only speech --speech both --normalise none corpus speaker

It prints one Markdown table per modality and ends with ``loco_speech_min_x_chance=<x>
loco_text_min_x_chance=<y>`` (the worst left-out corpus's accuracy as a multiple of its chance rate).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from xmer.data.dataset import PreparedDataset
from xmer.data.labels import EKMAN7
from xmer.evaluation.metrics import unweighted_accuracy

SPEECH = (("ravdess",), ("urdu",), ("nemo",), ("emospeech",))
TEXT = (("goemotions",), ("meld", "emorynlp"), ("semeval2018-ec",), ("xed",), ("dailydialog",), ("isear",), ("wassa2017",))
"""Corpora left out in turn; a group is left out together (MELD and EmoryNLP are transcripts of one TV show)."""


def egemaps_functionals(root: Path, cache: Path) -> dict[str, np.ndarray]:
    """Record id -> the 88 eGeMAPSv02 functionals of its audio file (the ``egemaps_stats``
    extractor), for every record of a prepared dataset with a readable one; computed once and kept
    in ``cache/<dataset>.npz``."""
    from xmer.errors import DataError
    from xmer.features import ModalityAbsent, get_extractor

    path = cache / f"{root.name}.npz"
    if not path.is_file():
        extractor = get_extractor("egemaps_stats")
        ids, rows = [], []
        for r in PreparedDataset.open(root).records:
            if r.get("media", {}).get("audio"):
                try:
                    rows.append(extractor(r["media"]["audio"])[0])
                    ids.append(r["id"])
                except (ModalityAbsent, DataError) as error:
                    print(f"{r['id']}: no functionals ({error})")
        cache.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".tmp"), "wb") as f:
            np.savez(f, ids=np.asarray(ids), X=np.stack(rows))
        path.with_suffix(".tmp").replace(path)
    saved = np.load(path)
    return dict(zip(saved["ids"].tolist(), saved["X"]))


def vectors(root: Path, modality: str, splits=("train", "valid", "test"), speech: str = "whisper",
            cache: Path = Path("data/loco_cache")) -> dict[str, tuple[np.ndarray, np.ndarray, list]]:
    """split -> (X (N, D), y (N,) Ekman-7 indices, item keys (N,)) of one prepared Ekman-7 dataset's
    one-step features; the keys (:mod:`xmer.data.overlap`; None where a record has none) let the
    training corpora drop the items of the corpus left out. ``speech``: ``whisper`` (the stored
    features), ``egemaps`` (eGeMAPS functionals) or ``both`` (side by side)."""
    from xmer.data.overlap import keyed

    data = PreparedDataset.open(root)
    if tuple(data.labels) != tuple(EKMAN7.labels):
        raise SystemExit(f"{root}: labels {data.labels}; prepare it with --label-space ekman7")
    if data.extractor(modality).startswith("minilm_emotion"):
        # The shipped emotion adapter was trained on every text corpus here: none is left out of it.
        raise SystemExit(f"{root}: text features by {data.extractor(modality)}, whose adapter saw every corpus; "
                         "leave-one-out of the adapter is benchmarks/text_adapter_loco.py, and this probe needs "
                         "minilm_sentence features: TEXT=minilm_sentence SKIP_TRAIN=1 recipes/default_model.sh ../shared/data DIR, "
                         "then --work DIR")
    functionals = egemaps_functionals(root, cache) if modality == "audio" and speech != "whisper" else None
    out = {}
    for split in splits:
        records = [r for r in data.split(split) if modality in r["modalities"] and data.store.has(r["id"], modality)
                   and (functionals is None or r["id"] in functionals)]
        keys = [k.get(modality) for k in keyed(records, data, modalities=[modality]).keys]
        if functionals is not None and speech == "egemaps":
            xs = [functionals[r["id"]] for r in records]
        else:
            xs = [data.read_features(r)[modality].mean(0) for r in records]  # one-step features: the vector itself
            if functionals is not None:
                xs = [np.concatenate([x, functionals[r["id"]]]) for x, r in zip(xs, records)]
        if xs:
            out[split] = (np.stack(xs), np.asarray([data.encode_label(r) for r in records]), keys,
                          [speaker_of(r) for r in records])
    return out


def speaker_of(record: dict) -> str:
    """The record's speaker (EmoSpeech: the app user's hash, the last part of its id)."""
    if record.get("speaker"):
        return str(record["speaker"])
    return record["id"].rsplit("-", 1)[-1] if record["source"] == "emospeech" else record["source"]


def _halves_z(x: np.ndarray) -> np.ndarray:
    """Each half of a mean+std vector (Whisper states' means, their stds) standardised across its own values."""
    half = x.shape[1] // 2
    parts = [x[:, :half], x[:, half:]]
    return np.concatenate([(p - p.mean(1, keepdims=True)) / (p.std(1, keepdims=True) + 1e-6) for p in parts], 1)


CLIP = {
    "clip_std": lambda x: x[:, x.shape[1] // 2:],  # the per-utterance spread only: levels removed
    "clip_z": _halves_z,
}
"""Per-clip transforms of a mean+std vector: they need no other clip, so a single prediction can use them."""


def normalised(data: dict, how: str) -> dict:
    """Each corpus's vectors standardised on its own statistics (``corpus``: all its clips; ``speaker``:
    each speaker's clips), as a deployment that sees many clips of one source could; ``none``: as is;
    ``match``: as is here, and the corpus left out is brought to the training corpora's mean and
    spread at test time (:func:`leave_one_out`): adapting to a new source without retraining."""
    if how in ("none", "match"):
        return data
    if how in CLIP:
        return {c: {split: (CLIP[how](x), y, keys, speakers) for split, (x, y, keys, speakers) in splits.items()}
                for c, splits in data.items()}
    out = {}
    for corpus, splits in data.items():
        groups: dict[str, list] = {}
        for split, (x, _, _, speakers) in splits.items():
            for i, s in enumerate(speakers):
                groups.setdefault(corpus if how == "corpus" else s, []).append(x[i])
        stats = {g: (np.mean(v, 0), np.std(v, 0) + 1e-6) for g, v in groups.items()}
        out[corpus] = {}
        for split, (x, y, keys, speakers) in splits.items():
            g = [corpus if how == "corpus" else s for s in speakers]
            out[corpus][split] = (np.stack([(row - stats[k][0]) / stats[k][1] for row, k in zip(x, g)]), y, keys, speakers)
    return out


def cap(x: np.ndarray, y: np.ndarray, most: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """At most ``most`` rows, a seeded random subset (keeps the fits to minutes on 2 cores)."""
    if len(y) <= most:
        return x, y
    rows = np.random.default_rng(seed).choice(len(y), most, replace=False)
    return x[rows], y[rows]


def leave_one_out(work: Path, groups: tuple[tuple[str, ...], ...], modality: str, most: int = 5000, normalise: str = "none",
                  speech: str = "whisper", cache: Path = Path("data/loco_cache")) -> list[dict]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    found = {g: [c for c in g if (work / c / "dataset.json").is_file()] for g in groups}
    data = normalised({c: vectors(work / c, modality, speech=speech, cache=cache) for g in found.values() for c in g}, normalise)
    rows = []
    for group, corpora in found.items():
        if not corpora:
            continue
        left = "+".join(corpora)
        others = [c for c in data if c not in corpora]
        # no item of the corpus left out may be learnt from another corpus (MELD lines are in EmoryNLP, ...)
        held = {k for c in corpora for _, _, keys, _ in data[c].values() for k in keys if k}
        kept = lambda x, y, keys, _=None: (x[[k not in held for k in keys]], y[[k not in held for k in keys]])  # noqa: E731
        train = [cap(*kept(*data[c]["train"]), most) for c in others if "train" in data[c]]
        valid = [kept(*data[c]["valid"]) for c in others if "valid" in data[c]]
        x_train, y_train = np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train])
        scaler = StandardScaler().fit(x_train)
        best = None
        for c in (0.01, 0.1, 1.0):  # chosen on the other corpora's valid splits, never on the left-out one
            clf = LogisticRegression(C=c, max_iter=3000, class_weight="balanced").fit(scaler.transform(x_train), y_train)
            score = np.mean([(clf.predict(scaler.transform(x)) == y).mean() for x, y in valid]) if valid else 0.0
            if best is None or score > best[0]:
                best = (score, c, clf)
        _, c, clf = best
        x_test = np.concatenate([x for c in corpora for x, *_ in data[c].values()])
        y_test = np.concatenate([y for c in corpora for _, y, *_ in data[c].values()])
        if normalise == "match":  # the new source's mean and spread moved onto the training corpora's
            x_test = (x_test - x_test.mean(0)) / (x_test.std(0) + 1e-6) * x_train.std(0) + x_train.mean(0)
        shared = np.isin(y_test, clf.classes_)  # only classes the training corpora teach can be scored
        x_test, y_test = x_test[shared], y_test[shared]
        classes = np.unique(y_test)
        proba = clf.predict_proba(scaler.transform(x_test))  # (N, classes seen in training)
        columns = [list(clf.classes_).index(k) for k in classes]
        pred = classes[proba[:, columns].argmax(1)]
        acc = float((pred == y_test).mean())
        ua = unweighted_accuracy(y_test, pred)
        majority = float(np.bincount(y_test).max() / len(y_test))
        called_neutral = [(pred[y_test == k] == EKMAN7.labels.index("neutral")).mean() for k in classes
                          if EKMAN7.labels[k] != "neutral"] if EKMAN7.labels.index("neutral") in classes else []
        rows.append({
            "left_out": left, "normalise": normalise, "front_end": speech if modality == "audio" else "minilm_sentence",
            "neutral_called": float(np.mean(called_neutral)) if called_neutral else None, "n": int(len(y_test)), "classes": [EKMAN7.labels[k] for k in classes],
            "trained_on": others, "C": c, "accuracy": acc, "unweighted_accuracy": ua,
            "chance": 1 / len(classes), "majority": majority, "x_chance": acc * len(classes),
        })
    return rows


def table(rows: list[dict], title: str) -> str:
    lines = [f"**{title}**", "", "| left out | n | classes | accuracy | UA | chance | majority | x chance | emotional called neutral |",
             "| :-- | --: | --: | --: | --: | --: | --: | --: | --: |"]
    for r in rows:
        neutral = "" if r.get("neutral_called") is None else f"{100 * r['neutral_called']:.1f}"
        lines.append(f"| {r['left_out']} | {r['n']:,} | {len(r['classes'])} | {100 * r['accuracy']:.1f} | "
                     f"{100 * r['unweighted_accuracy']:.1f} | {100 * r['chance']:.1f} | {100 * r['majority']:.1f} | {r['x_chance']:.2f} | {neutral} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", default="data/default", help="folder of prepared, extracted Ekman-7 datasets")
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--most", type=int, default=5000, help="training samples per corpus at most (seeded subset)")
    parser.add_argument("--only", choices=("speech", "text"), help="one modality only")
    parser.add_argument("--normalise", choices=("none", "corpus", "speaker", "match", *CLIP), nargs="+", default=["none"],
                        help="speech: standardise each corpus's vectors on its own (corpus) or each speaker's (speaker) statistics; "
                             "match: train as is and bring the corpus left out to the training corpora's mean and spread")
    parser.add_argument("--speech", choices=("whisper", "egemaps", "both"), nargs="+", default=["whisper"],
                        help="speech front-end: whisper_stats as stored, eGeMAPS functionals, or both side by side")
    parser.add_argument("--cache", default="data/loco_cache", help="where eGeMAPS functionals are kept between runs")
    args = parser.parse_args()
    work = Path(args.work)
    started = time.perf_counter()
    speech, text = [], []
    if args.only != "text":
        for front_end in args.speech:
            for how in args.normalise:
                rows = leave_one_out(work, SPEECH, "audio", args.most, how, front_end, Path(args.cache))
                speech += rows
                print(table(rows, f"Speech ({front_end}, {how} normalisation), leave one corpus out"), flush=True)
                print()
    if args.only != "speech":
        text = leave_one_out(work, TEXT, "text", args.most)
        print(table(text, "Text (minilm_sentence), leave one corpus out"))
    print(f"\n({time.perf_counter() - started:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps({"speech": speech, "text": text}, indent=1))
    worst = lambda rows: min((r["x_chance"] for r in rows), default=float("nan"))  # noqa: E731
    print(f"loco_speech_min_x_chance={worst(speech):.2f} loco_text_min_x_chance={worst(text):.2f}")


if __name__ == "__main__":
    main()
