"""missing_rate's report.md and results.json on RAVDESS-AV for seeds 1-5 from the run folders: seeds 3-5
trained by this xmer, seeds 1-2 by the one before three options (all off by default) were added, whose
config key is the hash of the same config without them."""
import hashlib, json, sys
from pathlib import Path
from xmer.config import load_config
from xmer.experiments import EXPERIMENTS, base_config_path, config_key, _report, summarise, _training_seconds, _instance_summary
from xmer.io import atomic_write_json, atomic_write_text

# python docs/results/ravdess-av/assemble.py DATA RUNS OUT  (run folders of all seeds in RUNS)
data, runs, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
seeds = [1, 2, 3, 4, 5]
NEW = {"train": ["select_on_subsets"], "data": ["compose_per_epoch"], "method": ["modality_dropout"]}
DEFAULTS = {"select_on_subsets": False, "compose_per_epoch": 0, "modality_dropout": 0.0}

def legacy_key(config):
    d = config.to_dict()
    for section, keys in NEW.items():
        for k in keys:
            assert d[section][k] == DEFAULTS[k], (section, k, d[section][k])
            del d[section][k]
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]

exp = EXPERIMENTS["missing_rate"]
common = [f"data.dataset={data}", "train.progress=false"]
results, origin = {}, {}
for condition, overrides in exp.conditions:
    found = []
    for seed in seeds:
        config = load_config(base_config_path(data), [*overrides, *common, f"train.seed={seed}"])
        folder = runs / config_key(config)
        if not (folder / "metrics.json").exists():
            folder = runs / legacy_key(config)
            origin[(condition, seed)] = "legacy"
        if not (folder / "metrics.json").exists():
            sys.exit(f"missing: {condition} seed {seed}")
        found.append((json.loads((folder / "metrics.json").read_text()), _training_seconds(folder)))
    results[condition] = {"runs": [m for m, _ in found], "overrides": list(overrides),
                          "seconds": round(sum(t for _, t in found), 1), "train_seconds": round(sum(t for _, t in found), 1)}
print("legacy folders used:", sorted({s for (_, s), v in origin.items()}), len(origin))
out.mkdir(parents=True, exist_ok=True)
atomic_write_text(out / "report.md", _report("missing_rate", exp, data, seeds, False, results))
atomic_write_json(out / "results.json", {
    "experiment": "missing_rate", "data": data, "seeds": seeds, "quick": False,
    "conditions": {c: {"seconds": r["seconds"], "train_seconds": r["train_seconds"], "overrides": r["overrides"],
                       "summary": summarise(r["runs"]), **({"instance": s} if (s := _instance_summary(r["runs"])) else {})}
                   for c, r in results.items()},
})
print("written", out, "train seconds", round(sum(r["train_seconds"] for r in results.values())))
