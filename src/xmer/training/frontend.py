"""Training the visual front-end (the FER2013 face CNN of :mod:`xmer.features.frontend`).

FER2013's official split is used as the challenge defined it: Training to fit, PublicTest to select
the epoch, PrivateTest read once at the end; Training's copies of PublicTest and PrivateTest faces
(the same pixels) are left out of fitting. Writes ``visual_frontend.safetensors`` (float16 state dict) and
``visual_frontend.json`` (data, accuracy, epochs, seed, command, time) into the output folder; copying both
into ``src/xmer/assets/`` makes them the shipped front-end (see docs/visual_frontend.md).

The CSV (2304 space-separated ints a row) is decoded once into a uint8 array cached outside the
repository (``--cache``, default the system temp folder); a second run starts in a second.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from xmer.errors import DataError

FER_SPLITS = ("Training", "PublicTest", "PrivateTest")


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def _csv_path(raw: str | Path) -> Path:
    raw = Path(raw)
    candidates = [raw] if raw.is_file() else [raw / "fer2013.csv", raw / "fer2013.csv.gz", raw / "fer2013" / "fer2013.csv"]
    for path in candidates:
        if path.is_file():
            return path
    raise DataError(f"FER2013 not found: expected fer2013.csv or fer2013.csv.gz in {raw}")


def data_source(raw: str | Path) -> dict:
    """Which file the data came from: name, size and sha256 (for the provenance record)."""
    path = _csv_path(raw)
    return {"dataset": "FER2013 (ICML 2013 challenge release)", "file": path.name,
            "bytes": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def load_fer2013(raw: str | Path, cache_dir: str | Path | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """FER2013's three official splits as uint8 faces (N, 48, 48) and int64 labels (N,).

    The decoded arrays are cached in ``cache_dir`` (default: the system temp folder), keyed by the
    CSV's path, size and modification time, so the 300 MB of text is parsed only once.

    Raises:
        DataError: the CSV is missing, or a row is malformed (the message names the line).
    """
    path = _csv_path(raw)
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    cache = Path(cache_dir or Path(tempfile.gettempdir()) / "xmer-cache") / f"fer2013-{key}.npz"
    if cache.is_file():
        blob = np.load(cache)
        return {s: (blob[f"{s}_x"], blob[f"{s}_y"]) for s in FER_SPLITS}

    faces: dict[str, list[np.ndarray]] = {s: [] for s in FER_SPLITS}
    labels: dict[str, list[int]] = {s: [] for s in FER_SPLITS}
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        header = f.readline().strip().split(",")
        if header[:3] != ["emotion", "pixels", "Usage"]:
            raise DataError(f"{path}: expected the header emotion,pixels,Usage, got {','.join(header)}")
        for line_no, line in enumerate(f, start=2):
            emotion, pixels, usage = line.rstrip("\n").split(",")
            x = np.array(pixels.split(), dtype=np.uint8)
            if x.size != 48 * 48 or usage not in faces or not 0 <= int(emotion) <= 6:
                raise DataError(f"{path}, line {line_no}: malformed row (pixels {x.size}, usage {usage!r}, emotion {emotion!r})")
            faces[usage].append(x.reshape(48, 48))
            labels[usage].append(int(emotion))
    data = {s: (np.stack(faces[s]), np.array(labels[s], dtype=np.int64)) for s in FER_SPLITS}
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **{f"{s}_{k}": v for s, (x, y) in data.items() for k, v in (("x", x), ("y", y))})
    os.replace(tmp, cache)
    return data


def drop_test_copies(data: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple[dict, int]:
    """``data`` without the Training faces that are, pixel for pixel, a PublicTest or PrivateTest face
    (FER2013 holds several hundred such copies; :mod:`xmer.data.overlap`), and how many were dropped."""
    from xmer.data.overlap import pixels_key

    held_out = {pixels_key(face) for split in FER_SPLITS[1:] for face in data[split][0]}
    faces, labels = data["Training"]
    keep = np.array([pixels_key(face) not in held_out for face in faces], dtype=bool)
    return {**data, "Training": (faces[keep], labels[keep])}, int((~keep).sum())


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


def augment(x, generator):
    """Random flip, rotation (±15°), scale (±15 %), shift (±12 %), contrast/brightness and erasing.

    Done on the whole batch at once with one ``affine_grid``: (B, 1, H, W) -> (B, 1, H, W).
    """
    import torch
    from torch.nn import functional as F

    b = x.shape[0]
    u = lambda: torch.rand(b, generator=generator) * 2 - 1  # noqa: E731  uniform in [-1, 1], (B,)
    angle, scale, tx, ty = u() * math.radians(15), 1 + u() * 0.15, u() * 0.12, u() * 0.12
    flip = torch.where(torch.rand(b, generator=generator) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    x = x * (1 + u().view(b, 1, 1, 1) * 0.2) + u().view(b, 1, 1, 1) * 0.1
    # Random erasing: one rectangle of 2-20 % of the image in half of the images, filled with 0 (mid-grey).
    h, w = x.shape[-2:]
    area = (0.02 + torch.rand(b, generator=generator) * 0.18) * h * w
    aspect = torch.exp(u() * math.log(2))
    eh = (area * aspect).sqrt().clamp(max=h).long()
    ew = (area / aspect).sqrt().clamp(max=w).long()
    y0 = (torch.rand(b, generator=generator) * (h - eh + 1)).long()
    x0 = (torch.rand(b, generator=generator) * (w - ew + 1)).long()
    rows, cols = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
    box = ((rows >= y0.view(b, 1, 1)) & (rows < (y0 + eh).view(b, 1, 1))
           & (cols >= x0.view(b, 1, 1)) & (cols < (x0 + ew).view(b, 1, 1)))  # (B, H, W)
    box &= (torch.rand(b, generator=generator) < 0.5).view(b, 1, 1)
    return x.masked_fill(box.unsqueeze(1), 0.0)


def predict_proba(model, faces: np.ndarray, batch_size: int = 512, device: str = "cpu", flip: bool = True,
                  bf16: bool = False) -> np.ndarray:
    """Class probabilities (N, 7) of uint8 faces (N, 48, 48), averaged with the mirrored face.

    ``bf16`` runs in bfloat16 autocast (fast model selection during training); the final
    evaluation runs in float32, as extraction does.
    """
    import torch

    from xmer.features.frontend import normalise

    model.eval()
    out = []
    with torch.no_grad(), torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
        for i in range(0, len(faces), batch_size):
            x = normalise(faces[i : i + batch_size]).to(device).contiguous(memory_format=torch.channels_last)
            p = model(x).float().softmax(-1)
            if flip:
                p = (p + model(x.flip(-1)).float().softmax(-1)) / 2
            out.append(p.cpu())
    return torch.cat(out).numpy()


def _shipped_scores(weights: Path, data: dict, labels: list[str]) -> tuple[dict, dict]:
    """PrivateTest (read once, here) and PublicTest metrics of the weights as shipped (float16)."""
    from xmer.evaluation.metrics import single_label_metrics
    from xmer.features.frontend import load_frontend

    shipped = load_frontend(weights)
    test = single_label_metrics(data["PrivateTest"][1], predict_proba(shipped, data["PrivateTest"][0]).argmax(-1), labels)
    public = single_label_metrics(data["PublicTest"][1], predict_proba(shipped, data["PublicTest"][0]).argmax(-1), labels)
    return test, public


def _train_epoch(model, x_train, y_train, batch_size: int, steps: int, generator, optimizer, schedule, criterion,
                 autocast: dict, device: str) -> tuple[float, int]:
    """One pass over the training faces in a fresh order, augmented: ``(summed loss, correct answers)``."""
    import torch

    from xmer.features.frontend import normalise

    model.train()
    total_loss, correct = 0.0, 0
    order = torch.randperm(len(x_train), generator=generator)
    for step in range(steps):
        idx = order[step * batch_size : (step + 1) * batch_size]
        x = augment(normalise(x_train[idx]), generator).to(device).contiguous(memory_format=torch.channels_last)
        y = y_train[idx].to(device)
        with torch.autocast(**autocast):
            logits = model(x)
            loss = criterion(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        total_loss += float(loss.detach())
        correct += int((logits.argmax(-1) == y).sum())
    return total_loss, correct


def train_frontend(
    data: dict[str, tuple[np.ndarray, np.ndarray]],
    out: Path,
    epochs: int = 30,
    batch_size: int = 128,
    lr: float = 3e-3,
    weight_decay: float = 5e-2,
    seed: int = 0,
    device: str = "cpu",
    channels: tuple[int, ...] = (32, 64, 128, 256),
    command: str = "",
    source: dict | None = None,
    log=print,
) -> dict:
    """Train :class:`~xmer.features.frontend.FaceCNN` on ``data["Training"]``, keep the epoch with the
    best ``PublicTest`` accuracy, evaluate it once on ``PrivateTest``, write weights and record.

    Args:
        data: split -> (uint8 faces (N, 48, 48), int64 labels (N,)), as from :func:`load_fer2013`.
        out: folder for ``visual_frontend.safetensors`` and ``visual_frontend.json``.

    Returns:
        The record written to ``visual_frontend.json``.
    """
    import torch
    from torch import nn

    from xmer.features.frontend import FER2013_CLASSES, FaceCNN, save_weights
    from xmer.io import atomic_write_json

    start = time.time()
    data, copies = drop_test_copies(data)  # no test face is trained on
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = FaceCNN(channels).to(device).to(memory_format=torch.channels_last)
    x_train = torch.from_numpy(data["Training"][0])  # (N, 48, 48) uint8
    y_train = torch.from_numpy(data["Training"][1])  # (N,)
    steps_per_epoch = len(x_train) // batch_size  # the last partial batch is dropped (BatchNorm)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, epochs=epochs, steps_per_epoch=steps_per_epoch, pct_start=0.2)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    autocast = dict(device_type=device.split(":")[0], dtype=torch.bfloat16)

    best = {"accuracy": -1.0}
    best_state = None
    history = []
    for epoch in range(1, epochs + 1):
        t0 = time.time()
        total_loss, correct = _train_epoch(model, x_train, y_train, batch_size, steps_per_epoch, generator,
                                           optimizer, schedule, criterion, autocast, device)
        proba = predict_proba(model, data["PublicTest"][0], device=device, bf16=True)
        val_acc = float((proba.argmax(-1) == data["PublicTest"][1]).mean())
        row = {"epoch": epoch, "train_loss": total_loss / steps_per_epoch,
               "train_accuracy": correct / (steps_per_epoch * batch_size), "public_test_accuracy": val_acc,
               "seconds": time.time() - t0}
        history.append(row)
        if val_acc > best["accuracy"]:
            best = {"accuracy": val_acc, "epoch": epoch}
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        log(f"epoch {epoch}/{epochs}  loss {row['train_loss']:.4f}  train acc {row['train_accuracy']:.4f}  "
            f"PublicTest acc {val_acc:.4f}  ({row['seconds']:.0f} s)", flush=True)

    model.load_state_dict(best_state)
    model = model.cpu().to(memory_format=torch.contiguous_format)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / "visual_frontend.safetensors"
    sha = save_weights(model, weights)
    labels = list(FER2013_CLASSES)
    test, public = _shipped_scores(weights, data, labels)
    keys = ("n", "accuracy", "unweighted_accuracy", "macro_f1", "weighted_f1", "confusion_matrix")
    record = {
        "model": {"class": "xmer.features.frontend.FaceCNN", **model.config,
                  "parameters": sum(p.numel() for p in model.parameters()), "input": "48x48 grey face, uint8/127.5 - 1"},
        "data": {**(source or {}), "splits": {s: int(len(data[s][1])) for s in FER_SPLITS},
                 "training_copies_of_test_faces_dropped": copies,
                 "protocol": "fit on Training (without its copies of PublicTest or PrivateTest faces), select the epoch "
                             "on PublicTest, PrivateTest evaluated once at the end"},
        "private_test": {k: test[k] for k in keys},
        "public_test": {**{k: public[k] for k in keys}, "best_epoch_during_training": best["epoch"]},
        "metric_definitions": {k: test["definitions"][k] for k in keys if k in test["definitions"]},
        "labels": labels,
        "test_time_augmentation": "mean of the softmax of the face and its mirror image",
        "best_epoch": best["epoch"],
        "epochs": epochs,
        "seed": seed,
        "training": {"optimizer": "AdamW", "lr": lr, "weight_decay": weight_decay, "schedule": "one-cycle (pct_start 0.2)",
                     "batch_size": batch_size, "label_smoothing": 0.1, "precision": "bfloat16 autocast",
                     "augmentation": augment.__doc__.splitlines()[0], "device": device,
                     "threads": torch.get_num_threads()},
        "history": history,
        "command": command,
        "wall_seconds": round(time.time() - start, 1),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "torch": torch.__version__,
        "weights": {"file": weights.name, "sha256": sha, "bytes": weights.stat().st_size, "dtype": "float16"},
    }
    atomic_write_json(out / "visual_frontend.json", record)
    return record
