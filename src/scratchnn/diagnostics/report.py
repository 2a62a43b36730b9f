"""From per-epoch numbers to findings with advice: thresholds, :class:`Finding`, :class:`Report`.

The series are named ``layer{i}/{statistic}`` with ``i`` the layer's index in ``model.layers``
(as ``model.summary()`` numbers them); one value per epoch:

* ``layer{i}/act/mean``, ``act/std``, ``act/nonfinite_fraction``, and ``act/dead_fraction``
  (ReLU) or ``act/saturated_fraction`` (sigmoid, tanh): see :mod:`.statistics`;
* ``layer{i}/grad_norm/{P}`` per parameter array, ``layer{i}/grad_norm`` over the layer's
  arrays, and ``layer{i}/grad_ratio``: the layer's gradient norm over that of the nearest layer
  with parameters below it (closer to the input);
* ``layer{i}/update_ratio/{P}``: the mean over the epoch's sampled steps of
  ``||update|| / ||P||``; ``layer{i}/weight_norm/{P}`` at the end of the epoch;
* ``layer{i}/state/{S}/mean``, ``/min``, ``/max`` for state arrays (batch-norm running
  statistics);
* ``layer{i}/time_grad_ratio`` for a recurrent layer: the gradient reaching its first time steps
  over that at its last ones (see :mod:`.over_time`); the last epoch's whole curve is in
  ``Report.time_gradients``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .statistics import SATURATION_BOUNDS

THRESHOLDS: dict[str, float] = {
    # At least this fraction of a ReLU layer's units dead in the last epoch.
    "dead_fraction": 0.5,
    # At least this fraction of a hidden sigmoid/tanh layer's outputs saturated in the last epoch
    # (the output layer is left out: confident predictions are its job).
    "saturated_fraction": 0.5,
    # A kernel's mean ||update|| / ||W|| in the last epoch at least this (rule of thumb: ~1e-3).
    "update_ratio": 0.1,
    # Gradient norm of the first layer with parameters over the last's, in the last epoch:
    # below "vanishing" the gradients vanish, above "exploding" they explode.
    "vanishing": 1e-3,
    "exploding": 1e3,
    # A recurrent layer's gradient at its first tenth of the time steps over that at its last
    # tenth, in the last epoch: below, the early steps get under a thousandth of the gradient,
    # so what depends on them is learnt a thousand times slower (in practice not at all); above
    # "time_exploding" a step back multiplies it on average (the same rule as across layers).
    "time_vanishing": 1e-3,
    "time_exploding": 1e3,
}


@dataclass(frozen=True)
class Finding:
    """One problem the numbers show: which, where, the numbers, and what to do."""

    kind: str  # dead_units, saturation, non_finite, update_ratio, vanishing_gradients, ...
    layer: int  # index in model.layers
    value: float  # the number that crossed the threshold
    threshold: float
    since_epoch: int | None  # 1-based epoch from which it held until the end
    message: str  # what and where, citing the numbers
    advice: str

    def __str__(self) -> str:
        return f"{self.message} - {self.advice}"


@dataclass
class Report:
    """What diagnostics recorded and found: per-epoch series, layers, findings.

    ``str(report)`` is the printable text; :meth:`to_dict` the same as JSON values. A healthy
    network has no finding (``report.healthy``).
    """

    layers: list[dict[str, Any]]
    series: dict[str, list[float]]
    findings: list[Finding]
    thresholds: dict[str, float] = field(default_factory=lambda: dict(THRESHOLDS))
    # The sampled outputs of each layer (index -> array, rows first) of the last epoch: what
    # activation histograms show, and which rows they are. Not in to_dict.
    activations: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    activations_from: str = ""
    # Each recurrent layer's gradient norm ||dL/dx_t|| per time step (index -> (T,) array, in
    # the order the layer reads the steps), over the last epoch's sampled batches.
    time_gradients: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def healthy(self) -> bool:
        return not self.findings

    @property
    def epochs(self) -> int:
        return max((len(values) for values in self.series.values()), default=0)

    def to_dict(self) -> dict[str, Any]:
        """Layers, series (NaN as ``None``), findings and thresholds as JSON values."""
        return {
            "layers": [dict(layer) for layer in self.layers],
            "series": {k: [_json_number(v) for v in values] for k, values in self.series.items()},
            "findings": [_json_finding(finding) for finding in self.findings],
            "thresholds": {k: _json_number(v) for k, v in self.thresholds.items()},
            "time_gradients": {
                f"layer{i}": [_json_number(float(v)) for v in curve]
                for i, curve in self.time_gradients.items()
            },
        }

    def __str__(self) -> str:
        head = f"Diagnostics over {self.epochs} epoch(s) of {len(self.layers)} layers: "
        if self.healthy:
            return head + "no finding (every statistic within its threshold)"
        lines = [head + f"{len(self.findings)} finding(s)"]
        lines += [f"- {finding}" for finding in self.findings]
        return "\n".join(lines)


def _json_number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _json_finding(finding: Finding) -> dict[str, Any]:
    """A finding as JSON values: a non-finite value or threshold (a diverged fit's) is ``None``."""
    entry = asdict(finding)
    for key in ("value", "threshold"):
        entry[key] = _json_number(entry[key])
    return entry


def _last(values: list[float]) -> float:
    """The last value that is not NaN (a diverged last epoch may hold NaNs), NaN if none."""
    return next((v for v in reversed(values) if not math.isnan(v)), float("nan"))


def _since(values: list[float], holds: Any) -> int | None:
    """The 1-based epoch from which ``holds(value)`` is true up to the last epoch."""
    start = None
    for epoch, value in enumerate(values):
        if math.isnan(value):
            continue  # an epoch with nothing measured neither starts nor ends a run
        start = (start or epoch + 1) if holds(value) else None
    return start


def _during(epochs: list[int], total: int) -> str:
    """``in epoch 2 of 10`` or ``in epochs 1-3 of 10`` (first to last of ``epochs``)."""
    if epochs[0] == epochs[-1]:
        return f"in epoch {epochs[0]} of {total}"
    return f"in epochs {epochs[0]}-{epochs[-1]} of {total}"


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.0f}%"


