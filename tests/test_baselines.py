"""Baselines (late fusion, Multimodal-Transformer-style): what is specific to them. The interface,
subset, padding and absent-value sweeps run over every registered model in tests/test_models.py."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from test_models import CLASSES, DIMS, TINY, fit, make_batch, make_model, make_samples
from xmer.data.contract import Sample, collate
from xmer.errors import ConfigError
from xmer.modalities import MODALITIES, SUBSETS
from xmer.models import build_model
from xmer.models.baselines import CrossAttention, LateFusion, MulT


def test_registered_names_build_the_baselines():
    assert isinstance(make_model("late_fusion"), LateFusion)
    assert isinstance(make_model("mult"), MulT)


def test_late_fusion_is_the_mean_of_single_modality_logits():
    model = make_model("late_fusion").eval()
    batch = make_batch(make_samples(SUBSETS, False), False)
    with torch.no_grad():
        fused = model(batch)
        single = {m: model(batch.keep_modalities([m]).select(batch.present[m])) for m in MODALITIES}
    for row, subset in enumerate(SUBSETS):
        expected = torch.stack([single[m][batch.present[m][: row + 1].sum() - 1] for m in subset]).mean(0)
        torch.testing.assert_close(fused[row], expected)
    # and the loss is the loss of the averaged logits
    torch.testing.assert_close(model.loss(fused, batch.labels), torch.nn.functional.cross_entropy(fused, batch.labels))


def test_mult_ignores_an_absent_source():
    """A row's output is the same whether a modality is dropped, or marked absent with any values in it."""
    model = make_model("mult").eval()
    batch = make_batch(make_samples([MODALITIES] * 3, False), False)
    dropped = batch.keep_modalities(("visual", "text"))
    features = dict(dropped.features, audio=torch.randn_like(batch.features["audio"]) * 100)
    mask = dict(dropped.mask, audio=torch.ones_like(batch.mask["audio"]))  # `present` decides, not the mask
    garbage = dataclasses.replace(dropped, features=features, mask=mask)
    kept = [{m: batch.features[m][i, batch.mask[m][i]].numpy() for m in ("visual", "text")} for i in range(3)]
    partial = make_batch([Sample(s, "test", kept[i], 0) for i, s in enumerate(batch.ids)], False)  # no audio at all
    with torch.no_grad():
        reference = model(partial)
        torch.testing.assert_close(model(dropped), reference, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(model(garbage), reference, atol=1e-5, rtol=1e-5)
        # the source is attended when present: changing it changes the output
        changed = dataclasses.replace(batch, features=dict(batch.features, audio=batch.features["audio"] + 1.0))
        assert not torch.allclose(model(changed), model(batch))


def test_mult_target_alone_uses_its_own_sequence():
    model = make_model("mult").eval()
    batch = make_batch(make_samples([("text",)] * 2, False), False)
    with torch.no_grad():
        logits = model(batch)
        changed = dataclasses.replace(batch, features=dict(batch.features, text=batch.features["text"] * 2))
        assert torch.isfinite(logits).all() and not torch.allclose(model(changed), logits)


def test_cross_attention_matches_masked_softmax_and_empty_rows_give_zero():
    torch.manual_seed(0)
    attention = CrossAttention(8, heads=2).eval()
    x, context = torch.randn(3, 4, 8), torch.randn(3, 5, 8)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False], [False] * 5])
    out = attention(x, context, mask)
    assert torch.isfinite(out).all()
    assert torch.equal(out[2], torch.zeros(4, 8))  # no keys: zero, not NaN
    # reference: per-head softmax over the real keys only
    q = attention.query(x).view(3, 4, 2, 4).transpose(1, 2)
    k, v = attention.key_value(context).view(3, 5, 2, 2, 4).permute(2, 0, 3, 1, 4)
    scores = (q @ k.transpose(-1, -2) / 2.0).masked_fill(~mask[:, None, None, :], float("-inf"))
    y = (scores[:2].softmax(-1) @ v[:2]).transpose(1, 2).reshape(2, 4, 8)
    torch.testing.assert_close(out[:2], attention.out(y))
    # no gradient reaches the context of a row without keys
    context.requires_grad_(True)
    attention(x, context, mask).sum().backward()
    assert torch.equal(context.grad[2], torch.zeros(5, 8)) and torch.isfinite(context.grad).all()


def test_mult_needs_a_cross_modal_layer():
    with pytest.raises(ConfigError, match="encoder_layers"):
        build_model(dataclasses.replace(TINY, name="mult", encoder_layers=0), DIMS, CLASSES, False)


def test_baselines_ignore_the_fusion_weights():
    config = dataclasses.replace(TINY, name="late_fusion", modality_weights={})
    assert isinstance(build_model(config, DIMS, CLASSES, False), LateFusion)


@pytest.mark.parametrize("multi_label", [False, True], ids=["single", "multi"])
@pytest.mark.parametrize("name", ["late_fusion", "mult"])
def test_baselines_learn_a_cross_modal_task_with_missing_modalities(name, multi_label):
    """The class is split over two modalities (audio says which half, text which class in the half);
    rows randomly lack visual (noise only). 50 Adam steps must fit it."""
    rng = np.random.default_rng(0)
    samples = []
    classes = 4
    dims = dict(DIMS)
    for i in range(64):
        label = i % classes
        audio = rng.normal(scale=0.3, size=(int(rng.integers(2, 6)), dims["audio"])).astype(np.float32)
        audio[:, label // 2] += 2.0
        text = rng.normal(scale=0.3, size=(int(rng.integers(2, 6)), dims["text"])).astype(np.float32)
        text[:, label % 2] += 2.0
        features = {"audio": audio, "text": text}
        if i % 3:
            features["visual"] = rng.normal(size=(4, dims["visual"])).astype(np.float32)
        target = np.eye(classes, dtype=np.float32)[label] if multi_label else label
        samples.append(Sample(f"s{i}", "test", features, target))
    batch = collate(samples, MODALITIES, dims, classes, multi_label)
    torch.manual_seed(0)
    model = fit(build_model(dataclasses.replace(TINY, name=name), dims, classes, multi_label), batch, steps=50)
    model.eval()
    with torch.no_grad():
        predicted = model(batch).argmax(-1)
    truth = batch.labels.argmax(-1) if multi_label else batch.labels
    assert (predicted == truth).float().mean().item() >= 0.95
