"""Models: every registered model over every modality subset, masking invariances, pooling, learning."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from xmer.config import ModelConfig
from xmer.data.contract import Batch, Sample, collate
from xmer.errors import ConfigError
from xmer.modalities import MODALITIES, SUBSETS, subset_name
from xmer.models import MODELS, build_model
from xmer.models.fusion import modality_weights, resample
from xmer.models.layers import segment_mean, shorten

DIMS = {"visual": 5, "audio": 6, "text": 7}
CLASSES = 3
TINY = ModelConfig(d_model=32, d_ff=32, heads=4, fusion_length=4, max_encoder_steps=8)


def make_samples(subsets, multi_label: bool, seed: int = 0, max_len: int = 6) -> list[Sample]:
    """One sample per entry of ``subsets``, random lengths 1..max_len, random labels."""
    rng = np.random.default_rng(seed)
    samples = []
    for i, subset in enumerate(subsets):
        features = {m: rng.normal(size=(int(rng.integers(1, max_len + 1)), DIMS[m])).astype(np.float32) for m in subset}
        label = (rng.random(CLASSES) < 0.5).astype(np.float32) if multi_label else int(rng.integers(CLASSES))
        samples.append(Sample(id=f"s{i}", source="test", features=features, label=label))
    return samples


def make_batch(samples, multi_label: bool) -> Batch:
    return collate(samples, MODALITIES, DIMS, CLASSES, multi_label)


def make_model(name: str = "recognizer", multi_label: bool = False, seed: int = 0, **changes) -> torch.nn.Module:
    torch.manual_seed(seed)
    config = dataclasses.replace(TINY, name=name, **changes)
    return build_model(config, DIMS, CLASSES, multi_label)


def fit(model: torch.nn.Module, batch: Batch, steps: int, lr: float = 3e-3) -> torch.nn.Module:
    """``steps`` Adam steps of the model's own loss on one batch."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        model.loss(model(batch), batch.labels).backward()
        optimizer.step()
    return model


def pad_batch(batch: Batch, extra: int, seed: int = 1) -> Batch:
    """The same batch with ``extra`` more padded steps per modality, holding random garbage."""
    generator = torch.Generator().manual_seed(seed)
    features, mask = {}, {}
    for m, x in batch.features.items():
        size, steps, width = x.shape
        garbage = torch.randn(size, steps + extra, width, generator=generator)
        valid = torch.zeros(size, steps + extra, dtype=torch.bool)
        valid[:, :steps] = batch.mask[m]
        features[m] = torch.where(valid[..., None], torch.nn.functional.pad(x, (0, 0, 0, extra)), garbage)
        mask[m] = valid
    return dataclasses.replace(batch, features=features, mask=mask)


# ---------------------------------------------------------------------------------------------------
# Component sweep: every model x every subset x single/multi-label


@pytest.mark.parametrize("multi_label", [False, True], ids=["single", "multi"])
@pytest.mark.parametrize("subset", SUBSETS, ids=subset_name)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_forward_backward_every_subset(name, subset, multi_label):
    model = make_model(name, multi_label)
    batch = make_batch(make_samples([subset] * 4, multi_label), multi_label)
    logits = model(batch)
    assert logits.shape == (4, CLASSES)
    assert torch.isfinite(logits).all()
    model.loss(logits, batch.labels).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    probabilities = model.probabilities(logits)
    assert probabilities.shape == (4, CLASSES) and ((probabilities >= 0) & (probabilities <= 1)).all()
    if not multi_label:
        torch.testing.assert_close(probabilities.sum(-1), torch.ones(4))