def find_problems(
    layers: list[dict[str, Any]],
    series: Mapping[str, list[float]],
    thresholds: Mapping[str, float] = THRESHOLDS,
) -> list[Finding]:
    """The findings in ``series`` for ``layers`` (see :func:`describe_layers`): pure, testable."""
    t = {**THRESHOLDS, **thresholds}
    findings: list[Finding] = []
    for layer in layers:
        i, name = layer["index"], f"{layer['label']} ({layer['description']})"
        nonfinite = series.get(f"layer{i}/act/nonfinite_fraction", [])
        first = next((e for e, v in enumerate(nonfinite) if v > 0), None)
        if first is not None:
            worst = max(v for v in nonfinite if not math.isnan(v))
            findings.append(Finding(
                "non_finite", i, worst, 0.0, first + 1,
                f"{name}: {_percent(worst)} of activations are NaN or infinite "
                f"(from epoch {first + 1})",
                "the learning rate is too high or the inputs hold NaN/inf: lower the learning "
                "rate, check and standardise the inputs",
            ))  # fmt: skip
        dead = series.get(f"layer{i}/act/dead_fraction", [])
        value = _last(dead)
        if value >= t["dead_fraction"]:
            since = _since(dead, lambda v: v >= t["dead_fraction"])
            findings.append(Finding(
                "dead_units", i, value, t["dead_fraction"], since,
                f"{name}: {_percent(value)} of units dead (zero for every sample)"
                + (f" since epoch {since}" if since else ""),
                "lower the learning rate, use LeakyReLU, or check the initialisation "
                "(a large negative bias, or inputs far from zero mean)",
            ))  # fmt: skip
        saturated = series.get(f"layer{i}/act/saturated_fraction", [])
        value = _last(saturated)
        if not layer["is_output"] and value >= t["saturated_fraction"]:
            low, high = SATURATION_BOUNDS.get(layer["activation"], (0.01, 0.99))
            since = _since(saturated, lambda v: v >= t["saturated_fraction"])
            findings.append(Finding(
                "saturation", i, value, t["saturated_fraction"], since,
                f"{name}: {_percent(value)} of activations saturated (outside {low:g}..{high:g},"
                " where the gradient almost vanishes)" + (f" since epoch {since}" if since else ""),
                "standardise the inputs, use a smaller initialisation (Glorot), add batch "
                "normalisation, or use ReLU",
            ))  # fmt: skip
        for param in layer["kernels"]:  # weights only: biases start at zero, any ratio is big
            ratios = series.get(f"layer{i}/update_ratio/{param}", [])
            too_big = [e + 1 for e, v in enumerate(ratios) if not math.isnan(v)
                       and v >= t["update_ratio"]]  # fmt: skip
            if not too_big:
                continue
            value = _last(ratios)
            if value >= t["update_ratio"]:
                since = _since(ratios, lambda v: v >= t["update_ratio"])
                when = f" since epoch {since}" if since else ""
                summary = f"is {value:.2g}"
            else:  # too big early, fine at the end: the early steps may have done the harm
                since, value = None, max(ratios[e - 1] for e in too_big)
                when = f" {_during(too_big, len(ratios))}, then lower"
                summary = f"reached {value:.2g}"
            findings.append(Finding(
                "update_ratio", i, value, t["update_ratio"], since,
                f"{name}: update/weight ratio of {param} {summary} (rule of thumb: about "
                f"1e-3){when}",
                "the learning rate is too high for this layer: lower it",
            ))  # fmt: skip
    dead = [finding.layer for finding in findings if finding.kind == "dead_units"]
    findings += _gradient_flow(layers, series, t, dead)
    for layer in layers:
        findings += _gradient_over_time(
            layer, series.get(f"layer{layer['index']}/time_grad_ratio", []), t
        )
    return findings


