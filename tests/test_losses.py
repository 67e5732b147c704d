"""The translators' losses (paper eq. 9-14) pinned on hand-made cases, the step weights of a
subsampled translator update, and the trainer's separation of translator and recogniser updates."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from test_translators import SMALL, TOY, make_batch, make_system
from xmer.config import load_config
from xmer.models.losses import (
    kl_loss,
    reconstruction_loss,
    seqdis_discriminator_loss,
    seqdis_translator_loss,
)
from xmer.modalities import MODALITIES, SUBSETS
from xmer.training import objectives
from xmer.training.objectives import step_weights, subsample_steps, translation_objectives
from xmer.training.trainer import Trainer


def test_seqdis_discriminator_target_is_class_k_plus_one_for_generated():
    # K = 3 emotions + "generated" (index 3): eq. 14
    real = torch.tensor([[4.0, 0.0, 0.0, 0.0], [0.0, 0.0, 4.0, 0.0]])
    labels = torch.tensor([0, 2])
    fake_as_generated = torch.tensor([[0.0, 0.0, 0.0, 6.0]])
    fake_as_emotion = torch.tensor([[6.0, 0.0, 0.0, 0.0]])
    low = seqdis_discriminator_loss(real, labels, fake_as_generated, multi_label=False)
    high = seqdis_discriminator_loss(real, labels, fake_as_emotion, multi_label=False)
    expected = F.cross_entropy(real, labels) + F.cross_entropy(fake_as_generated, torch.tensor([3]))
    assert low == pytest.approx(float(expected), abs=1e-6)
    assert float(high - low) > 5  # a generated sequence called an emotion is what SeqDis is punished for
    # multi-label: per-emotion sigmoids on real sequences, the last logit says real (1) / generated (0)
    multi = seqdis_discriminator_loss(real, torch.tensor([[1.0, 0, 0], [0, 0, 1.0]]), fake_as_generated, multi_label=True)
    want = (F.binary_cross_entropy_with_logits(real[:, :3], torch.tensor([[1.0, 0, 0], [0, 0, 1.0]]))
            + F.binary_cross_entropy_with_logits(real[:, 3], torch.ones(2))
            + F.binary_cross_entropy_with_logits(fake_as_generated[:, 3], torch.zeros(1)))
    assert multi == pytest.approx(float(want), abs=1e-6)


def test_seqdis_translator_target_is_the_source_samples_emotion():
    fake = torch.tensor([[0.0, 5.0, 0.0, 0.0], [0.0, 0.0, 0.0, 5.0]])
    source_labels = torch.tensor([1, 1])
    loss = seqdis_translator_loss(fake, source_labels, multi_label=False)
    assert loss == pytest.approx(float(F.cross_entropy(fake, source_labels)), abs=1e-6)
    # the first translation, recognised as its source's emotion, costs little; the second, seen as generated, a lot
    per_row = F.cross_entropy(fake, source_labels, reduction="none")
    assert per_row[0] < 0.05 and per_row[1] > 4


def test_objectives_give_seqdis_each_translation_with_its_source_samples_label(monkeypatch):
    seen = {}

    def spy(fake_logits, source_labels, multi_label):
        seen.setdefault("labels", []).append(source_labels.clone())
        return seqdis_translator_loss(fake_logits, source_labels, multi_label)

    monkeypatch.setattr(objectives, "seqdis_translator_loss", spy)
    system = make_system().eval()
    subsets = [("visual", "audio", "text"), ("visual",), ("audio", "text"), ("visual", "text")]
    batch = make_batch(subsets)
    translation_objectives(system, batch, load_config().method.losses)
    for j, labels in zip(MODALITIES, seen["labels"]):  # SeqDis_m is called in modality order
        expected = torch.cat([batch.labels[batch.present[i]] for i in MODALITIES if i != j])
        assert torch.equal(labels, expected), j


def test_kl_matches_its_closed_form():
    torch.manual_seed(0)
    mean, logvar = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    q = torch.distributions.Normal(mean, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    per_step = torch.distributions.kl_divergence(q, p).sum(-1)  # (B, T)
    assert kl_loss(mean, logvar, mask) == pytest.approx(float(per_step[mask].mean()), rel=1e-5)
    assert kl_loss(torch.zeros(1, 1, 4), torch.zeros(1, 1, 4), torch.ones(1, 1, dtype=torch.bool)) == 0.0


def _garbage(batch, value):
    """The batch with every padded step (and every absent sample's features) set to ``value``."""
    features = {m: torch.where(batch.mask[m][..., None], x, torch.full_like(x, value)) for m, x in batch.features.items()}
    return type(batch)(features=features, mask=batch.mask, present=batch.present, labels=batch.labels,
                       ids=batch.ids, sources=batch.sources)


@torch.no_grad()
def test_garbage_in_padded_steps_changes_no_loss():
    system = make_system().eval()  # eval: z is the mean, no dropout, so two calls are comparable
    batch = make_batch(list(SUBSETS) * 2, seed=3)
    assert any((~m).any() for m in batch.mask.values())  # there is padding to fill
    weights = load_config().method.losses
    g, d, parts = translation_objectives(system, batch, weights)
    recognizer_loss = system.loss(system(batch), batch.labels)
    for value in (1e4, -3.0):
        dirty = _garbage(batch, value)
        g2, d2, parts2 = translation_objectives(system, dirty, weights)
        assert float(g2) == pytest.approx(float(g), rel=1e-5) and float(d2) == pytest.approx(float(d), rel=1e-5)
        assert parts2 == pytest.approx(parts, rel=1e-5, abs=1e-6)
        assert float(system.loss(system(dirty), batch.labels)) == pytest.approx(float(recognizer_loss), rel=1e-5)


def test_subsampled_step_losses_are_unbiased():
    # the case: rows of 400 and 10 steps with errors 1 and 0
    lengths = torch.tensor([400, 10])
    mask = torch.arange(400)[None, :] < lengths[:, None]  # (2, 400)
    features = torch.zeros(2, 400, 1)
    features[0, :400] = 1.0
    batch = make_batch([("visual",)] * 2)
    batch = type(batch)(features={"visual": features}, mask={"visual": mask}, present={"visual": torch.ones(2, dtype=torch.bool)},
                        labels=torch.zeros(2, dtype=torch.long), ids=["a", "b"], sources=["t", "t"])
    full = reconstruction_loss(features, torch.zeros_like(features), mask)
    assert full == pytest.approx(400 / 410)
    small = subsample_steps(batch, 8, torch.Generator().manual_seed(0))
    x, m = small.features["visual"], small.mask["visual"]
    unweighted = reconstruction_loss(x, torch.zeros_like(x), m)
    weighted = reconstruction_loss(x, torch.zeros_like(x), step_weights(small, {"visual": lengths})["visual"])
    assert unweighted == pytest.approx(0.5) and weighted == pytest.approx(400 / 410)
    # errors that vary along a row: the weighted estimate's mean over random phases is the full loss
    errors = torch.rand(2, 400, 1, generator=torch.Generator().manual_seed(1)) * torch.linspace(0, 3, 400)[None, :, None]
    batch = type(batch)(features={"visual": errors}, mask={"visual": mask}, present=batch.present, labels=batch.labels,
                        ids=batch.ids, sources=batch.sources)
    full = float(reconstruction_loss(errors, torch.zeros_like(errors), mask))
    generator = torch.Generator().manual_seed(2)
    estimates = []
    for _ in range(3000):
        small = subsample_steps(batch, 8, generator)
        w = step_weights(small, {"visual": lengths})["visual"]
        estimates.append(float(reconstruction_loss(small.features["visual"], torch.zeros_like(small.features["visual"]), w)))
    mean = sum(estimates) / len(estimates)
    spread = (sum((e - mean) ** 2 for e in estimates) / len(estimates)) ** 0.5 / math.sqrt(len(estimates))
    assert abs(mean - full) < 4 * spread + 1e-4, (mean, full, spread)


def test_translator_only_update_leaves_the_recogniser_unchanged(tmp_path, monkeypatch):
    monkeypatch.setenv("XMER_CACHE", str(tmp_path / "cache"))
    trainer = Trainer(load_config(None, SMALL + TOY), tmp_path / "run")
    batch = next(trainer.dataset.batches(trainer.train_records, 8))
    recognizer = {n: p.detach().clone() for n, p in trainer.model.recognizer.named_parameters()}
    translator = {n: p.detach().clone() for n, p in trainer.model.translator.named_parameters()}
    discriminators = {n: p.detach().clone() for n, p in trainer.model.discriminators.named_parameters()}
    trainer.model.train()
    trainer.translator_update(batch)
    for n, p in trainer.model.recognizer.named_parameters():
        assert torch.equal(recognizer[n], p), n
    assert any(not torch.equal(translator[n], p) for n, p in trainer.model.translator.named_parameters())
    assert any(not torch.equal(discriminators[n], p) for n, p in trainer.model.discriminators.named_parameters())

