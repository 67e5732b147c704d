"""xmer: multimodal emotion recognition that learns from every dataset, whatever modalities it has.

Implements Yoon, "Can We Exploit All Datasets? Multimodal Emotion Recognition Using Cross-Modal
Translation" (IEEE Access, 2022): a trimodal transformer recogniser plus cross-modal translators that
imagine missing modalities.
"""

__version__ = "0.1.0"