def _gradient_over_time(
    layer: dict[str, Any], ratios: list[float], t: Mapping[str, float]
) -> list[Finding]:
    """A recurrent layer whose gradient vanishes or explodes from its last steps to its first."""
    value = _last(ratios)
    name = f"{layer['label']} ({layer['description']})"
    if value < t["time_vanishing"]:
        since = _since(ratios, lambda v: v < t["time_vanishing"])
        change = f"shrinks by {value:.1e}" if value > 0 else "vanishes entirely (a norm of 0)"
        return [Finding(
            "vanishing_over_time", layer["index"], value, t["time_vanishing"], since,
            f"{name}: the gradient {change} from its last time steps to its first"
            + (f" since epoch {since}" if since else "") + ": it cannot learn what depends on "
            "the early steps",
            "an LSTM (with its forget bias at 1, unit_forget_bias=True) or a GRU carries "
            "gradients over more steps than SimpleRNN; else cut the sequences shorter "
            "(windows) or put a loss at every step (return_sequences)",
        )]  # fmt: skip
    if value > t["time_exploding"]:
        since = _since(ratios, lambda v: v > t["time_exploding"])
        return [Finding(
            "exploding_over_time", layer["index"], value, t["time_exploding"], since,
            f"{name}: the gradient grows by {value:.1e} from its last time steps to its first"
            + (f" since epoch {since}" if since else ""),
            "clip the gradients (Adam(clipnorm=1.0)), lower the learning rate, use shorter "
            "sequences, or keep the recurrent kernel orthogonal (recurrent_initializer)",
        )]  # fmt: skip
    return []


