"""The translators' and discriminators' objectives on one batch (paper eq. 9-14).

For every modality i a sample has and every other modality j:

- VAE (eq. 9): reconstruction of x_i through Enc_i/Dec_i, KL, and Dis_i's verdict on the
  reconstruction;
- GAN (eq. 10): only with step-aligned data (``translator.aligned``): the translation into j against
  the sample's real j, step by step; skipped otherwise, as the paper says;
- cycle (eq. 12, as fixed in DESIGN.md 2.2): i -> j -> i reconstruction plus the KL of the
  intermediate encoding; the intermediate step's adversarial term is Dis_j's verdict on T_{i->j};
- SeqDis (eq. 11, 14): SeqDis_j classifies real j sequences by emotion and translations into j as
  class K+1 (the discriminators' side); the translators want their translations recognised as the
  source sample's emotion (DESIGN.md 2.4).

Speed: each discriminator runs ONCE per modality per step, over the real sequences and every
generated one together, and that one call serves both sides: the translators' loss is
back-propagated into the translators only and the discriminators' loss into the discriminators only
(``backward(inputs=...)``). A plain implementation calls SeqDis once per direction and again on
detached copies; on CPU that was most of the translators' cost (benchmarks/translators.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from xmer.config import LossWeights
from xmer.data.contract import Batch
from xmer.models.losses import (
    discriminator_step_loss,
    generator_step_loss,
    kl_loss,
    reconstruction_loss,
    seqdis_discriminator_loss,
    seqdis_translator_loss,
)
from xmer.models.system import XmerSystem


@dataclass
class _Judged:
    """What the discriminators of one modality m judge: generated steps and sequences into m."""

    step_fakes: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)  # ((N, T, D_m), (N, T))
    seq_fakes: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = field(default_factory=list)  # + source labels


def _pad_cat(tensors: list[torch.Tensor], value: float | bool = 0) -> torch.Tensor:
    """Concatenate (N_i, T_i, ...) tensors along N, padding T to the longest."""
    steps = max(t.shape[1] for t in tensors)
    pad = lambda t: F.pad(t, (0, 0, 0, steps - t.shape[1]) if t.dim() == 3 else (0, steps - t.shape[1]), value=value)  # noqa: E731
    return torch.cat([pad(t) for t in tensors])


def subsample_steps(batch: Batch, steps: int, generator: torch.Generator | None = None) -> Batch:
    """Keep at most ``steps`` evenly spaced real steps of every sequence, with a random phase per row.

    The translators and Dis_m work one step at a time, so their losses are means over the real steps
    of the batch; a row of length L > ``steps`` keeps each of its steps with probability steps / L
    (evenly spaced, uniform random phase), so weighting every kept step by L / steps (pass the
    original lengths to :func:`translation_objectives`) makes the step losses an unbiased estimate of
    the full batch's, long rows keeping their weight. A subsampled sequence is still a sequence (at a
    lower frame rate) for SeqDis_m, and the translation of the subsampled steps is exactly the
    subsampled translation. Real steps are at the front of each row (as
    :func:`~xmer.data.contract.collate` puts them).
    """
    if not steps:
        return batch
    features, mask = {}, {}
    for m, x in batch.features.items():
        lengths = batch.mask[m].sum(1)  # (B,)
        if x.shape[1] <= steps:
            features[m], mask[m] = x, batch.mask[m]
            continue
        phase = torch.rand(len(lengths), generator=generator).to(x.device)  # (B,)
        grid = torch.arange(steps, device=x.device)  # (S,)
        spaced = ((grid[None, :] + phase[:, None]) * lengths[:, None] / steps).floor().long()  # (B, S)
        short = lengths[:, None] <= steps
        index = torch.where(short, grid[None, :], spaced).clamp(max=x.shape[1] - 1)  # (B, S)
        features[m] = x.gather(1, index[..., None].expand(-1, -1, x.shape[2]))
        mask[m] = torch.where(short, grid[None, :] < lengths[:, None], lengths[:, None] > 0)
    return replace(batch, features=features, mask=mask)


def step_weights(batch: Batch, lengths: dict[str, torch.Tensor] | None) -> dict[str, torch.Tensor]:
    """modality -> (B, T_m) weight of every step in the step losses: 1 at real steps (0 at padding),
    or, given the rows' ``lengths`` before :func:`subsample_steps`, length / kept steps, the inverse of
    the chance that a step was kept (Horvitz-Thompson): the weights of a row sum to its full length."""
    out = {}
    for m, mask in batch.mask.items():
        weight = mask.float()
        if lengths is not None:
            kept = weight.sum(1, keepdim=True).clamp(min=1.0)  # (B, 1)
            weight = weight * lengths[m].to(weight)[:, None] / kept
        out[m] = weight
    return out


def _translate(system: XmerSystem, batch: Batch, weights: LossWeights, step_weight: dict, aligned: bool,
               one_source: bool, generator: torch.Generator | None) -> tuple[dict, dict]:
    """The translators' side of eq. 9-12: every present modality encoded, reconstructed (eq. 9),
    translated into the others (eq. 10, with the paired term where ``aligned``) and back (eq. 12).
    Returns the summed terms and, per target modality, what its discriminators must judge."""
    translator, names = system.translator, system.modalities
    zero = batch.features[names[0]].new_zeros(())
    parts = {k: zero for k in ("reconstruction", "kl", "gan", "cycle")}
    judged = {m: _Judged() for m in names}
    # For one_source: each sample's source for SeqDis_j is the present modality != j with the
    # highest random score.
    score = torch.rand(len(batch), len(names), generator=generator).to(batch.labels.device)
    for i_index, i in enumerate(names):
        score[:, i_index] = score[:, i_index].masked_fill(~batch.present[i], -1.0)
    for i in names:
        rows = batch.present[i]
        if not rows.any():
            continue
        x, mask, labels = batch.features[i][rows], batch.mask[i][rows], batch.labels[rows]  # (N, T_i, D_i)
        w = step_weight[i][rows]  # (N, T_i)
        encoding = translator.encode(i, x)
        recon = translator.decode(i, encoding.z)  # eq. 9
        parts["reconstruction"] = parts["reconstruction"] + reconstruction_loss(recon, x, w)
        parts["kl"] = parts["kl"] + kl_loss(encoding.mean, encoding.logvar, w)
        judged[i].step_fakes.append((recon, w))
        for j in names:
            if j == i:
                continue
            fake = translator.decode(j, encoding.z)  # (N, T_i, D_j): T_{i->j}(x_i)
            judged[j].step_fakes.append((fake, w))
            if one_source:
                j_index, i_index = names.index(j), names.index(i)
                others = score.clone()
                others[:, j_index] = -2.0
                keep = (others.argmax(1) == i_index)[rows]  # (N,)
                judged[j].seq_fakes.append((fake[keep], mask[keep], labels[keep]))
            else:
                judged[j].seq_fakes.append((fake, mask, labels))
            if aligned and weights.gan and batch.mask[j].shape[1] >= mask.shape[1]:
                # eq. 10: paired ground truth, where the sample has j at the same steps.
                paired = batch.present[j][rows]
                both = mask & batch.mask[j][rows][:, : mask.shape[1]]
                if paired.any():
                    target = batch.features[j][rows][:, : mask.shape[1]]
                    parts["gan"] = parts["gan"] + reconstruction_loss(fake[paired], target[paired], (w * both)[paired])
            back_encoding = translator.encode(j, fake)  # eq. 12: i -> j -> i
            back = translator.decode(i, back_encoding.z)
            parts["cycle"] = parts["cycle"] + reconstruction_loss(back, x, w) + weights.kl * kl_loss(
                back_encoding.mean, back_encoding.logvar, w
            )

    return parts, judged


def _judge(system: XmerSystem, batch: Batch, weights: LossWeights, step_weight: dict, judged: dict) -> tuple:
    """Dis_m and SeqDis_m on the real steps and sequences of each modality and on what was made
    into it: ``(adversarial, seqdis, d_step, d_seq)``, the translators' and the discriminators' terms."""
    names, discs = system.modalities, system.discriminators
    zero = batch.features[names[0]].new_zeros(())
    adversarial = seqdis = d_step = d_seq = zero
    for m in names:
        rows = batch.present[m]
        if not judged[m].step_fakes:
            continue
        real, real_mask, real_labels = batch.features[m][rows], batch.mask[m][rows], batch.labels[rows]
        n_real = len(real)
        # Dis_m: one call over real and generated steps.
        fakes = _pad_cat([f for f, _ in judged[m].step_fakes])
        fake_weights = _pad_cat([wt for _, wt in judged[m].step_fakes])  # (N_fake, T): step weights
        logits = discs.step[m](_pad_cat([real, fakes]) if n_real else fakes)  # (N_real + N_fake, T)
        adversarial = adversarial + generator_step_loss(logits[n_real:], fake_weights)
        if n_real:
            d_step = d_step + discriminator_step_loss(logits[:n_real, : real.shape[1]], step_weight[m][rows],
                                                      logits[n_real:], fake_weights)
        # SeqDis_m: one call over real sequences and translations into m.
        if weights.seqdis and judged[m].seq_fakes:
            seq_fakes = _pad_cat([f for f, _, _ in judged[m].seq_fakes])
            seq_masks = _pad_cat([mk for _, mk, _ in judged[m].seq_fakes], value=False)
            fake_labels = torch.cat([lb for _, _, lb in judged[m].seq_fakes])
            both = _pad_cat([real, seq_fakes]) if n_real else seq_fakes
            both_mask = _pad_cat([real_mask, seq_masks], value=False) if n_real else seq_masks
            logits = discs.sequence[m](both, both_mask)  # (N_real + N_fake, K + 1)
            seqdis = seqdis + seqdis_translator_loss(logits[n_real:], fake_labels, system.multi_label)
            d_seq = d_seq + seqdis_discriminator_loss(logits[:n_real], real_labels, logits[n_real:], system.multi_label)
    return adversarial, seqdis, d_step, d_seq


def translation_objectives(system: XmerSystem, batch: Batch, weights: LossWeights, aligned: bool = False,
                           one_source: bool = False, generator: torch.Generator | None = None,
                           lengths: dict[str, torch.Tensor] | None = None,
                           ) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
    """Both sides of eq. 13 on ``batch`` (pass it through :func:`subsample_steps` first to save time).

    Step losses (reconstruction, KL, cycle, the paired term, Dis_m) are means over the batch's real
    steps. When ``batch`` was subsampled, ``lengths`` (modality -> (B,) real steps of each row before
    subsampling) weights every kept step by :func:`step_weights`, which makes them unbiased estimates
    of the losses on the whole batch; without it, every row counts only its kept steps (a long row
    weighs as much as a short one).

    With ``one_source``, SeqDis_j sees, for each sample, the translation into j from one of the
    sample's other modalities drawn at random (with ``generator``) instead of from all of them: the
    same objective in expectation, with a third fewer sequences through the discriminators.

    Returns:
        translator_total: the translators' loss (minimised by the translators).
        discriminator_total: the discriminators' loss (minimised by the discriminators, i.e. their
            max side of eq. 13).
        parts: every named term, as floats, for the run's history.
    """
    step_weight = step_weights(batch, lengths)  # m -> (B, T_m)
    parts, judged = _translate(system, batch, weights, step_weight, aligned, one_source, generator)
    adversarial, seqdis, d_step, d_seq = _judge(system, batch, weights, step_weight, judged)

    translator_total = (
        weights.reconstruction * parts["reconstruction"]
        + weights.kl * parts["kl"]
        + weights.adversarial * adversarial
        + weights.gan * parts["gan"]
        + weights.cycle * parts["cycle"]
        + weights.seqdis * seqdis
    )
    discriminator_total = weights.adversarial * d_step + weights.seqdis * d_seq
    parts = {**parts, "adversarial": adversarial, "seqdis": seqdis}
    named = {f"translator_{k}": float(v.detach()) for k, v in parts.items()}
    named |= {"discriminator_step": float(d_step.detach()), "discriminator_seqdis": float(d_seq.detach())}
    return translator_total, discriminator_total, named
