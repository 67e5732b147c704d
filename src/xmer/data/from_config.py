"""The dataset a config names: ``data.sources``, ``data.dataset`` or the synthetic toy set."""

from __future__ import annotations

from xmer.config import Config
from xmer.data.dataset import PreparedDataset


def open_dataset(config: Config) -> PreparedDataset:
    """The dataset a config names: several prepared folders (``data.sources``), one prepared
    folder, or the embedded synthetic toy set; its features standardised per folder as
    ``data.standardise`` says."""
    if config.data.sources:
        from xmer.data.mixing import open_sources

        return open_sources(config.data.sources, config.data.compose_per_epoch, config.data.compose_neutral,
                            config.data.standardise, config.data.unknown_source)
    if config.data.dataset == "toy":
        from xmer.data.toy import toy_dataset_path

        return PreparedDataset.open(toy_dataset_path(config.data.toy)).standardise(config.data.standardise)
    return PreparedDataset.open(config.data.dataset).standardise(config.data.standardise)
