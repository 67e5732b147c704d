"""Model cards in the Hugging Face layout: a YAML metadata block (license, datasets, metrics, a
``model-index`` with the evaluated numbers) between ``---`` lines, then Markdown for people.

``xmer export`` writes ``MODEL_CARD.md`` from the run's ``model.json`` and ``metrics.json`` when the
target folder has none; a card someone wrote by hand (the default model's) is never overwritten.
:func:`card_metadata` reads the YAML block back (``GET /model`` of ``xmer serve`` shows it).
"""

from __future__ import annotations

from pathlib import Path

import yaml

CARD_FILE = "MODEL_CARD.md"


def card_metadata(folder: str | Path) -> dict:
    """The YAML metadata block of ``FOLDER/MODEL_CARD.md``, or ``{}`` when there is no card or block."""
    path = Path(folder) / CARD_FILE
    if not path.is_file():
        return {}
    text = path.read_text()
    if not text.startswith("---\n"):
        return {}
    block = text[4:].split("\n---\n", 1)[0]
    try:
        meta = yaml.safe_load(block)
    except yaml.YAMLError:
        return {}
    return meta if isinstance(meta, dict) else {}


def render_card(card: dict, metrics: dict | None, name: str) -> str:
    """``MODEL_CARD.md`` text for a model with ``model.json`` ``card`` and evaluation ``metrics``."""
    dataset = card.get("dataset_name") or Path(str(card.get("dataset", "unknown"))).name
    meta: dict = {
        "license": "other",
        "license_name": "same-as-training-data",
        "license_details": "the weights are derived from the training data: its licence terms apply",
        "library_name": "xmer",
        "tags": ["emotion-recognition", "multimodal", "safetensors", *(["synthetic-data"] if card.get("synthetic") else [])],
        "datasets": [dataset],
        "metrics": ["accuracy", "f1"],
    }
    results = []
    if metrics:
        split = metrics.get("split", "test")
        values = [{"type": "accuracy", "value": round(100 * metrics["accuracy"], 1)}] if "accuracy" in metrics else []
        for key, label in (("macro_f1", "macro-F1"), ("weighted_f1", "weighted F1")):
            if key in metrics:
                values.append({"type": "f1", "name": label, "value": round(100 * metrics[key], 1)})
        if values:
            results.append({
                "task": {"type": "multimodal-emotion-recognition", "name": f"Emotion recognition ({card.get('label_space', '')})"},
                "dataset": {"type": dataset, "name": f"{dataset}, {split} split ({metrics.get('n', '?')} samples)"},
                "metrics": values,
            })
    if results:
        meta["model-index"] = [{"name": name, "results": results}]
    lines = [f"# {name}", "", "Exported with `xmer export`: float16 weights in `model.safetensors` (no pickle; the config "
             "is in its header), `model.json` for the inputs it takes.", "",
             f"- labels ({'multi-label' if card.get('multi_label') else 'single-label'}): {', '.join(card.get('labels', []))}",
             f"- inputs: {', '.join(f'{m} ({d})' for m, d in card.get('input_dims', {}).items())}",
             f"- feature extractors: {', '.join(f'{m}: `{e}`' for m, e in card.get('extractors', {}).items()) or 'none recorded'}",
             f"- trained on: `{card.get('dataset', 'unknown')}`{' (synthetic)' if card.get('synthetic') else ''}", ""]
    if metrics and "definitions" in metrics:
        lines += ["Metric definitions: " + "; ".join(f"{k}: {v}" for k, v in metrics["definitions"].items()
                                                    if k in ("accuracy", "macro_f1", "weighted_f1")), ""]
    return "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n\n" + "\n".join(lines)