def _gradient_flow(
    layers: list[dict[str, Any]],
    series: Mapping[str, list[float]],
    t: Mapping[str, float],
    dead: list[int],
) -> list[Finding]:
    """Vanishing or exploding gradients: the first parameter layer's norm over the last's.

    Dead units pass no gradient: when the first layer or one above has them, that is the cause.
    """
    with_params = [layer for layer in layers if layer["params"]]
    if len(with_params) < 2:
        return []
    first, last = with_params[0], with_params[-1]
    bottom = series.get(f"layer{first['index']}/grad_norm", [])
    top = series.get(f"layer{last['index']}/grad_norm", [])
    ratios = [
        b / t_ if t_ > 0 and math.isfinite(b) and math.isfinite(t_) else float("nan")
        for b, t_ in zip(bottom, top, strict=False)
    ]
    where = f"from the last layer ({last['index']}) to the first ({first['index']})"
    name = f"{first['label']} ({first['description']})"
    cause = [index for index in dead if index >= first["index"]]
    checks = (
        ("vanishing_gradients", "vanishing", "shrink", lambda v: v < t["vanishing"], min,
         "revive those units first (see the dead-unit finding)" if cause else
         "use ReLU in the hidden layers, fewer layers, batch normalisation, or an "
         "initialisation scaled for the activation (He for ReLU, Glorot for tanh/sigmoid)"),
        ("exploding_gradients", "exploding", "grow", lambda v: v > t["exploding"], max,
         "lower the learning rate, standardise the inputs, or use a smaller initialisation"),
    )  # fmt: skip
    for kind, limit, verb, holds, worst, advice in checks:
        epochs = [e + 1 for e, v in enumerate(ratios) if not math.isnan(v) and holds(v)]
        if not epochs:
            continue
        value, since = _last(ratios), None
        if holds(value):
            since = _since(ratios, holds)
            when = f" since epoch {since}" if since else ""
        else:  # a slow start: it held in earlier epochs, then recovered
            value = worst(ratios[e - 1] for e in epochs)
            when = f" {_during(epochs, len(ratios))}, then recovered"
        why = f", stopped by the dead units of layer(s) {', '.join(map(str, cause))}" if (
            cause and kind == "vanishing_gradients") else f" ({limit})"  # fmt: skip
        change = f"{verb} by {value:.1e}" if value > 0 else "vanish entirely (a norm of 0)"
        return [Finding(
            kind, first["index"], value, t[limit], since,
            f"{name}: gradients {change} {where}{when}{why}", advice,
        )]  # fmt: skip
    return []


def describe_layers(model: Any) -> list[dict[str, Any]]:
    """What the findings need to know of each layer: index, a short description, names.

    ``label`` is how findings name the layer: ``layer 2`` in a stack, ``layer 2 'hidden'`` in a
    graph, whose layers have names a user gave or reads in ``summary()``. Every layer that makes
    one of a graph's outputs is an output layer.
    """
    described = []
    graph = getattr(model, "is_graph", False)
    heads = {id(tensor.node.layer) for tensor in model.graph[1]} if graph else set()
    for index, layer in enumerate(model.layers):
        activation = layer.output_activation
        parts = [type(layer).__name__]
        units = getattr(layer, "units", None) or getattr(layer, "filters", None)
        if units is not None:
            parts[0] += f" {units}"
        if activation is not None and activation != type(layer).__name__.lower():
            parts.append(activation)
        kernels = [n for n in getattr(layer, "kernel_names", ()) if n in layer.params]
        described.append({
            "index": index,
            "label": f"layer {index} {layer.name!r}" if graph else f"layer {index}",
            "description": ", ".join(parts),
            "activation": activation,
            "params": list(layer.params),
            "kernels": kernels or [n for n in layer.params if np.any(layer.params[n])],
            "state": list(layer.state),
            "is_output": id(layer) in heads if graph else index == len(model.layers) - 1,
        })  # fmt: skip
    return described


def check_thresholds(thresholds: Any) -> dict[str, float]:
    """``thresholds`` (a dict overriding some of :data:`THRESHOLDS`), checked and completed."""
    if thresholds is None:
        return dict(THRESHOLDS)
    if not isinstance(thresholds, Mapping):
        raise TypeError(f"thresholds must be a dict of numbers, got {type(thresholds).__name__}")
    unknown = sorted(set(thresholds) - set(THRESHOLDS))
    if unknown:
        raise ValueError(f"thresholds has unknown names {unknown}; known: {sorted(THRESHOLDS)}")
    result = dict(THRESHOLDS)
    for key, value in thresholds.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"thresholds[{key!r}] must be a positive number, got {value!r}")
        result[key] = float(value)
    return result
