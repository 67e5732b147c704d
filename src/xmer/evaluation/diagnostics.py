"""What a user needs to trust the translators, measured on trimodal samples of a split:

- ``self_reconstruction[m]``: mean squared error of Dec_m(Enc_m(x_m)) per step (the VAE, eq. 9);
- ``cycle_reconstruction["visual_to_audio"]``: error of visual -> audio -> visual per step (eq. 12);
- ``seqdis_emotion_accuracy["visual_to_audio"]``: how often SeqDis_audio recognises the source
  sample's emotion in T_{visual->audio}(x_visual) (``"real_audio"``: on real audio, for reference);
- ``recognizer_accuracy_with_translation["visual_to_audio"]``: the recogniser's accuracy when the
  real audio is replaced by its translation from visual and the rest stays real (``"observed"``: all
  real). For multi-label sets "accuracy" is the mean per-emotion binary accuracy at 0.5.

Unaligned modalities have no step-by-step ground truth, so translations are judged through the
cycle, SeqDis and the recogniser rather than against the real target sequence. One question still
has an answer without alignment: **does a translator learn the instance, or only the
class?** ``instance["visual_to_audio"]`` compares, on the split's samples, the translation's time
mean with the time mean of the sample's *own* real target (``own``, squared error per dimension)
and with that of a *partner*: another sample of the same label and the same speaker, drawn at
random once per sample (``numpy.random.default_rng(0)``; samples without one are skipped, ``n``
counts the rest). ``lower_by`` = 1 - own / partner: above 0 when the translation is closer to its own
sample than to a same-label one, i.e. it carries something of the instance. ``ridge_*`` are the same
numbers for a ridge regression (alpha 1) from the source's time mean to the target's, fitted on the
training split's complete samples: what a linear map gets from the same data.
"""

from __future__ import annotations

import json
from typing import Sequence

import numpy as np
import torch

from xmer.models.losses import reconstruction_loss
from xmer.modalities import MODALITIES, pair_name


def _hits(logits: torch.Tensor, labels: torch.Tensor, multi_label: bool) -> torch.Tensor:
    """(B,) per-sample accuracy: argmax == label, or the mean per-emotion binary accuracy."""
    if multi_label:
        return ((torch.sigmoid(logits) > 0.5).float() == labels).float().mean(1)
    return (logits.argmax(1) == labels).float()


