"""Fuzz the graph part of model files: hostile graphs must raise ModelFileError, never more.

The samples are real graph models and a graph checkpoint (a skip connection, a shared layer
called twice, two inputs and two outputs, a sequence model with an open axis), made with the
public API. Besides every family of ``fuzz_model_files`` (bit flips, truncations, JSON and
``.npy`` header mutations, ZIP attacks), one family rewires the graph itself: a node taking a
tensor made later (a cycle) or by itself, names that repeat or vanish, calls that do not exist,
outputs of outputs that do not exist, deep chains, fan-outs and fan-ins, and values of the wrong
type anywhere in the graph. A reader may load the file (the mutation was harmless: the model
must then also predict) or raise ``ModelFileError``; anything else is an *escape*.

``tests/test_graphs.py`` runs a few hundred seeded cases; for a long run::

    python -m tests.fuzz_graph_files --cases 20000 --seed 1
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from fuzz_model_files import (
    MUTATORS,
    NASTY,
    Escape,
    Report,
    Sample,
    _origin,
    entries_zip,
    header_array,
    try_case,
)

import scratchnn
from scratchnn import (
    Add,
    Concatenate,
    Dense,
    Input,
    LayerNormalization,
    Model,
    ModelCheckpoint,
    Multiply,
)


def make_graph_corpus(folder: Path) -> list[Sample]:
    """A residual MLP, a two-input two-output model with a shared layer (and its checkpoint), and
    a sequence model with an open axis, each fitted an epoch and saved."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 4))
    y = (X[:, 0] > 0).astype(int)

    x = Input(shape=(4,), name="x")
    residual = Model(x, Dense(2, "softmax", name="out")(Add()([Dense(4, "tanh")(x), x])), seed=0)
    residual.fit(X, y, epochs=1, verbose=0)
    residual.save(folder / "residual.npz")

    def two_by_two() -> Model:
        a, b = Input(shape=(4,), name="a"), Input(shape=(3,), name="b")
        shared = Dense(4, "relu", name="shared")
        joined = Concatenate()([shared(a), shared(Dense(4)(b)), Multiply()([a, a])])
        heads = [Dense(2, "softmax", name="cls")(joined), Dense(1, name="reg")(joined)]
        return Model([a, b], heads, seed=1)

    inputs, targets = [X, X[:, :3]], [y, X[:, :1]]
    two_by_two().fit(inputs, targets, epochs=1, verbose=0)
    model = two_by_two()
    model.fit(
        inputs, targets, epochs=1, verbose=0, callbacks=[ModelCheckpoint(folder / "ckpt.npz")]
    )
    model.save(folder / "shared.npz")

    steps = Input(shape=(None, 3), name="steps")
    sequence = Model(steps, Dense(2, "softmax")(LayerNormalization()(Dense(5)(steps))), seed=2)
    sequence.fit(rng.normal(size=(8, 5, 3)), rng.integers(0, 2, (8, 5)), epochs=1, verbose=0)
    sequence.save(folder / "sequence.npz")

    samples = []
    for name in ("residual", "shared", "ckpt", "sequence"):
        data = (folder / f"{name}.npz").read_bytes()
        with np.load(folder / f"{name}.npz", allow_pickle=False) as archive:
            entries = {key: archive[key] for key in archive.files}
        header = json.loads(entries["__config__"].tobytes())
        samples.append(Sample(name, data, entries, header))
    return samples


def _graph(header: dict) -> dict:
    return header["model"]["graph"]


def _refs(graph: dict) -> list[list]:
    """Every tensor reference of the graph (nodes' inputs and the outputs), as mutable lists."""
    found = [ref for node in graph["nodes"] for ref in node["inputs"] if isinstance(ref, list)]
    return found + [ref for ref in graph["outputs"] if isinstance(ref, list)]


