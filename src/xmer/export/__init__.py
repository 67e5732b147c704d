"""Model files: what ``xmer export`` writes and what prediction reads.

- :mod:`xmer.export.weights`: safetensors weight files with JSON metadata (no pickle);
- :mod:`xmer.export.card`: model cards in the Hugging Face layout;
- :mod:`xmer.export.folders`: a run reduced to a model folder, and ensembles of runs;
- :mod:`xmer.export.onnx`: one ONNX graph per modality subset, checked against PyTorch.
"""
