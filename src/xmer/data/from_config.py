"""The dataset a config names: ``data.sources``, ``data.dataset`` or the synthetic toy set."""

from __future__ import annotations

from xmer.config import Config
from xmer.data.dataset import PreparedDataset


def open_dataset(config: Config) -> PreparedDataset:
    """The dataset a config names: several prepared folders (``data.sources``), one prepared
    folder, or the embedded synthetic toy set."""
    if config.data.sources:
        from xmer.data.mixing import open_sources

        return open_sources(config.data.sources, config.data.compose_per_epoch, config.data.compose_neutral)
    if config.data.dataset == "toy":
        from xmer.data.toy import toy_dataset_path

        return PreparedDataset.open(toy_dataset_path(config.data.toy))
    return PreparedDataset.open(config.data.dataset)