def _time_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, T, D) steps and (B, T) mask -> (B, D) mean over the real steps."""
    weight = mask.to(x.dtype)[..., None]
    return (x * weight).sum(1) / weight.sum(1).clamp(min=1.0)


def _partners(records: Sequence[dict], seed: int = 0) -> np.ndarray:
    """(N,) index of a random other record with the same label and speaker, or -1 when there is none."""
    groups: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        groups.setdefault(json.dumps([record["label"], record.get("speaker")]), []).append(index)
    rng = np.random.default_rng(seed)
    out = np.full(len(records), -1)
    for members in groups.values():
        for index in members:
            others = [m for m in members if m != index]
            if others:
                out[index] = others[int(rng.integers(len(others)))]
    return out


def _ridge(x: np.ndarray, y: np.ndarray, alpha: float = 1.0):
    """Ridge regression y ~ x (with an intercept); returns the predicting function."""
    mx, my = x.mean(0), y.mean(0)
    xc = x - mx
    weights = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ (y - my))  # (D_x, D_y)
    return lambda z: (z - mx) @ weights + my


def instance_diagnostics(translated: dict[str, np.ndarray], real: dict[str, np.ndarray], records: Sequence[dict],
                         train: dict[str, np.ndarray] | None = None) -> dict:
    """Own-target vs same-label-same-speaker-partner error of every direction (module docstring).

    Args:
        translated: ``"i_to_j"`` -> (N, D_j) time means of T_{i->j}(x_i), in ``records`` order.
        real: modality -> (N, D_m) time means of the real sequences.
        records: the N records (``label``, ``speaker``).
        train: modality -> (N_train, D_m) time means of the training split's complete samples, for
            the ridge baseline (None: no baseline).
    """
    partner = _partners(records)
    has = partner >= 0
    out: dict = {"n": int(has.sum())}
    if not has.any():
        return out
    for key, fake in translated.items():
        i, j = key.split("_to_")
        own = float(((fake[has] - real[j][has]) ** 2).mean())
        other = float(((fake[has] - real[j][partner[has]]) ** 2).mean())
        entry = {"own": round(own, 5), "partner": round(other, 5), "lower_by": round(1 - own / max(other, 1e-12), 5)}
        if train is not None and len(train[i]) > 1:
            predicted = _ridge(train[i], train[j])(real[i])
            own = float(((predicted[has] - real[j][has]) ** 2).mean())
            other = float(((predicted[has] - real[j][partner[has]]) ** 2).mean())
            entry |= {"ridge_own": round(own, 5), "ridge_partner": round(other, 5),
                      "ridge_lower_by": round(1 - own / max(other, 1e-12), 5)}
        out[key] = entry
    return out


def _train_means(dataset, records: Sequence[dict], names: Sequence[str]) -> dict[str, np.ndarray]:
    """modality -> (N, D_m) time means of the complete ``records``' features."""
    complete = [r for r in records if set(r["modalities"]) >= set(names)]
    out = {m: [] for m in names}
    for record in complete:
        features = dataset.sample(record).features  # any Dataset (a MixedDataset has no read_features)
        if all(m in features for m in names):
            for m in names:
                out[m].append(features[m].mean(0))
    return {m: np.stack(v) if v else np.zeros((0, 1)) for m, v in out.items()}


@torch.inference_mode()
def translation_diagnostics(system, dataset, records: Sequence[dict], batch_size: int, dims: dict[str, int],
                            device: torch.device | str = "cpu", train_records: Sequence[dict] | None = None) -> dict:
    """The diagnostics above over the trimodal ``records``; {} when there are none. With
    ``train_records``, the instance test also fits its ridge baseline on them."""
    names = system.modalities
    records = [r for r in records if set(r["modalities"]) >= set(names)]
    if not records or not system.can_imagine():
        return {}
    was_training = system.training
    system.eval()
    sums: dict[str, dict[str, float]] = {k: {} for k in (
        "self_reconstruction", "cycle_reconstruction", "seqdis_emotion_accuracy", "recognizer_accuracy_with_translation")}
    count = 0

    def add(group: str, key: str, value: torch.Tensor, n: int) -> None:
        sums[group][key] = sums[group].get(key, 0.0) + float(value) * n

    identity = tuple(range(len(names)))
    means: dict[str, list[np.ndarray]] = {}  # "i_to_j" and real modality -> per-batch (B, D) time means
    for batch in dataset.batches(records, batch_size, dims=dims):
        batch = batch.to(device)
        n = len(batch)
        count += n
        k = system.recognizer.probabilities(system.recognizer(batch)).shape[1]
        add("recognizer_accuracy_with_translation", "observed",
            _hits(system.recognizer(batch), batch.labels, system.multi_label).mean(), n)
        for i_index, i in enumerate(names):
            x, mask = batch.features[i], batch.mask[i]
            means.setdefault(i, []).append(_time_mean(x, mask).cpu().numpy())
            encoding = system.translator.encode(i, x)
            add("self_reconstruction", i, reconstruction_loss(system.translator.decode(i, encoding.z), x, mask), n)
            real_logits = system.discriminators.sequence[i](x, mask)[:, :k]
            add("seqdis_emotion_accuracy", f"real_{i}", _hits(real_logits, batch.labels, system.multi_label).mean(), n)
            for j_index, j in enumerate(names):
                if j == i:
                    continue
                key = pair_name(i, j)
                fake = system.translator.decode(j, encoding.z)  # (B, T_i, D_j)
                means.setdefault(key, []).append(_time_mean(fake, mask).cpu().numpy())
                back = system.translator.decode(i, system.translator.encode(j, fake).z)
                add("cycle_reconstruction", key, reconstruction_loss(back, x, mask), n)
                seq_logits = system.discriminators.sequence[j](fake, mask)[:, :k]
                add("seqdis_emotion_accuracy", key, _hits(seq_logits, batch.labels, system.multi_label).mean(), n)
                combo = list(identity)
                combo[j_index] = i_index
                c = int((system.combos == torch.tensor(combo, device=system.combos.device)).all(1).nonzero()[0])
                rows = torch.arange(n, device=batch.labels.device)
                replaced = system.combine(batch, rows, torch.full_like(rows, c))
                add("recognizer_accuracy_with_translation", key,
                    _hits(system.recognizer(replaced), batch.labels, system.multi_label).mean(), n)
    system.train(was_training)
    out = {group: {key: round(total / count, 5) for key, total in values.items()} for group, values in sums.items()}
    out["n"] = count
    stacked = {key: np.concatenate(parts) for key, parts in means.items()}
    train = _train_means(dataset, train_records, names) if train_records else None
    out["instance"] = instance_diagnostics({k: v for k, v in stacked.items() if "_to_" in k},
                                           {m: stacked[m] for m in names}, records, train)
    return out


