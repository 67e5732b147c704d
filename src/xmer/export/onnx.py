"""``xmer export RUN --out DIR --onnx``: the recogniser with its translators as ONNX graphs, one per
modality subset, checked against PyTorch on export.

A model takes any non-empty subset S of its modalities. For each S, :class:`SubsetGraph` is the
prediction :class:`~xmer.models.system.XmerSystem` makes for rows that have exactly S: every missing
modality is imagined from each observed one (Dec_m(Enc_s(x_s))), the recogniser runs on every such
combination and its logits are averaged, then softmax (or sigmoid). With S fixed, that computation
has no data-dependent branches, so it traces into a plain graph. Inputs of ``onnx/<subset>.onnx``
(``visual+text.onnx``): ``<m>`` (B, T_m, D_m) float32 and ``<m>_mask`` (B, T_m) bool for each m in S,
B and T_m free; output ``probabilities`` (B, K).

The one piece of the recogniser that branches on the data, shortening inputs longer than
``model.max_encoder_steps`` before attention (:func:`xmer.models.layers.shorten`), is traced in an
equivalent form whose shape follows the input's only (:func:`shorten_fixed`): min(T,
``max_encoder_steps``) output steps, the unused ones masked. ``onnx/manifest.json`` records the files, the opset and the largest difference
of probabilities between onnxruntime and PyTorch measured on export.
"""

from __future__ import annotations

from contextlib import contextmanager
from itertools import combinations, product
from pathlib import Path

import numpy as np
import torch
from torch import nn

from xmer.data.contract import Batch
from xmer.errors import ConfigError, DataError
from xmer.modalities import MODALITIES

ONNX_DIR = "onnx"
MANIFEST = "manifest.json"
OPSET = 17
TOLERANCE = 1e-4
"""Largest absolute difference of probabilities between onnxruntime and PyTorch that export accepts."""

INSTALL_HINT = "pip install 'xmer[onnx]'"


def subset_name(subset: tuple[str, ...]) -> str:
    return "+".join(subset)


