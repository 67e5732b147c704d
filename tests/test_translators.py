"""The cross-modal translators, Algorithm 1 and the 1:n training strategies (paper III.B-C)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from xmer.config import load_config
from xmer.data.contract import Sample, collate
from xmer.models.system import build_system
from xmer.modalities import MODALITIES, PAIRS, SUBSETS, subset_name
from xmer.training.objectives import translation_objectives
from xmer.training.trainer import Trainer

DIMS = {"visual": 6, "audio": 5, "text": 4}
SMALL = ["model.d_model=16", "model.d_ff=16", "model.heads=2", "model.fusion_length=4",
         "translator.enabled=true", "translator.hidden=16", "translator.latent=8", "translator.step_disc_hidden=8"]


def make_batch(subsets, multi_label=False, k=3, seed=0):
    rng = np.random.default_rng(seed)
    samples = []
    for n, subset in enumerate(subsets):
        feats = {m: rng.normal(size=(int(rng.integers(2, 9)), DIMS[m])).astype(np.float32) for m in subset}
        label = (rng.random(k) > 0.5).astype(np.float32) if multi_label else int(rng.integers(k))
        samples.append(Sample(id=f"s{n}", source="t", features=feats, label=label))
    return collate(samples, MODALITIES, DIMS, k, multi_label)


def make_system(*overrides, multi_label=False):
    torch.manual_seed(0)
    return build_system(load_config(None, SMALL + list(overrides)), DIMS, 3, multi_label)


def test_every_direction_translates_step_by_step():
    system = make_system().eval()
    batch = make_batch([("visual", "audio", "text")] * 2)
    for source, target in PAIRS:
        out, encoding = system.translator.translate(source, target, batch.features[source])
        assert out.shape == (2, batch.features[source].shape[1], DIMS[target])  # the source's length
        assert encoding.mean.shape[-1] == 8 and torch.isfinite(out).all()


def test_encoders_share_their_last_layer_and_decoders_their_first():
    translator = make_system().translator
    heads = {id(translator.shared_encoder_head)}
    assert len(heads) == 1 and len(translator.encoders) == 3 and len(translator.decoders) == 3
    names = [n for n, _ in translator.named_parameters()]
    assert sum(n.startswith("shared_encoder_head") for n in names) == 2  # one weight, one bias for all
    assert sum(n.startswith("shared_decoder_stem") for n in names) == 2


@pytest.mark.parametrize("multi_label", [False, True])
@pytest.mark.parametrize("subset", SUBSETS, ids=subset_name)
def test_any_subset_in_one_prediction_out(subset, multi_label):
    system = make_system(multi_label=multi_label).eval()
    batch = make_batch([subset, ("visual", "audio", "text")], multi_label=multi_label)
    logits = system(batch)
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()
    imagined = system.imagined_modalities(batch)
    assert [m for m in MODALITIES if imagined[m][0]] == [m for m in MODALITIES if m not in subset]
    assert not any(bool(imagined[m][1]) for m in MODALITIES)


def test_algorithm1_all_combinations_counts():
    system = make_system()
    batch = make_batch([("visual", "audio", "text"), ("visual", "audio"), ("text",)])
    augmented, combos = system.augment(batch, "all")
    per_sample = {i: augmented.ids.count(i) for i in batch.ids}
    assert per_sample == {"s0": 27, "s1": 8, "s2": 1}
    names = system.combination_names(combos)
    assert len(set(names[:27])) == 27  # the trimodal sample gets every combination once
    assert sorted(names[27:35]) == sorted(a + b + c for a in "va" for b in "va" for c in "va")
    # a unimodal text sample can only be: real text, audio and visual imagined from text
    assert names[-1] == "ttt"
    row = augmented.ids.index("s2")
    assert bool(augmented.imagined["visual"][row]) and not bool(augmented.imagined["text"][row])
    for m in MODALITIES:
        assert augmented.present[m].all()


def test_algorithm1_sampled_k_includes_the_observed_combination():
    system = make_system()
    batch = make_batch([("visual", "audio", "text"), ("audio",), ("visual", "text")])
    g = torch.Generator().manual_seed(0)
    augmented, combos = system.augment(batch, "sampled", k=3, generator=g)
    assert {i: augmented.ids.count(i) for i in batch.ids} == {"s0": 3, "s1": 1, "s2": 3}
    names = system.combination_names(combos)
    assert names[0] == "vat"  # the trimodal sample's observed combination is always among its k
    assert names[augmented.ids.index("s1")] == "aaa"
    again, combos2 = system.augment(batch, "sampled", k=3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(combos, combos2)  # seeded


@pytest.mark.parametrize("multi_label", [False, True])
def test_objectives_reach_only_their_own_side(multi_label):
    system = make_system(multi_label=multi_label).train()
    batch = make_batch(list(SUBSETS), multi_label=multi_label)
    weights = load_config().method.losses
    g_total, d_total, parts = translation_objectives(system, batch, weights)
    assert torch.isfinite(g_total) and torch.isfinite(d_total)
    assert parts["translator_gan"] == 0.0  # unaligned data: eq. 10 is skipped
    assert all(np.isfinite(v) for v in parts.values()) and parts["translator_seqdis"] > 0
    g_total.backward(inputs=list(system.translator.parameters()), retain_graph=True)
    assert all(p.grad is None for p in system.discriminators.parameters())
    assert all(p.grad is not None for p in system.translator.parameters())
    d_total.backward(inputs=list(system.discriminators.parameters()))
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in system.discriminators.sequence.parameters())


def test_aligned_data_enables_the_paired_gan_loss():
    system = make_system().train()
    rng = np.random.default_rng(0)
    samples = [Sample(id=f"a{i}", source="t", label=i % 3,
                      features={m: rng.normal(size=(5, DIMS[m])).astype(np.float32) for m in MODALITIES}) for i in range(3)]
    batch = collate(samples, MODALITIES, DIMS, 3, False)
    _, _, parts = translation_objectives(system, batch, load_config().method.losses, aligned=True)
    assert parts["translator_gan"] > 0


class _Counter:
    def __init__(self, optimizer):
        self.calls = 0
        optimizer.register_step_post_hook(self._count)

    def _count(self, *args):
        self.calls += 1


TOY = ["data.toy.trimodal=24", "data.toy.bimodal=8", "data.toy.unimodal=8", "data.toy.valid=16", "data.toy.test=8",
       "data.batch_size=8", "train.progress=false"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XMER_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("n", [1, 3])
def test_end_to_end_one_to_n_counts_optimiser_steps(tmp_path, cache, n):
    config = load_config(None, SMALL + TOY + ["train.epochs=1", f"method.recognizer_steps_per_translator_step={n}"])
    trainer = Trainer(config, tmp_path / "run")
    counters = [_Counter(o) for o in (trainer.optimizer, trainer.translator_optimizer, trainer.discriminator_optimizer)]
    trainer.fit()
    steps = len(trainer.train_records) // 8  # 72 samples, batch 8 -> 9 steps
    assert steps == 9
    assert [c.calls for c in counters] == [steps, steps // n, steps // n]
    assert trainer.state.translator_steps == steps // n
    assert (tmp_path / "run" / "combinations.json").exists()


def test_end_to_end_recognizer_loss_reaches_the_translators(tmp_path, cache):
    config = load_config(None, SMALL + TOY + ["method.recognizer_steps_per_translator_step=1000"])
    trainer = Trainer(config, tmp_path / "run")
    params = list(trainer.optimizer.param_groups[0]["params"])
    assert any(p is q for q in trainer.model.translator.parameters() for p in params)
    before = [p.detach().clone() for p in trainer.model.translator.parameters()]
    batch = next(trainer.dataset.batches(trainer.train_records, 8))
    trainer.train_step(batch)
    assert trainer.state.translator_steps == 0  # no translator-only update yet ...
    after = list(trainer.model.translator.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after))  # ... yet the translators moved


def test_pipeline_trains_translators_first_then_freezes_them(tmp_path, cache):
    config = load_config(None, SMALL + TOY + ["train.epochs=2", "method.strategy=pipeline", "method.pipeline_translator_epochs=2"])
    trainer = Trainer(config, tmp_path / "run")
    counters = [_Counter(o) for o in (trainer.optimizer, trainer.translator_optimizer)]
    assert not any(p is q for q in trainer.model.translator.parameters() for p in trainer.optimizer.param_groups[0]["params"])
    original = trainer.train_epoch
    frozen = {}

    def spy(epoch, step=None):
        if epoch > 0 and not frozen:
            frozen.update({n: p.detach().clone() for n, p in trainer.model.translator.named_parameters()})
        return original(epoch, step)

    trainer.train_epoch = spy
    trainer.fit()
    assert trainer.state.translator_epochs == 2 and counters[1].calls == 2 * 9
    assert counters[0].calls == 2 * 9
    phase_one = json.loads((tmp_path / "run" / "translator_history.json").read_text())
    assert [e["epoch"] for e in phase_one] == [1, 2] and all(e["seconds"] > 0 for e in phase_one)
    for n, p in trainer.model.translator.named_parameters():
        assert torch.equal(frozen[n], p), n


def test_the_recognizer_object_imagines_what_is_missing(tmp_path, cache):
    from xmer.inference import Recognizer

    Trainer(load_config(None, SMALL + TOY + ["train.epochs=1"]), tmp_path / "run").fit()
    rec = Recognizer.load(tmp_path / "run")
    rng = np.random.default_rng(0)
    out = rec.predict({"audio": rng.normal(size=(9, 24)).astype(np.float32)})
    assert out.observed == ["audio"] and out.imagined == ["visual", "text"]
    assert sum(out.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    full = rec.predict({m: rng.normal(size=(5, d)).astype(np.float32) for m, d in rec.input_dims.items()})
    assert full.imagined == [] and full.observed == list(MODALITIES)


def test_subsample_steps_keeps_real_evenly_spaced_steps():
    from xmer.training.objectives import subsample_steps

    batch = make_batch([("visual", "audio", "text")] * 3, seed=1)
    lengths = batch.mask["visual"].sum(1)
    small = subsample_steps(batch, 4, torch.Generator().manual_seed(0))
    assert small.features["visual"].shape[1] == 4 and small.mask["visual"].shape == (3, 4)
    for b in range(3):
        rows = batch.features["visual"][b, : lengths[b]]
        kept = small.features["visual"][b][small.mask["visual"][b]]
        assert len(kept) == min(4, int(lengths[b]))
        assert all(any(torch.equal(k, r) for r in rows) for k in kept)  # only real steps
    assert subsample_steps(batch, 0) is batch


def test_translation_diagnostics_cover_every_direction(tmp_path, cache):
    from xmer.scoring import evaluate_run

    Trainer(load_config(None, SMALL + TOY + ["train.epochs=1"]), tmp_path / "run").fit()
    metrics = evaluate_run(tmp_path / "run", "test")
    diag = metrics["translation"]
    assert diag["n"] == 16  # the validation split
    for group in ("cycle_reconstruction", "seqdis_emotion_accuracy", "recognizer_accuracy_with_translation"):
        assert {f"{a}_to_{b}" for a, b in PAIRS} <= set(diag[group])
    assert set(diag["self_reconstruction"]) == set(MODALITIES)
    assert all(0 <= v <= 1 for v in diag["seqdis_emotion_accuracy"].values())
    report = (tmp_path / "run" / "report.md").read_text()
    assert "visual -> audio" in report and "left out" in report


def test_augmentation_restricted_to_some_modalities():
    system = make_system()
    batch = make_batch([("visual", "audio", "text"), ("audio",)])
    augmented, combos = system.augment(batch, "all", imaginable=("text",))
    names = system.combination_names(combos)
    # trimodal: only text may be imagined (from visual or audio); the unimodal audio sample keeps
    # visual absent and may imagine text from audio only.
    assert sorted(names[:3]) == ["vaa", "vat", "vav"]
    row = augmented.ids.index("s1")
    assert names[row] == "vaa" and not bool(augmented.present["visual"][row]) and bool(augmented.present["text"][row])
    logits = system.recognizer(augmented)
    assert torch.isfinite(logits).all()


@pytest.mark.slow
def test_translators_learn_the_toy_mapping(tmp_path, cache):
    """Translator-only training (the pipeline's first phase) on the toy set: the cycle error falls
    towards the noise floor, and SeqDis recognises the source's emotion in translated sequences
    above chance (25%)."""
    from xmer.evaluation.diagnostics import translation_diagnostics

    config = load_config(None, SMALL + [
        "data.toy.trimodal=240", "data.toy.bimodal=0", "data.toy.unimodal=0", "data.toy.valid=80", "data.toy.test=8",
        "data.toy.noise=0.5", "data.batch_size=16", "train.progress=false", "method.strategy=pipeline",
        "method.pipeline_translator_epochs=20", "train.epochs=0", "translator.hidden=32", "translator.latent=16",
        "method.translator_lr=0.003", "method.discriminator_lr=0.003"])
    trainer = Trainer(config, tmp_path / "run")
    measure = lambda: translation_diagnostics(trainer.model, trainer.dataset, trainer.valid_records, 32, trainer.input_dims)  # noqa: E731
    before = measure()
    trainer.fit()
    after = measure()
    for a, b in PAIRS:
        key = f"{a}_to_{b}"
        assert after["cycle_reconstruction"][key] < 0.7 * before["cycle_reconstruction"][key], key
    # chance is 0.25; no single modality can exceed 0.75 on the toy set (each merges two classes)
    assert np.mean([after["seqdis_emotion_accuracy"][f"{a}_to_{b}"] for a, b in PAIRS]) > 0.33


def test_an_exported_model_predicts_like_its_run(tmp_path, cache, capsys):
    from xmer.cli import main
    from xmer.inference import Recognizer

    Trainer(load_config(None, SMALL + TOY + ["train.epochs=1"]), tmp_path / "run").fit()
    assert main(["export", str(tmp_path / "run"), "--out", str(tmp_path / "slim")]) == 0
    assert "MB" in capsys.readouterr().out
    out = tmp_path / "slim"
    assert (out / "model.safetensors").stat().st_size < (tmp_path / "run" / "checkpoints" / "best.pt").stat().st_size / 2
    assert not (out / "checkpoints").exists()  # nothing pickled in an exported model
    from xmer.export.card import card_metadata

    meta = card_metadata(out)  # the Hugging Face model-card layout
    assert meta["library_name"] == "xmer" and meta["datasets"] and "license" in meta and "accuracy" in meta["metrics"]
    rng = np.random.default_rng(0)
    features = {"audio": rng.normal(size=(9, 24)).astype(np.float32)}
    a = Recognizer.load(tmp_path / "run").predict(features)
    b = Recognizer.load(out).predict(features)
    assert b.imagined == a.imagined == ["visual", "text"]
    assert all(abs(a.probabilities[k] - b.probabilities[k]) < 1e-2 for k in a.labels)
