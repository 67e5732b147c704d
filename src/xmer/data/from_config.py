"""The dataset a config names: ``data.sources``, ``data.dataset`` or the synthetic toy set."""

from __future__ import annotations

from pathlib import Path

from xmer.config import Config
from xmer.data.dataset import PreparedDataset


def open_dataset(config: Config, folder: str | Path | None = None) -> PreparedDataset:
    """The dataset a config names: several prepared folders (``data.sources``), one prepared
    folder, or the embedded synthetic toy set; its features standardised per folder as
    ``data.standardise`` says. With ``folder``, that prepared folder instead, read the way the
    config reads its data (to evaluate or calibrate a model on another set)."""
    if folder is not None:
        return PreparedDataset.open(folder).standardise(config.data.standardise)
    if config.data.sources:
        from xmer.data.mixing import open_sources

        return open_sources(config.data.sources, config.data.compose_per_epoch, config.data.compose_neutral,
                            config.data.standardise, config.data.unknown_source)
    if config.data.dataset == "toy":
        from xmer.data.toy import toy_dataset_path

        return open_dataset(config, toy_dataset_path(config.data.toy))
    return open_dataset(config, config.data.dataset)
