"""Calibration (temperature scaling, ECE) and modality dropout: the pieces of issue 10.4/10.5."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xmer.data.contract import Sample, collate, modality_dropout
from xmer.evaluation.calibration import expected_calibration_error, fit_temperature, softmax
from xmer.evaluation.metrics import compute_metrics


def test_ece_by_hand():
    # Two bins used: confidence 0.9 (2 samples, 1 right) and 0.6 (2 samples, 2 right).
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]])
    y = np.array([0, 1, 0, 1])
    expected = 0.5 * abs(0.5 - 0.9) + 0.5 * abs(1.0 - 0.6)
    assert expected_calibration_error(probs, y) == pytest.approx(expected)
    assert expected_calibration_error(np.eye(3), np.arange(3)) == pytest.approx(0.0)


def test_fit_temperature_recovers_the_temperature_that_made_the_labels():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(20_000, 5))
    true_t = 2.5
    p = softmax(logits, true_t)
    y = np.array([rng.choice(5, p=row) for row in p])
    t = fit_temperature(logits, y)
    assert t == pytest.approx(true_t, rel=0.05)
    # Calibrating leaves every decision as it was and lowers the ECE of these over-confident logits.
    assert (softmax(logits, t).argmax(1) == logits.argmax(1)).all()
    assert expected_calibration_error(softmax(logits, t), y) < expected_calibration_error(softmax(logits), y) / 3


def test_metrics_report_ece_only_for_probabilities():
    y = np.array([0, 1, 1])
    probs = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    assert "ece" in compute_metrics(y, probs, ["a", "b"], False)
    assert "ece" not in compute_metrics(y, probs * 5, ["a", "b"], False)  # scores, not probabilities


def _present(rows):
    return {m: torch.tensor(col, dtype=torch.bool) for m, col in zip(("visual", "audio", "text"), zip(*rows))}


def test_modality_dropout_keeps_one_and_never_invents():
    present = _present([(1, 1, 1)] * 2000 + [(1, 0, 0)] * 500 + [(0, 1, 1)] * 500)
    drop = modality_dropout(present, 0.4, torch.Generator().manual_seed(0))
    kept = torch.stack([present[m] & ~drop[m] for m in present], 1)
    assert kept.any(1).all()  # every sample keeps at least one modality
    for m in present:
        assert not (drop[m] & ~present[m]).any()  # only present modalities are withheld
    assert not drop["visual"][2000:2500].any()  # a unimodal sample keeps its only modality
    rate = float(drop["audio"][:2000].float().mean())
    assert 0.3 < rate < 0.45  # about p, a little less where a sample would have lost everything
    again = modality_dropout(present, 0.4, torch.Generator().manual_seed(0))
    assert all(torch.equal(drop[m], again[m]) for m in drop)  # seeded


def test_withheld_modalities_are_absent_in_features_mask_and_present():
    samples = [Sample(id=str(i), source="s", label=0, features={"visual": np.ones((3, 2), np.float32),
                                                             "audio": np.ones((4, 2), np.float32)}) for i in range(2)]
    batch = collate(samples, ["visual", "audio"], {"visual": 2, "audio": 2}, 2, False)
    out = batch.withhold({"audio": torch.tensor([True, False])})
    assert out.present["audio"].tolist() == [False, True] and not out.mask["audio"][0].any()
    assert float(out.features["audio"][0].abs().sum()) == 0 and float(out.features["audio"][1].sum()) == 8
    assert torch.equal(out.features["visual"], batch.features["visual"])


@pytest.mark.slow
def test_training_with_modality_dropout_learns(tmp_path, monkeypatch):
    from xmer.config import load_config
    from xmer.errors import ConfigError
    from xmer.training.trainer import Trainer

    monkeypatch.setenv("XMER_CACHE", str(tmp_path / "cache"))
    tiny = ["data.toy.trimodal=200", "data.toy.bimodal=20", "data.toy.unimodal=20", "data.toy.valid=80", "data.toy.test=40",
            "data.toy.noise=1.0", "data.batch_size=32", "model.d_model=32", "model.d_ff=32", "model.fusion_length=8",
            "train.lr=0.003", "train.warmup_steps=5", "train.progress=false", "train.epochs=4"]
    with pytest.raises(ConfigError, match="modality_dropout"):
        load_config(None, tiny + ["method.modality_dropout=1.0"])
    state = Trainer(load_config(None, tiny + ["method.modality_dropout=0.5", "train.select_on_subsets=true"]),
                    tmp_path / "run").fit()
    # Selected on the macro-F1 averaged over the 7 subsets (a single modality alone is weak on the toy set).
    best = state.history[state.best_epoch - 1]
    assert state.best_score == best["valid_subset_mean_macro_f1"] < best["valid_macro_f1"]
    assert state.best_score > 0.4  # chance 0.25
