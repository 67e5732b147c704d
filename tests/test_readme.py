"""The README's promises and those of the pages it moved to: the Python example (docs/python_api.md)
runs, the sources table (docs/datasets.md) lists every registered source, and the README names every
command."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from xmer.cli import COMMANDS
from xmer.config import load_config
from xmer.data.sources import SOURCES
from xmer.training.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PYTHON_API = (ROOT / "docs" / "python_api.md").read_text()
DATASETS = (ROOT / "docs" / "datasets.md").read_text()

from test_training import TINY  # noqa: E402


def test_the_python_example_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("XMER_CACHE", str(tmp_path / "cache"))
    Trainer(load_config(None, TINY + ["train.epochs=1", "translator.enabled=true"]), tmp_path / "a").fit()
    examples = re.findall(r"```python\n(.*?)```", PYTHON_API, flags=re.S)
    rng = np.random.default_rng(0)
    namespace = {"audio_features": rng.normal(size=(30, 24)).astype(np.float32),
                 "text_features": rng.normal(size=(8, 50)).astype(np.float32),
                 "audio_of_one_corpus": [rng.normal(size=(30, 24)).astype(np.float32) for _ in range(20)]}
    for example in examples:  # in order, as a reader runs them
        exec(compile(example.replace('"runs/a"', repr(str(tmp_path / "a"))), "docs/python_api.md", "exec"), namespace)
    out = namespace["out"]
    assert out.observed == ["audio", "text"] and out.imagined == ["visual"]
    assert len(examples) == 2 and len(namespace["outs"]) == 20 and namespace["source"] == {}


def test_every_source_and_command_is_in_the_readme():
    for name in SOURCES:
        assert f"`{name}`" in DATASETS or f"prepare {name}" in DATASETS, name
    for name in COMMANDS:
        assert f"xmer {name}" in README, name