@pytest.mark.parametrize("multi_label", [False, True], ids=["single", "multi"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_rows_with_different_subsets(name, multi_label):
    model = make_model(name, multi_label)
    batch = make_batch(make_samples(SUBSETS, multi_label), multi_label)
    logits = model(batch)
    assert logits.shape == (len(SUBSETS), CLASSES) and torch.isfinite(logits).all()
    model.loss(logits, batch.labels).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    # each row's logits are those it gets alone: rows do not interact
    model.eval()
    with torch.no_grad():
        together = model(batch)
        alone = torch.cat([model(batch.select(torch.tensor([i]))) for i in range(len(SUBSETS))])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------------------------------------------
# Masks: padding and absent modalities change nothing


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("extra", [3, 40], ids=["short-pad", "pad-past-max-steps"])
def test_padding_invariance(name, extra):
    model = make_model(name).eval()
    samples = make_samples(SUBSETS, False, max_len=12)
    with torch.no_grad():
        padded = model(pad_batch(make_batch(samples, False), extra))  # rows padded by different amounts
        alone = torch.cat([model(make_batch([s], False)) for s in samples])  # no padding at all
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_absent_modality_values_do_not_matter(name):
    model = make_model(name).eval()
    batch = make_batch(make_samples(SUBSETS, False), False)
    features = {m: x.clone() for m, x in batch.features.items()}
    mask = {m: x.clone() for m, x in batch.mask.items()}
    for m in MODALITIES:
        absent = ~batch.present[m]
        features[m][absent] = torch.randn_like(features[m][absent]) * 100
        mask[m][absent] = True  # even a mask that claims real steps: `present` decides
    noisy = dataclasses.replace(batch, features=features, mask=mask)
    with torch.no_grad():
        torch.testing.assert_close(model(noisy), model(batch))


def test_batch_without_a_modality_key_counts_as_absent():
    model = make_model().eval()
    samples = make_samples([("visual", "audio")] * 3, False)
    full = make_batch(samples, False)
    partial = collate(samples, ("visual", "audio"), DIMS, CLASSES, False)  # no "text" key at all
    with torch.no_grad():
        torch.testing.assert_close(model(partial), model(full))


def test_sample_without_any_modality_is_an_error():
    model = make_model()
    batch = make_batch(make_samples([("visual",), ("text",)], False), False)
    with pytest.raises(ValueError, match="'s1'"):
        model(batch.keep_modalities(("visual", "audio")))
    visual_only = build_model(TINY, {"visual": DIMS["visual"]}, CLASSES, False)
    with pytest.raises(ValueError, match="'s1'"):
        visual_only(batch)


def test_missing_modality_weights_are_renormalised():
    present = {"visual": torch.tensor([True, True, False]), "audio": torch.tensor([True, False, False]),
               "text": torch.tensor([True, True, True])}
    weights = modality_weights(present, {"visual": 0.5, "audio": 0.25, "text": 0.25})
    torch.testing.assert_close(weights["visual"], torch.tensor([0.5, 2 / 3, 0.0]))
    torch.testing.assert_close(weights["audio"], torch.tensor([0.25, 0.0, 0.0]))
    torch.testing.assert_close(weights["text"], torch.tensor([0.25, 1 / 3, 1.0]))


# ---------------------------------------------------------------------------------------------------
# Temporal pooling


def test_long_sequences_are_shortened_before_attention():
    model = make_model().eval()
    lengths = {"visual": 50, "audio": 23, "text": 8}  # max_encoder_steps = 8
    rng = np.random.default_rng(0)
    samples = []
    for i in range(3):
        features = {m: rng.normal(size=(n - 3 * i, DIMS[m])).astype(np.float32) for m, n in lengths.items()}
        samples.append(Sample(f"s{i}", "test", features, 0))
    batch = make_batch(samples, False)
    encoder = model.encoders["visual"]
    h, h_mask = encoder(batch.features["visual"], batch.mask["visual"])
    # lengths 50, 47, 44 -> stride 7, 6, 6 -> 8, 8, 8 pooled steps
    assert h.shape == (3, 8, 32) and h_mask.all()
    _, h_mask = model.encoders["audio"](batch.features["audio"], batch.mask["audio"])
    # lengths 23, 20, 17 -> stride 3, 3, 3 -> 8, 7, 6 pooled steps
    assert h_mask.sum(1).tolist() == [8, 7, 6]
    with torch.no_grad():
        logits = model(batch)
        alone = torch.cat([model(make_batch([s], False)) for s in samples])  # each row's own stride
        torch.testing.assert_close(model(pad_batch(batch, 30)), alone, atol=1e-5, rtol=1e-5)
    assert torch.isfinite(logits).all()


def test_shorten_averages_real_steps_only():
    x = torch.arange(10, dtype=torch.float32).reshape(1, 10, 1).repeat(2, 1, 1)  # (2, 10, 1): 0..9
    mask = torch.tensor([[True] * 10, [True] * 7 + [False] * 3])
    x[1, 7:] = 1000.0  # padding
    pooled, valid = shorten(x, mask, max_steps=4)
    # row 0: 10 steps, stride 3 -> [0,1,2] [3,4,5] [6,7,8] [9]; row 1: 7 steps, stride 2 -> [0,1] [2,3] [4,5] [6]
    assert valid.tolist() == [[True] * 4, [True] * 4]
    torch.testing.assert_close(pooled[0, :, 0], torch.tensor([1.0, 4.0, 7.0, 9.0]))
    torch.testing.assert_close(pooled[1, :, 0], torch.tensor([0.5, 2.5, 4.5, 6.0]))
    short, short_valid = shorten(x[:, :3], mask[:, :3], max_steps=4)  # nothing to do
    assert torch.equal(short, x[:, :3]) and torch.equal(short_valid, mask[:, :3])


def test_shorten_fast_path_matches_segment_mean():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(5, 37, 3, generator=generator)
    lengths = torch.tensor([37, 30, 9, 5, 1])
    mask = torch.arange(37)[None, :] < lengths[:, None]
    fast, valid = shorten(x, mask, max_steps=7)
    stride = (lengths + 6) // 7
    index = torch.arange(fast.shape[1])[None, :]
    starts = (index * stride[:, None]).clamp(max=lengths[:, None])
    ends = ((index + 1) * stride[:, None]).clamp(max=lengths[:, None])
    torch.testing.assert_close(fast[valid], segment_mean(x, mask, starts, ends)[valid])
    # a mask with holes takes the general path: real steps are packed in rank order
    holes = mask.clone()
    holes[0, 3] = False
    general, _ = shorten(x, holes, max_steps=7)
    packed = torch.cat([x[0, :3], x[0, 4:]])  # the 36 real steps of row 0, stride 6
    torch.testing.assert_close(general[0, 0], packed[:6].mean(0))


def test_resample_is_masked_adaptive_average_pooling():
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0, 0.0], [5.0, 99.0, 99.0, 99.0, 99.0]])[..., None]  # (2, 5, 1)
    mask = torch.tensor([[True] * 4 + [False], [True] + [False] * 4])
    out = resample(x, mask, length=2)[..., 0]
    torch.testing.assert_close(out, torch.tensor([[1.5, 3.5], [5.0, 5.0]]))
    expected = torch.nn.functional.adaptive_avg_pool1d(x[:1, :4].transpose(1, 2), 3).transpose(1, 2)
    torch.testing.assert_close(resample(x[:1], mask[:1], 3), expected)


