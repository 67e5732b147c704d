"""The recogniser on onnxruntime: ``xmer predict --runtime onnx`` and ``xmer serve --runtime onnx``.

:class:`OnnxRecognizer` is a :class:`~xmer.inference.Recognizer` whose scores come from the graphs
``xmer export RUN --out DIR --onnx`` wrote (:mod:`xmer.export.onnx`), one session per modality
subset, opened on first use. Everything else (checking inputs, extractors, the prediction object) is
the Recognizer's own, so both runtimes answer in the same form.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch

from xmer.data.contract import Batch
from xmer.errors import ConfigError, DataError
from xmer.inference import DEFAULT_MODEL, Recognizer
from xmer.modalities import MODALITIES
from xmer.export.onnx import INSTALL_HINT, MANIFEST, ONNX_DIR, subset_name
from xmer.io import read_json


class OnnxRecognizer(Recognizer):
    """A model folder's ONNX graphs behind the :class:`~xmer.inference.Recognizer` interface.

    Args:
        model_dir: a folder with ``model.json`` and ``onnx/manifest.json``.
        threads: onnxruntime's intra-op threads per session (0: its default).
    """

    def __init__(self, model_dir: str | Path, threads: int = 1):
        try:
            import onnxruntime
        except ImportError:
            raise ConfigError(f"--runtime onnx needs onnxruntime; install it with: {INSTALL_HINT}") from None
        self._ort = onnxruntime
        self.model_dir = Path(model_dir)
        manifest_path = self.model_dir / ONNX_DIR / MANIFEST
        if not manifest_path.is_file():
            raise DataError(f"{self.model_dir} has no ONNX model ({manifest_path} is missing); "
                            f"make one with: xmer export RUN --out {self.model_dir} --onnx")
        self.manifest = read_json(manifest_path)
        self.use_card(read_json(self.model_dir / "model.json"))
        self.config = None
        self.model = None
        self.device = torch.device("cpu")
        if self.manifest.get("labels") != self.labels or self.manifest.get("input_dims") != self.input_dims:
            raise DataError(f"{manifest_path} was exported from another model than {self.model_dir / 'model.json'}; re-export")
        self.threads = threads
        self.source, self._model_id = (self.model_dir, "best"), None
        self._sessions: dict[str, object] = {}
        self._lock = threading.Lock()  # guards opening sessions only; running them is thread-safe

    @classmethod
    def load(cls, run_dir: str | Path | None = None, checkpoint: str = "best", device: str = "cpu") -> "OnnxRecognizer":
        """The ONNX graphs of a model folder (default: xmer's default model, if it was exported with --onnx)."""
        run_dir = Path(run_dir) if run_dir is not None else DEFAULT_MODEL
        if not run_dir.is_dir():
            raise DataError(f"model folder not found: {run_dir}")
        return cls(run_dir)

    def session(self, subset: tuple[str, ...]):
        name = subset_name(subset)
        with self._lock:
            if name not in self._sessions:
                entry = self.manifest["subsets"].get(name)
                if entry is None:
                    raise DataError(f"{self.model_dir / ONNX_DIR}: no graph for the inputs {name}")
                options = self._ort.SessionOptions()
                if self.threads:
                    options.intra_op_num_threads = self.threads
                    options.inter_op_num_threads = 1
                self._sessions[name] = self._ort.InferenceSession(
                    str(self.model_dir / ONNX_DIR / entry["file"]), options, providers=["CPUExecutionProvider"])
            return self._sessions[name]

    def scores(self, batch: Batch) -> torch.Tensor:
        """Class probabilities (B, K): each group of rows with the same modalities through its graph."""
        present = {m: batch.present[m].numpy() & batch.mask[m].numpy().any(1) for m in self.input_dims if m in batch.present}
        out = np.zeros((len(batch.ids), len(self.labels)), np.float32)
        keys = [tuple(m for m in MODALITIES if m in present and present[m][b]) for b in range(len(batch.ids))]
        for subset in sorted(set(keys)):
            rows = np.array([b for b, k in enumerate(keys) if k == subset])
            feeds = {}
            for m in subset:
                mask = batch.mask[m].numpy()[rows]
                steps = max(int(mask.any(0).nonzero()[0].max()) + 1, 1)  # trailing padding cut, as the encoders do
                feeds[m] = np.ascontiguousarray(batch.features[m].numpy()[rows, :steps], dtype=np.float32)
                feeds[f"{m}_mask"] = np.ascontiguousarray(mask[:, :steps])
            out[rows] = self.session(subset).run(None, feeds)[0]
        return torch.from_numpy(out)

    def imagined_rows(self, batch: Batch) -> dict[str, torch.Tensor]:
        if not self.manifest.get("imagines"):
            return {}
        return {m: ~batch.present[m] for m in self.input_dims if m in batch.present}
