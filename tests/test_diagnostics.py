"""The translators' instance-or-class diagnostic (issue 13.3) on hand-made maps."""

from __future__ import annotations

import numpy as np

from xmer.evaluation.diagnostics import _partners, instance_diagnostics


def test_instance_diagnostic_tells_an_instance_map_from_a_class_map():
    rng = np.random.default_rng(0)
    records = [{"label": f"c{i % 2}", "speaker": f"p{i % 3}"} for i in range(60)]
    partner = _partners(records)
    assert all(records[p]["label"] == r["label"] and records[p]["speaker"] == r["speaker"] and p != i
               for i, (r, p) in enumerate(zip(records, partner)))
    labels = np.array([i % 2 for i in range(60)])
    source = rng.normal(size=(60, 4)) + labels[:, None]
    target = source @ rng.normal(size=(4, 3))  # the target is a linear function of its own source
    class_means = np.stack([target[labels == c].mean(0) for c in (0, 1)])
    real = {"visual": source, "audio": target}
    train = {"visual": source, "audio": target}
    out = instance_diagnostics({"visual_to_audio": target + 0.01, "audio_to_visual": source[::-1].copy()}, real, records, train)
    assert out["n"] == 60
    assert out["visual_to_audio"]["lower_by"] > 0.9 and out["visual_to_audio"]["ridge_lower_by"] > 0.9
    by_class = instance_diagnostics({"visual_to_audio": class_means[labels]}, real, records)["visual_to_audio"]
    assert abs(by_class["lower_by"]) < 0.3 and "ridge_own" not in by_class  # a class map: own no closer than partner