# ---------------------------------------------------------------------------------------------------
# Registry, config, determinism, learning


def test_build_model_unknown_name_lists_valid_names():
    with pytest.raises(ConfigError, match="recognizer"):
        build_model(dataclasses.replace(TINY, name="nope"), DIMS, CLASSES, False)


def test_invalid_config_is_a_config_error():
    with pytest.raises(ConfigError, match="heads"):
        build_model(dataclasses.replace(TINY, heads=5), DIMS, CLASSES, False)
    with pytest.raises(ConfigError, match="text"):
        build_model(dataclasses.replace(TINY, modality_weights={"visual": 0.5, "audio": 0.5}), DIMS, CLASSES, False)


def test_wrong_feature_size_names_the_modality():
    batch = make_batch(make_samples([("visual", "audio")] * 2, False), False)
    model = build_model(TINY, {**DIMS, "audio": DIMS["audio"] + 1}, CLASSES, False)
    with pytest.raises(ValueError, match="audio"):
        model(batch)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_training_is_deterministic(name):
    def run() -> list[torch.Tensor]:
        model = make_model(name, seed=3)
        batch = make_batch(make_samples(SUBSETS, False), False)
        torch.manual_seed(5)
        fit(model, batch, steps=3, lr=1e-3)
        return [p.detach().clone() for p in model.parameters()]

    assert all(torch.equal(a, b) for a, b in zip(run(), run()))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_learns_an_easy_task(name):
    rng = np.random.default_rng(0)
    samples = []
    for i in range(48):
        label = i % CLASSES
        visual = rng.normal(scale=0.5, size=(int(rng.integers(3, 7)), DIMS["visual"])).astype(np.float32)
        visual[:, label] += 2.0  # the class is in the mean of the visual sequence
        features = {"visual": visual, "audio": rng.normal(size=(5, DIMS["audio"])).astype(np.float32)}
        samples.append(Sample(f"s{i}", "test", features, label))
    batch = make_batch(samples, False)
    model = fit(make_model(name), batch, steps=50)
    model.eval()
    with torch.no_grad():
        accuracy = (model(batch).argmax(-1) == batch.labels).float().mean().item()
    assert accuracy >= 0.95
