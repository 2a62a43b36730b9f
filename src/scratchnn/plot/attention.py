"""Attention maps: for one sequence, how much each position attends to each other, per head."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .. import _validation as check
from ..datasets import Vocabulary
from ..layers import MultiHeadAttention
from ._figure import _check_built, _figure, _finish

# Characters a tick label cannot show as they are.
_SHOWN = {" ": "\u00b7", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _attention_layer(model: Any, layer: Any) -> tuple[int, Any]:
    """``(index in model.layers, layer)`` of the attention layer ``layer`` names (a name or an
    index; ``None``: the first one)."""
    found = [
        (i, each) for i, each in enumerate(model.layers) if isinstance(each, MultiHeadAttention)
    ]
    names = [each.name for _, each in found]
    if not found:
        raise ValueError("the model has no MultiHeadAttention layer whose weights to show")
    if layer is None:
        return found[0]
    if isinstance(layer, str):
        for index, each in enumerate(model.layers):
            if each.name == layer:
                if not isinstance(each, MultiHeadAttention):
                    raise ValueError(
                        f"layer {layer!r} is a {type(each).__name__}, not a MultiHeadAttention; "
                        f"the model's attention layers are {names}"
                    )
                return index, each
        raise ValueError(
            f"layer must name an attention layer of the model, one of {names}, got {layer!r}"
        )
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)):
        raise TypeError(
            f"layer must be an attention layer's name or index in model.layers, got "
            f"{check.describe(layer)}"
        )
    indices = [i for i, _ in found]
    if layer not in indices:
        raise ValueError(
            f"layer must be the index of a MultiHeadAttention in model.layers, one of "
            f"{indices}, got {layer}"
        )
    return int(layer), model.layers[layer]


def _one_sequence(model: Any, inputs: Any, vocabulary: Any) -> tuple[list, list[str] | None]:
    """The model's inputs for one sequence (a batch of one each), and its characters when the
    sequence is text (or ids with a vocabulary to read them)."""
    if isinstance(inputs, str):
        vocabulary = vocabulary if vocabulary is not None else getattr(model, "vocabulary", None)
        if not isinstance(vocabulary, Vocabulary):
            raise TypeError(
                "a text prompt needs the model's characters: pass vocabulary=Vocabulary()."
                f"fit(text) (the one the model was trained with), got {check.describe(vocabulary)}"
            )
        if not inputs:
            raise ValueError("inputs must be a non-empty prompt, got ''")
        if model.n_inputs != 1:
            raise ValueError(
                f"a text prompt is one input; this model takes {model.n_inputs}: pass a list of "
                "arrays, one per input"
            )
        return [vocabulary.encode(inputs)[None]], list(inputs)
    if vocabulary is not None and not isinstance(vocabulary, Vocabulary):
        raise TypeError(
            f"vocabulary must be a Vocabulary or None, got {check.describe(vocabulary)}"
        )
    given = list(inputs) if model.n_inputs > 1 else [inputs]
    if len(given) != model.n_inputs:
        raise ValueError(
            f"inputs must hold one array per model input ({model.n_inputs}), got {len(given)}"
        )
    arrays = []
    for name, shape, value in zip(model.input_names, model.input_shapes, given, strict=True):
        array = np.asarray(value)
        if array.ndim == len(shape):  # one sample without its batch axis
            array = array[None]
        if array.ndim != len(shape) + 1 or len(array) != 1:
            raise ValueError(
                f"inputs must be one sequence: input {name!r} of shape {tuple(shape)} or a batch "
                f"of one, got an array of shape {array.shape}"
            )
        arrays.append(array)
    characters = None
    if vocabulary is not None and model.n_inputs == 1 and arrays[0].ndim == 2:
        ids = model.check_inputs(arrays[0], "inputs")  # NaN or 1.5 refused, not cast to an id
        characters = list(vocabulary.decode(np.asarray(ids).astype(np.int64)[0]))
    return arrays, characters


def _node_inputs(model: Any, arrays: list, layer: Any) -> list[np.ndarray]:
    """The inputs of ``layer``'s first call, from one inference pass over the model.

    The topology calls each observer once per node in run order, so the ``k``-th call is node
    ``k``: its output fills the node's output slots. Nothing is written on the model.
    """
    topology = model.topology
    values: dict[int, Any] = dict(zip(topology.input_slots, arrays, strict=True))
    count = [0]

    def observe(_: int, __: Any, output: Any) -> None:
        _, _, target = topology.nodes[count[0]]
        count[0] += 1
        if isinstance(target, tuple):
            values.update(zip(target, output, strict=True))
        else:
            values[target] = output

    topology.forward(arrays, False, observers=[observe])
    for each, source, _ in topology.nodes:
        if each is layer:
            return [values[s] for s in source] if isinstance(source, tuple) else [values[source]]
    raise ValueError(f"layer {layer.name!r} is not called in the model")  # unreachable for ours


def attention_weights(
    model: Any, inputs: Any, layer: str | int | None = None, vocabulary: Any = None
) -> np.ndarray:
    """The weights ``(heads, Tq, Tk)`` a MultiHeadAttention layer gives one sequence.

    ``weights[h, i, j]`` is how much query position ``i`` attends to key position ``j`` in head
    ``h``: each row sums to 1 (0 where the row may attend nowhere), and with a causal mask
    ``j > i`` is exactly 0.

    Parameters
    ----------
    model : Model
        A built graph model holding a :class:`~scratchnn.layers.MultiHeadAttention`.
    inputs : str or array or list of arrays
        One sequence: a text prompt (encoded with ``vocabulary``), ids ``(T,)`` or ``(1, T)``,
        or for a model with several inputs a list of arrays (each one sample, with or without
        the batch axis of one).
    layer : str or int, optional
        The attention layer's name or index in ``model.layers``; the first one by default. A
        layer called twice shows its first call.
    vocabulary : Vocabulary, optional
        For a text prompt; ``model.vocabulary`` when not given.

    Notes
    -----
    One inference pass runs the model up to the layer (writing nothing on it, so it is safe
    beside other threads' ``predict``); the layer's own forward pass then gives the weights.
    Padding masks (``Embedding(mask_zero=True)``) are not applied: one prompt has no padding.
    """
    _check_built(model)
    _, found = _attention_layer(model, layer)
    arrays, _ = _one_sequence(model, inputs, vocabulary)
    return _weights_of(model, found, arrays)


def _weights_of(model: Any, layer: Any, arrays: list) -> np.ndarray:
    checked = model.check_inputs(arrays if model.n_inputs > 1 else arrays[0], "inputs")
    checked = checked[:] if model.n_inputs > 1 else [checked]
    checked = [
        np.asarray(x, dtype=dtype) for x, dtype in zip(checked, model.input_dtypes, strict=True)
    ]
    node_inputs = _node_inputs(model, checked, layer)
    if layer.return_attention_scores:
        _, weights = layer.forward(node_inputs, False)
    else:
        # A twin that also returns its weights, reading the same parameters: the layer itself
        # is left as it is (another thread may be predicting with it).
        config = {**layer.get_config(), "return_attention_scores": True}
        twin = type(layer)(**config, name=layer.name)
        twin.params, twin.dtype, twin.built = dict(layer.params), layer.dtype, True
        _, weights = twin.forward(node_inputs, False)
    return np.asarray(weights[0], dtype=np.float64)


def _heads(heads: Any, count: int) -> list[int]:
    if heads is None:
        return list(range(count))
    chosen = (
        [heads] if isinstance(heads, (int, np.integer)) and not isinstance(heads, bool) else heads
    )
    try:
        chosen = list(chosen)
    except TypeError:
        raise TypeError(
            f"heads must be an int, a list of ints or None, got {check.describe(heads)}"
        ) from None
    for head in chosen:
        if isinstance(head, bool) or not isinstance(head, (int, np.integer)):
            raise TypeError(
                f"heads must be an int, a list of ints or None, got {check.describe(heads)}"
            )
        if not 0 <= head < count:
            raise ValueError(f"heads must be in 0..{count - 1} (the layer has {count}), got {head}")
    if not chosen:
        raise ValueError("heads must name at least one head, got an empty list")
    return [int(h) for h in chosen]


def plot_attention(
    model: Any,
    inputs: Any,
    path: str | os.PathLike | None = None,
    layer: str | int | None = None,
    vocabulary: Any = None,
    heads: int | list[int] | None = None,
    columns: int = 4,
    figsize: tuple[float, float] | None = None,
    dpi: int = 100,
) -> Any:
    """Attention maps of one sequence: one panel per head, query positions down, keys across.

    Each panel shows :func:`attention_weights` ``[h]`` on a white-to-dark scale from 0 to 1
    (shared by the panels, so heads compare), titled ``head h``; the axes are labelled with the
    characters when the sequence is text (a space shows as ``·``, a newline as ``\\n``). Row
    ``i`` says which earlier characters position ``i`` draws on to predict the next one.
    ``heads`` picks some heads (an int or a list). Returns the figure.
    """
    _check_built(model)
    _, found = _attention_layer(model, layer)
    arrays, characters = _one_sequence(model, inputs, vocabulary)
    columns = check.check_positive_int(columns, "columns")
    weights = _weights_of(model, found, arrays)
    chosen = _heads(heads, weights.shape[0])
    columns = min(columns, len(chosen))
    rows = -(-len(chosen) // columns)
    steps_q, steps_k = weights.shape[1:]
    side = min(6.0, max(2.2, 0.22 * max(steps_q, steps_k) + 0.8))
    fig = _figure(figsize or (side * columns, side * rows + 0.4), dpi)
    labels = None if characters is None else [_SHOWN.get(c, c) for c in characters]
    for place, head in enumerate(chosen):
        ax = fig.add_subplot(rows, columns, place + 1)
        ax.imshow(weights[head], cmap="Greys", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(f"head {head}", fontsize=9)
        for axis, steps, set_ticks, set_labels in (
            ("query", steps_q, ax.set_yticks, ax.set_yticklabels),
            ("key", steps_k, ax.set_xticks, ax.set_xticklabels),
        ):
            if labels is not None and len(labels) == steps:
                set_ticks(range(steps))
                set_labels(labels, fontsize=7)
            if place == 0:
                (ax.set_ylabel if axis == "query" else ax.set_xlabel)(
                    f"{axis} position", fontsize=8
                )
    fig.suptitle(f"attention weights of {found.name!r}", fontsize=10)
    fig.tight_layout()
    return _finish(fig, path)
