"""Config contract: every shipped YAML loads, overrides apply, bad keys and values fail clearly."""

from pathlib import Path

import pytest

from xmer.config import Config, ConfigError, describe, load_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_there_are_shipped_configs():
    assert {p.name for p in CONFIGS} >= {"toy.yaml", "paper.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    config = load_config(path)
    assert isinstance(config, Config)


def test_defaults_are_the_paper_sizes():
    model = load_config().model
    assert (model.d_model, model.d_ff, model.heads) == (128, 128, 4)
    assert model.modality_weights == pytest.approx({"visual": 1 / 3, "audio": 1 / 3, "text": 1 / 3})


def test_overrides_are_typed_and_nested():
    config = load_config(None, ["train.lr=0.01", "model.d_model=64", "data.toy.classes=3", "train.progress=false"])
    assert config.train.lr == 0.01 and isinstance(config.train.lr, float)
    assert config.model.d_model == 64 and config.data.toy.classes == 3 and config.train.progress is False


def test_unknown_key_names_the_key_and_the_valid_ones():
    with pytest.raises(ConfigError) as error:
        load_config(None, ["model.d_modle=64"])
    message = str(error.value)
    assert "model.d_modle" in message and "d_model" in message and "heads" in message


def test_unknown_key_in_a_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match="train.learning_rate.*valid keys.*lr"):
        load_config(path)


@pytest.mark.parametrize(
    "override, fragment",
    [("train.epochs=many", "train.epochs"), ("train.lr=true", "train.lr"), ("model=3", "model"), ("nokey", "key=value")],
)
def test_bad_values_fail_clearly(override, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_config(None, [override])


def test_missing_or_malformed_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_config_is_frozen():
    config = load_config()
    with pytest.raises(Exception):
        config.train.lr = 1.0  # type: ignore[misc]


def test_every_field_is_documented():
    rows = describe()
    assert rows and all(text for _, _, text in rows), [key for key, _, text in rows if not text]


def test_the_paper_config_switches_the_method_on():
    config = load_config(next(p for p in CONFIGS if p.name == "paper.yaml"))
    assert config.translator.enabled and config.train.lr == 0.01
    assert config.method.strategy == "end_to_end" and config.method.recognizer_steps_per_translator_step == 7
