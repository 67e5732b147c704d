"""xmer: multimodal emotion recognition that learns from every dataset, whatever modalities it has.

Implements Yoon, "Can We Exploit All Datasets? Multimodal Emotion Recognition Using Cross-Modal
Translation" (IEEE Access, 2022): a trimodal transformer recogniser plus cross-modal translators that
imagine missing modalities.

The Python API in one line: ``from xmer import Recognizer, Prediction, Timeline``. Those names load
on first use, so ``import xmer`` stays light (torch is imported only when one of them is).
"""

__version__ = "0.1.0"

_API = {"Recognizer": "xmer.inference", "Prediction": "xmer.inference", "Timeline": "xmer.analysis.timeline"}
__all__ = ["Prediction", "Recognizer", "Timeline", "__version__"]


def __getattr__(name: str):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'xmer' has no attribute {name!r}")
