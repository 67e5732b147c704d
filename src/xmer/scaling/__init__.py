"""Running xmer's per-item work on more than one machine.

Training scales with PyTorch's own distributed engine (``torchrun``; :mod:`xmer.training.distributed`).
Batch prediction and the analysis of large collections run on Ray Data (:mod:`xmer.scaling.ray_jobs`):
a pool of actors that each load the model once and call the same per-item functions as the local
run, so the answers are the same. See docs/scaling.md.
"""
