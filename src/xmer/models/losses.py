"""The translators' losses (paper eq. 9-14), as pure functions of tensors.

Conventions: sequences are (B, T, D) with a (B, T) bool mask (True at real steps); step losses are
averaged over real steps. A step loss's ``mask`` may instead be (B, T) float step weights (0 at
padding): the mean is then weighted, sum(w * loss) / sum(w), which is how the subsampled steps of a
translator update stand for the whole batch (:func:`xmer.training.objectives.step_weights`). Discriminator logits: per-step Dis_m gives one real/fake logit per step;
SeqDis_m gives K + 1 logits per sequence, the last meaning "generated" (eq. 14). For multi-label
sets SeqDis's first K outputs are per-emotion sigmoids and the last is a real/fake logit
(DESIGN.md 2.4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of (B, T) ``values`` over the True steps of ``mask`` (or weighted by a float ``mask``);
    0 when there are none. Padded steps are zeroed before weighting, so garbage in padding (even Inf
    or NaN) cannot reach the loss's value."""
    weight = mask.to(values.dtype)
    values = torch.where(weight > 0, values, torch.zeros_like(values))
    return (values * weight).sum() / weight.sum().clamp(min=1e-12)


def reconstruction_loss(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error per real step (eq. 9's reconstruction; eq. 12's cycle; eq. 10 with paired
    aligned ground truth). output, target (B, T, D); mask (B, T)."""
    return _masked_mean(((output - target) ** 2).mean(-1), mask)


def kl_loss(mean: torch.Tensor, logvar: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) per real step, summed over latent dims (eq. 9).
    mean, logvar (B, T, Z); mask (B, T)."""
    kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)  # (B, T)
    return _masked_mean(kl, mask)


def generator_step_loss(fake_logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The generator's side of a per-step GAN (eq. 9, 10, 12): generated steps should look real to
    Dis_m. fake_logits (B, T); mask (B, T). Non-saturating form."""
    return _masked_mean(F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits), reduction="none"), mask)


def discriminator_step_loss(
    real_logits: torch.Tensor, real_mask: torch.Tensor, fake_logits: torch.Tensor, fake_mask: torch.Tensor
) -> torch.Tensor:
    """Dis_m's side (eq. 13, max over discriminators): real steps -> 1, generated steps -> 0."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits), reduction="none")
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits), reduction="none")
    return _masked_mean(real, real_mask) + _masked_mean(fake, fake_mask)


def seqdis_discriminator_loss(
    real_logits: torch.Tensor, labels: torch.Tensor, fake_logits: torch.Tensor, multi_label: bool
) -> torch.Tensor:
    """SeqDis_m's objective, eq. 14: real sequences -> their emotion, generated ones -> class K+1.

    Args:
        real_logits: (B_r, K + 1) on real sequences of modality m.
        labels: (B_r,) class indices, or (B_r, K) multi-hot.
        fake_logits: (B_f, K + 1) on translated sequences into m.
        multi_label: per-emotion sigmoids + a real/fake logit instead of a (K+1)-way softmax.
    """
    k = real_logits.shape[1] - 1
    if multi_label:
        emotions = F.binary_cross_entropy_with_logits(real_logits[:, :k], labels) if len(real_logits) else real_logits.sum()
        real = _bce_mean(real_logits[:, k], 1.0)
        fake = _bce_mean(fake_logits[:, k], 0.0)
        return emotions + real + fake
    generated = torch.full((fake_logits.shape[0],), k, dtype=torch.long, device=fake_logits.device)
    real = F.cross_entropy(real_logits, labels) if len(real_logits) else real_logits.sum()
    fake = F.cross_entropy(fake_logits, generated) if len(fake_logits) else fake_logits.sum()
    return real + fake


def seqdis_translator_loss(fake_logits: torch.Tensor, source_labels: torch.Tensor, multi_label: bool) -> torch.Tensor:
    """The translator's side of eq. 11/14 (DESIGN.md 2.4): a translated sequence should be recognised
    by SeqDis_j as the *source* sample's emotion (and, for multi-label sets, as real).

    Args:
        fake_logits: (B, K + 1) SeqDis_j logits on translations into j.
        source_labels: (B,) class indices or (B, K) multi-hot of the source samples.
    """
    if not len(fake_logits):
        return fake_logits.sum()
    k = fake_logits.shape[1] - 1
    if multi_label:
        return F.binary_cross_entropy_with_logits(fake_logits[:, :k], source_labels) + _bce_mean(fake_logits[:, k], 1.0)
    return F.cross_entropy(fake_logits, source_labels)


def _bce_mean(logits: torch.Tensor, target: float) -> torch.Tensor:
    if not len(logits):
        return logits.sum()
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))