def format_diagnostics(diagnostics: dict) -> str:
    """A Markdown table: one row per direction, the four diagnostics as columns."""
    names = [m for m in MODALITIES if m in diagnostics.get("self_reconstruction", {})]
    lines = ["| direction | cycle MSE | SeqDis emotion acc. | recogniser acc., target replaced |",
             "| :-- | --: | --: | --: |"]
    for i in names:
        for j in names:
            if i != j:
                key = pair_name(i, j)
                lines.append(f"| {i} -> {j} | {diagnostics['cycle_reconstruction'][key]:.3f} | "
                             f"{100 * diagnostics['seqdis_emotion_accuracy'][key]:.1f} | "
                             f"{100 * diagnostics['recognizer_accuracy_with_translation'][key]:.1f} |")
    real = ", ".join(f"{m} {100 * diagnostics['seqdis_emotion_accuracy'][f'real_{m}']:.1f}%" for m in names)
    recon = ", ".join(f"{m} {diagnostics['self_reconstruction'][m]:.3f}" for m in names)
    instance = diagnostics.get("instance", {})
    if instance.get("n"):
        ridge = any("ridge_own" in v for v in instance.values() if isinstance(v, dict))
        lines += ["", f"Instance or class? Squared error per dimension of the translation's time mean against the "
                  f"sample's own target and against a same-label, same-speaker partner's ({instance['n']} samples)"
                  + (", and the same for a ridge map fitted on the training split" if ridge else "") + ":", "",
                  "| direction | own | partner | lower by |" + (" ridge own | ridge partner | ridge lower by |" if ridge else ""),
                  "| :-- | --: | --: | --: |" + (" --: | --: | --: |" if ridge else "")]
        for key, v in instance.items():
            if not isinstance(v, dict):
                continue
            row = f"| {key.replace('_to_', ' -> ')} | {v['own']:.3f} | {v['partner']:.3f} | {100 * v['lower_by']:.1f}% |"
            if "ridge_own" in v:
                row += f" {v['ridge_own']:.3f} | {v['ridge_partner']:.3f} | {100 * v['ridge_lower_by']:.1f}% |"
            lines.append(row)
    lines += ["", f"SeqDis on real sequences: {real}. Recogniser with everything real: "
              f"{100 * diagnostics['recognizer_accuracy_with_translation']['observed']:.1f}%. "
              f"VAE self-reconstruction MSE: {recon} ({diagnostics['n']} trimodal samples)."]
    return "\n".join(lines)
