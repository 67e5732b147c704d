"""Layers that import one way: core -> data, features -> models -> evaluation -> training ->
inference -> experiments -> cli, serving, scaling (README "Architecture"). Read from the sources' import
statements, module-level and function-local alike, so a cycle hidden in a function fails too; and
every module is imported in a fresh interpreter, which must not change process-wide state."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "xmer"

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("core", ("xmer", "xmer.errors", "xmer.io", "xmer.guard", "xmer.locks", "xmer.modalities", "xmer.schema", "xmer.uris", "xmer.config",
              "xmer.export.weights")),
    ("data and features", ("xmer.data", "xmer.features")),
    ("models", ("xmer.models",)),
    ("evaluation", ("xmer.evaluation",)),
    ("training", ("xmer.training",)),
    ("inference", ("xmer.inference", "xmer.runtime", "xmer.scoring", "xmer.export", "xmer.onnx_runtime",
                   "xmer.analysis", "xmer.batch")),
    ("experiments", ("xmer.experiments",)),
    ("interfaces", ("xmer.cli", "xmer.serving", "xmer.scaling", "xmer.__main__")),
)
"""Layer name and the modules (or packages) in it, lowest first. A module may import its own layer
and those below it, never one above."""


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def layer(name: str) -> int:
    """Index of the layer of module ``name``: the longest listed prefix wins."""
    best, index = "", None
    for i, (_, members) in enumerate(LAYERS):
        for member in members:
            covers = name == member or (member != "xmer" and name.startswith(member + "."))  # "xmer": the package itself
            if covers and len(member) > len(best):
                best, index = member, i
    assert index is not None, f"{name} is in no layer: add it to LAYERS in tests/test_layers.py"
    return index


def imports(known: dict[str, Path]) -> dict[str, set[tuple[str, bool]]]:
    """Module -> {(xmer module it imports, at module level?)}."""

    def resolve(name: str) -> str:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name

    edges: dict[str, set[tuple[str, bool]]] = {}
    for name, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("xmer"):
                targets = [resolve(f"{node.module}.{a.name}") for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [resolve(a.name) for a in node.names if a.name.startswith("xmer")]
            else:
                continue
            for target in targets:
                if target and target != name and not name.startswith(target + "."):  # a package's own __init__
                    edges.setdefault(name, set()).add((target, id(node) in top))
    return edges


def test_every_module_has_a_layer():
    for name in modules():
        layer(name)


def test_no_module_imports_a_layer_above_its_own():
    known = modules()
    violations = [
        f"{name} ({LAYERS[layer(name)][0]}) imports {target} ({LAYERS[layer(target)][0]})"
        + ("" if top else " inside a function")
        for name, targets in sorted(imports(known).items()) for target, top in sorted(targets)
        if layer(target) > layer(name)
    ]
    assert not violations, "\n".join(violations)


def test_no_import_cycle():
    """Not at module level, and not through imports inside functions or for type checking either: a
    cycle there still ties two modules into one that cannot be read, tested or moved apart."""
    edges = {name: {t for t, _ in targets} for name, targets in imports(modules()).items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for target in sorted(edges.get(name, ())):
            if state.get(target) == 1:
                cycle = path[path.index(target):] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[name] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name)


def test_every_module_imports_in_a_fresh_interpreter_without_changing_process_state():
    script = """
import importlib, json, os, sys
names = json.loads(sys.argv[1])
def umask():
    mask = os.umask(0); os.umask(mask); return mask
env, mask = dict(os.environ), umask()
skipped, failed = [], []
for name in names:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as error:  # an optional extra that is not installed
        if (error.name or "").startswith("xmer"):
            failed.append(f"{name}: {error}")
        else:
            skipped.append(name)
    except Exception as error:
        failed.append(f"{name}: {type(error).__name__}: {error}")
changed = sorted(k for k in set(env) | set(os.environ) if env.get(k) != os.environ.get(k))
print(json.dumps({"failed": failed, "skipped": skipped, "env": changed, "umask": umask() == mask}))
"""
    names = sorted(n for n in modules() if not n.endswith("__main__"))
    done = subprocess.run([sys.executable, "-c", script, json.dumps(names)], capture_output=True, text=True,
                          timeout=300, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PACKAGE.parent),
                                            "OMP_NUM_THREADS": "1", "HOME": str(Path.home())})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["failed"] == []
    assert result["env"] == [] and result["umask"], result  # no process-wide state set at import


def test_the_public_api_is_one_import_and_import_xmer_stays_light():
    code = ("import sys, xmer; assert 'torch' not in sys.modules; "
            "from xmer import Recognizer, Prediction, Timeline; print(Recognizer.__name__, Prediction.__name__, Timeline.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["Recognizer", "Prediction", "Timeline"]

