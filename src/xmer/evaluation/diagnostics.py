"""What a user needs to trust the translators (issue 3.7), measured on trimodal samples of a split:

- ``self_reconstruction[m]``: mean squared error of Dec_m(Enc_m(x_m)) per step (the VAE, eq. 9);
- ``cycle_reconstruction["visual_to_audio"]``: error of visual -> audio -> visual per step (eq. 12);
- ``seqdis_emotion_accuracy["visual_to_audio"]``: how often SeqDis_audio recognises the source
  sample's emotion in T_{visual->audio}(x_visual) (``"real_audio"``: on real audio, for reference);
- ``recognizer_accuracy_with_translation["visual_to_audio"]``: the recogniser's accuracy when the
  real audio is replaced by its translation from visual and the rest stays real (``"observed"``: all
  real). For multi-label sets "accuracy" is the mean per-emotion binary accuracy at 0.5.

Unaligned modalities have no step-by-step ground truth, so translations are judged through the
cycle, SeqDis and the recogniser rather than against the real target sequence.
"""

from __future__ import annotations

from typing import Sequence

import torch

from xmer.losses import reconstruction_loss
from xmer.modalities import MODALITIES, pair_name


def _hits(logits: torch.Tensor, labels: torch.Tensor, multi_label: bool) -> torch.Tensor:
    """(B,) per-sample accuracy: argmax == label, or the mean per-emotion binary accuracy."""
    if multi_label:
        return ((torch.sigmoid(logits) > 0.5).float() == labels).float().mean(1)
    return (logits.argmax(1) == labels).float()


@torch.inference_mode()
def translation_diagnostics(system, dataset, records: Sequence[dict], batch_size: int, dims: dict[str, int],
                            device: torch.device | str = "cpu") -> dict:
    """The four diagnostics above over the trimodal ``records``; {} when there are none."""
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
    for batch in dataset.batches(records, batch_size, dims=dims):
        batch = batch.to(device)
        n = len(batch)
        count += n
        k = system.recognizer.probabilities(system.recognizer(batch)).shape[1]
        add("recognizer_accuracy_with_translation", "observed",
            _hits(system.recognizer(batch), batch.labels, system.multi_label).mean(), n)
        for i_index, i in enumerate(names):
            x, mask = batch.features[i], batch.mask[i]
            encoding = system.translator.encode(i, x)
            add("self_reconstruction", i, reconstruction_loss(system.translator.decode(i, encoding.z), x, mask), n)
            real_logits = system.discriminators.sequence[i](x, mask)[:, :k]
            add("seqdis_emotion_accuracy", f"real_{i}", _hits(real_logits, batch.labels, system.multi_label).mean(), n)
            for j_index, j in enumerate(names):
                if j == i:
                    continue
                key = pair_name(i, j)
                fake = system.translator.decode(j, encoding.z)  # (B, T_i, D_j)
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
    lines += ["", f"SeqDis on real sequences: {real}. Recogniser with everything real: "
              f"{100 * diagnostics['recognizer_accuracy_with_translation']['observed']:.1f}%. "
              f"VAE self-reconstruction MSE: {recon} ({diagnostics['n']} trimodal samples)."]
    return "\n".join(lines)