def subsets(modalities: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Every non-empty subset, in MODALITIES order, smallest first."""
    ordered = tuple(m for m in MODALITIES if m in modalities)
    return [c for k in range(1, len(ordered) + 1) for c in combinations(ordered, k)]


def shorten_fixed(x: torch.Tensor, mask: torch.Tensor, max_steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`xmer.models.layers.shorten` without data-dependent shapes: (B, S, D) and its mask,
    S = min(T, max_steps) from the input's shape alone.

    A row with n real steps is pooled with stride s = ceil(n / max_steps) (s = 1: unchanged) into
    ceil(n / s) real steps, the rest masked; the same real steps as ``shorten`` gives.
    """
    length = mask.sum(1)  # (B,)
    stride = torch.div(length + max_steps - 1, max_steps, rounding_mode="floor").clamp(min=1)  # (B,)
    pooled = torch.div(length + stride - 1, stride, rounding_mode="floor")  # (B,)
    steps = torch._shape_as_tensor(x)[1].clamp(max=max_steps)  # S = min(T, max_steps), a tensor so tracing keeps it
    index = torch.arange(steps, device=x.device)[None, :]  # (1, S)
    starts = torch.minimum(index * stride[:, None], length[:, None])  # (B, S)
    ends = torch.minimum((index + 1) * stride[:, None], length[:, None])
    from xmer.models.layers import segment_mean

    return segment_mean(x, mask, starts, ends), index < pooled[:, None]


def _encoder_forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``ModalityEncoder.forward`` as traced for ONNX: :func:`shorten_fixed`, and positions taken
    by a tensor index so the graph keeps the number of steps free."""
    x, mask = shorten_fixed(x, mask, self.max_steps)  # (B, S, D_m), (B, S)
    x = x.masked_fill(~mask[..., None], 0.0)
    steps = torch.arange(torch._shape_as_tensor(x)[1], device=x.device)  # (S,)
    h = self.project(x) + self.positions.index_select(0, steps)  # (B, S, d_model)
    return self.encoder(self.dropout(h), mask), mask


@contextmanager
def _fixed_shapes():
    """Trace the encoders with :func:`_encoder_forward` in place of their data-dependent forward."""
    from xmer.models.encoders import ModalityEncoder

    original = ModalityEncoder.forward
    ModalityEncoder.forward = _encoder_forward
    try:
        yield
    finally:
        ModalityEncoder.forward = original


class SubsetGraph(nn.Module):
    """The system's prediction for rows that have exactly the modalities ``observed``.

    Args:
        system: the trained :class:`~xmer.models.system.XmerSystem` (eval mode).
        observed: the modalities the inputs have, in MODALITIES order.
        input_dims: modality -> D_m, for the placeholder of a modality neither observed nor imagined.
    """

    def __init__(self, system: nn.Module, observed: tuple[str, ...], input_dims: dict[str, int]):
        super().__init__()
        self.system, self.observed = system, observed
        self.input_dims = input_dims
        translator = system.translator
        self.missing = tuple(m for m in input_dims if m not in observed) if translator is not None else ()

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """inputs: (x_m, mask_m) for each observed m, (B, T_m, D_m) and (B, T_m) -> (B, K) probabilities."""
        x = {m: inputs[2 * i] for i, m in enumerate(self.observed)}
        mask = {m: inputs[2 * i + 1] for i, m in enumerate(self.observed)}
        first = x[self.observed[0]]
        size = first.shape[0]
        translator = self.system.translator
        latent = {s: translator.encode(s, x[s]).z for s in self.observed} if self.missing else {}
        logits, count = None, 0
        for sources in product(self.observed, repeat=len(self.missing)):  # one combination per choice
            features, masks = dict(x), dict(mask)
            for m, s in zip(self.missing, sources):
                features[m], masks[m] = translator.decode(m, latent[s]), mask[s]
            present = {m: masks[m].any(1) if m in features else torch.zeros_like(mask[self.observed[0]][:, 0])
                       for m in self.input_dims}
            for m in self.input_dims:  # neither observed nor imagined: a masked placeholder
                if m not in features:
                    features[m] = first.new_zeros(1, 1, self.input_dims[m]).expand(size, 1, -1)
                    masks[m] = torch.zeros_like(mask[self.observed[0]][:, :1])
            batch = Batch(features=features, mask=masks, present=present, labels=first.new_zeros(size),
                          ids=["input"] * int(size), sources=["input"] * int(size))
            step = self.system.recognizer(batch)  # (B, K)
            logits = step if logits is None else logits + step
            count += 1
        return self.system.probabilities(logits / count)


class EnsembleGraph(nn.Module):
    """An ensemble's prediction for one modality subset: its members' :class:`SubsetGraph`
    probabilities averaged, then sharpened or softened by the ensemble's own temperature, as
    :class:`~xmer.models.ensemble.Ensemble` computes it."""

    def __init__(self, members: list[SubsetGraph], temperature: float):
        super().__init__()
        self.members, self.temperature = nn.ModuleList(members), float(temperature)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:  # -> (B, K) probabilities
        mean = torch.stack([member(*inputs) for member in self.members]).mean(0)
        return torch.softmax(mean.clamp_min(1e-12).log() / self.temperature, dim=-1)


def subset_graph(system: nn.Module, observed: tuple[str, ...], input_dims: dict[str, int]) -> nn.Module:
    """The graph of one subset for a single system or an :class:`~xmer.models.ensemble.Ensemble`."""
    from xmer.models.ensemble import Ensemble

    if isinstance(system, Ensemble):
        return EnsembleGraph([SubsetGraph(m, observed, input_dims) for m in system.members], system.temperature)
    return SubsetGraph(system, observed, input_dims)


def export_onnx(model_dir: str | Path, opset: int = OPSET, check_seed: int = 0) -> Path:
    """Write ``MODEL_DIR/onnx/<subset>.onnx`` for every subset and ``manifest.json``; returns the folder.

    The graphs are made from the model as :class:`~xmer.inference.Recognizer` loads it (float16
    weights cast to float32) and each is run once with onnxruntime on random inputs of two lengths
    (one past ``max_encoder_steps``) against PyTorch.

    Raises:
        ConfigError: onnx or onnxruntime is not installed.
        DataError: a graph's probabilities differ from PyTorch's by more than :data:`TOLERANCE`.
    """
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ConfigError(f"ONNX export needs onnx and onnxruntime; install them with: {INSTALL_HINT}") from None
    from xmer.inference import Recognizer
    from xmer.io import atomic_path, atomic_write_json

    model_dir = Path(model_dir)
    recognizer = Recognizer.load(model_dir)
    system = recognizer.model.float().eval()
    dims = recognizer.input_dims
    out = model_dir / ONNX_DIR
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(check_seed)
    max_steps = recognizer.config.model.max_encoder_steps
    entries, worst = {}, 0.0
    for subset in subsets(tuple(dims)):
        graph = subset_graph(system, subset, dims).eval()
        example = _example(subset, dims, rng, steps=5, batch=2)  # a padded row, so masked attention is traced
        names = [n for m in subset for n in (m, f"{m}_mask")]
        axes = {n: ({0: "batch", 1: f"{n.removesuffix('_mask')}_steps"}) for n in names}
        axes["probabilities"] = {0: "batch"}
        path = out / f"{subset_name(subset)}.onnx"
        with _fixed_shapes(), torch.inference_mode(), atomic_path(path) as tmp, _quiet():
            torch.onnx.export(graph, tuple(example), str(tmp), input_names=names, output_names=["probabilities"],
                              dynamic_axes=axes, opset_version=opset, dynamo=False, do_constant_folding=True)
        for steps in (7, max_steps * 2 + 3):  # a short input and one the encoders shorten
            inputs = _example(subset, dims, rng, steps=steps, batch=2)
            diff = _max_difference(path, names, inputs, recognizer, subset)
            if diff > TOLERANCE:
                raise DataError(f"{path}: onnxruntime's probabilities differ from PyTorch's by {diff:.2e} "
                                f"(over {TOLERANCE:g}) at {steps} steps; this model cannot be exported to ONNX as is")
            worst = max(worst, diff)
        entries[subset_name(subset)] = {"file": path.name, "inputs": names}
    import onnxruntime

    atomic_write_json(out / MANIFEST, {
        "format": "xmer-onnx", "opset": opset, "subsets": entries, "outputs": ["probabilities"],
        "labels": recognizer.labels, "multi_label": recognizer.multi_label, "input_dims": dims,
        "imagines": recognizer.model.can_imagine(), "max_abs_difference": worst, "tolerance": TOLERANCE,
        "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
    })
    return out


def _example(subset, dims, rng, steps: int, batch: int = 1) -> list[torch.Tensor]:
    tensors = []
    for i, m in enumerate(subset):
        n = steps + 2 * i  # modalities of different lengths
        tensors.append(torch.from_numpy(rng.normal(size=(batch, n, dims[m])).astype(np.float32)))
        mask = np.ones((batch, n), bool)
        mask[1:, n - 2:] = False  # the second row is padded
        tensors.append(torch.from_numpy(mask))
    return tensors


def _max_difference(path: Path, names: list[str], inputs: list[torch.Tensor], recognizer, subset) -> float:
    """Largest |p_onnx - p_torch| on ``inputs``, PyTorch through the recogniser's own path (no tracing tricks)."""
    import onnxruntime

    from xmer.data.contract import Sample, collate

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {n: t.numpy() for n, t in zip(names, inputs)})[0]
    samples = []
    for b in range(inputs[0].shape[0]):
        features = {m: inputs[2 * i][b][inputs[2 * i + 1][b]].numpy() for i, m in enumerate(subset)}
        label = np.zeros(len(recognizer.labels), np.float32) if recognizer.multi_label else 0
        samples.append(Sample(id=str(b), source="check", features=features, label=label))
    dims = recognizer.input_dims
    want = recognizer.scores(collate(samples, list(dims), dims, len(recognizer.labels), recognizer.multi_label)).numpy()
    return float(np.abs(got - want).max())


@contextmanager
def _quiet():
    """The TorchScript exporter warns about every traced Python bool; the check after export is what counts."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