def rewire(rng: np.random.Generator, sample: Sample) -> tuple[bytes, str]:
    """One structural change of the graph (see the module's description)."""
    header = copy.deepcopy(sample.header)
    graph = _graph(header)
    names = [spec["name"] for spec in graph["inputs"]] + [spec["name"] for spec in graph["layers"]]
    nodes, refs = graph["nodes"], _refs(graph)
    kind = int(rng.integers(12))
    if kind == 0 and nodes:  # a node takes a tensor made later, or by itself: a cycle
        i = int(rng.integers(len(nodes)))
        j = int(rng.integers(i, len(nodes)))
        nodes[i]["inputs"][0] = [nodes[j]["layer"], 0, 0]
        what = f"node {i} takes node {j}'s output"
    elif kind == 1 and refs:  # a reference to another (existing) name, call or output
        ref = refs[int(rng.integers(len(refs)))]
        ref[int(rng.integers(3))] = [str(rng.choice(names)), int(rng.integers(-1, 3)),
                                     int(rng.integers(-1, 3))][int(rng.integers(3))]  # fmt: skip
        what = f"a reference became {ref!r}"
    elif kind == 2:  # a name used twice
        spec = graph["layers"][int(rng.integers(len(graph["layers"])))]
        spec["name"] = str(rng.choice(names))
        what = f"a layer renamed {spec['name']!r}"
    elif kind == 3 and nodes:  # a node dropped
        what = f"node {nodes.pop(int(rng.integers(len(nodes))))['layer']!r} dropped"
    elif kind == 4 and nodes:  # a node repeated (a second call of its layer)
        i = int(rng.integers(len(nodes)))
        nodes.insert(i + 1, copy.deepcopy(nodes[i]))
        what = f"node {i} repeated"
    elif kind == 5:  # a deep chain of calls of one layer on its own output
        name = graph["layers"][-1]["name"]
        depth = int(rng.choice([10, 5000, 20_000]))
        graph["nodes"] = nodes + [{"layer": name, "inputs": [[name, i, 0]]} for i in range(depth)]
        what = f"a chain {depth} deep"
    elif kind == 6 and nodes:  # a fan-in: one node takes one tensor many times
        i = int(rng.integers(len(nodes)))
        nodes[i]["inputs"] = nodes[i]["inputs"] * int(rng.choice([2, 100, 20_000]))
        what = f"node {i} takes its inputs {len(nodes[i]['inputs'])} times"
    elif kind == 7:  # a fan-out: many outputs of one tensor
        graph["outputs"] = graph["outputs"] * int(rng.choice([2, 50, 20_000]))
        what = f"{len(graph['outputs'])} outputs"
    elif kind == 8:  # an input's shape or dtype changed
        spec = graph["inputs"][int(rng.integers(len(graph["inputs"])))]
        spec[str(rng.choice(["shape", "dtype"]))] = NASTY[int(rng.integers(len(NASTY)))]
        what = f"input {spec['name']!r} became {spec!r:.80}"
    elif kind == 9:  # a layer of another class under the same name
        spec = graph["layers"][int(rng.integers(len(graph["layers"])))]
        spec["class_name"] = str(
            rng.choice(["Add", "Dense", "Concatenate", "InputLayer", "Flatten"])
        )
        what = f"{spec['name']!r} became a {spec['class_name']}"
    elif kind == 10:  # the inputs or outputs list emptied or swapped
        key = str(rng.choice(["inputs", "outputs", "layers", "nodes"]))
        graph[key] = [] if rng.random() < 0.5 else list(reversed(graph[key]))
        what = f"{key} emptied or reversed"
    else:  # any value of the graph replaced by a nasty one
        path, parent = _random_path(rng, graph)
        parent[path[-1]] = NASTY[int(rng.integers(len(NASTY)))]
        what = f"graph/{'/'.join(map(str, path))} = {parent[path[-1]]!r:.60}"
    data = entries_zip({**sample.entries, "__config__": header_array(header)})
    return data, what


def _random_path(rng: np.random.Generator, value: Any) -> tuple[list, Any]:
    """A random leaf or branch of nested JSON, as its path and its parent."""
    path: list = []
    parent = value
    while isinstance(value, (dict, list)) and value and (not path or rng.random() < 0.7):
        keys = list(value) if isinstance(value, dict) else list(range(len(value)))
        key = keys[int(rng.integers(len(keys)))]
        path.append(key)
        parent, value = value, value[key]
    return path or [next(iter(parent))], parent


FAMILIES = {"rewire": rewire, **MUTATORS}


def run(cases: int, seed: int, folder: Path, samples: list[Sample] | None = None) -> Report:
    """``cases`` mutated graph files, round-robin over the families and samples."""
    rng = np.random.default_rng(seed)
    samples = samples or make_graph_corpus(folder)
    families = list(FAMILIES)
    report = Report()
    for case in range(cases):
        others = families[1 + (case // 2) % (len(families) - 1)]
        family = others if case % 2 else "rewire"  # half the cases rewire, half are the rest
        sample = samples[(case // 2) % len(samples)]
        data, what = FAMILIES[family](rng, sample)
        try_case(folder / "case.npz", data, family, sample.name, what, report)
        _loaded_models_predict(folder / "case.npz", report, family, sample.name, what)
    return report


def _loaded_models_predict(path: Path, report: Report, family: str, sample: str, what: str):
    """A file that loads gives a model that predicts (inputs of its own shapes)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = scratchnn.load(path)
    except Exception:  # noqa: BLE001 - the readers' outcomes are counted by try_case
        return
    shapes = [tuple(4 if n is None else n for n in shape) for shape in model.input_shapes]
    arrays = [np.zeros((2, *shape), dtype=model.dtype) for shape in shapes]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.predict(arrays if len(arrays) > 1 else arrays[0])
    except Exception as error:  # noqa: BLE001
        message = f"{type(error).__name__}: {str(error)[:200]}"
        report.escapes.append(Escape(family, sample, what, "predict", message, _origin(error)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        report = run(args.cases, args.seed, Path(folder))
    outcomes = {f"{f}/{r}/{o}": n for (f, r, o), n in sorted(report.outcomes.items())}
    print(json.dumps(outcomes, indent=1))
    print(f"{report.cases} cases in {time.perf_counter() - started:.0f} s, "
          f"{len(report.escapes)} escapes ({len(report.distinct())} distinct)")  # fmt: skip
    for escape in report.distinct().values():
        print(f"  {escape.family} {escape.sample} {escape.reader}: {escape.error}\n"
              f"    at {escape.origin}\n    after: {escape.what}")  # fmt: skip
    return 1 if report.escapes else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
