"""Running a sequence model one position at a time, for generation.

A model over sequences ``(N, T, ...)`` is steppable when every node can compute its output at
position ``t`` from its inputs at ``t`` and a record of the earlier positions:

* position-wise layers need no record: ``Embedding`` (without a mask), ``Dense``, ``Dropout``,
  activations, ``LayerNormalization``, the element-wise merges (``Add``, ...), ``Concatenate``
  along the features;
* a recurrent layer reading forwards carries its states ``(h, c)``;
* a position layer (``PositionEmbedding``, ``SinePositionEncoding``) needs the position's index;
* causal self-attention (``MultiHeadAttention`` called on one tensor with
  ``use_causal_mask=True``) keeps the keys and values it projected at the earlier positions:
  the key/value cache. The new position's query meets ``t + 1`` cached keys, so position ``t``
  costs ``O(t)`` instead of a rerun of the whole prefix's ``O(t^2)``.

:class:`Stepper` keeps these records in a dict per node, never on the layers, so several
steppers (threads) can share one model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validation import describe
from .layers import (
    ActivationLayer,
    Add,
    Average,
    Concatenate,
    Dense,
    Dropout,
    Embedding,
    InputLayer,
    LayerNormalization,
    Maximum,
    MultiHeadAttention,
    Multiply,
    PositionEmbedding,
    SinePositionEncoding,
    Subtract,
)
from .layers.recurrent import _Recurrent
from .network import Network

_POSITIONWISE = (
    InputLayer,
    Dense,
    Dropout,
    ActivationLayer,
    LayerNormalization,
    Add,
    Subtract,
    Multiply,
    Average,
    Maximum,
)
_POSITIONS = (PositionEmbedding, SinePositionEncoding)


def _attention_step(layer: Any) -> bool | None:
    """``None``: not an attention layer; else whether it steps (causal, no ``attention_mask``
    input, no attention weights as an output: the layer's own ``steppable``)."""
    return layer.steppable if isinstance(layer, MultiHeadAttention) else None


def _kind(layer: Any) -> str | None:
    """How a node steps: ``"positionwise"``, ``"recurrent"``, ``"position"``, ``"attention"``,
    or ``None`` when it cannot (it needs later positions, or a mask, or is unknown)."""
    if isinstance(layer, _Recurrent):
        return None if layer.go_backwards or layer.takes_list else "recurrent"
    if isinstance(layer, Embedding):
        return None if layer.mask_zero else "positionwise"
    if isinstance(layer, Concatenate):
        return "positionwise" if layer.axis == -1 else None
    if isinstance(layer, _POSITIONS):
        return "position"
    attention = _attention_step(layer)
    if attention is not None:
        return "attention" if attention else None
    return "positionwise" if isinstance(layer, _POSITIONWISE) else None


def steppable(model: Network) -> bool:
    """Whether ``model`` can run one position at a time: a built model whose every node steps
    (see the module docstring). ``Bidirectional`` and ``go_backwards`` need the future; a mask
    of padded steps, or a non-causal attention, do too; those models are not steppable."""
    if not getattr(model, "built", False):
        return False
    return all(_kind(layer) is not None for layer, _, _ in model.topology.nodes)


def position_window(model: Network) -> int | None:
    """The most positions the model takes: its smallest ``PositionEmbedding`` table (``None``:
    no limit)."""
    lengths = [
        layer.sequence_length
        for layer in getattr(model.topology, "layers", [])
        if isinstance(layer, PositionEmbedding)
    ]
    return min(lengths) if lengths else None


class Stepper:
    """Runs a model one position at a time, carrying its recurrent states and attention caches.

    ``step(ids)`` with ids ``(N,)`` (one per sequence) returns the model's outputs at that
    position, ``(N, V)``: what ``model.predict`` gives at position ``t`` of the sequences fed so
    far, ``(N, t + 1)``, for the cost of one position. The states live here, in a dict per
    node, never on the layers, so several steppers (threads) can share one model.

    Parameters
    ----------
    model : Network
        A built model that :func:`steppable` accepts, with one input and one output.
    logits : bool
        Return the output layer's scores before its activation (its softmax), as
        ``model.logits`` does.

    Attributes
    ----------
    positions : int
        How many positions have been fed since the start (or the last :meth:`reset`).
    window : int or None
        The most positions a sequence may have (the smallest ``PositionEmbedding`` table):
        one more step is a ``ValueError``; :func:`scratchnn.text.generate` then reruns the
        model over the last ``window`` ids instead.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn import LSTM, Dense, Embedding, Input, Model
    >>> ids = Input(shape=(None,), dtype="int64")
    >>> h = LSTM(8, return_sequences=True)(Embedding(5, 4)(ids))
    >>> model = Model(ids, Dense(5, "softmax")(h), seed=0)
    >>> sequence = np.array([[1, 4, 2]])
    >>> stepper = Stepper(model)
    >>> stepped = [stepper.step(sequence[:, t]) for t in range(3)]
    >>> bool(np.allclose(stepped[-1], model.predict(sequence)[:, -1], atol=1e-6))
    True
    """

    def __init__(self, model: Network, logits: bool = False) -> None:
        if not isinstance(model, Network):
            raise TypeError(f"model must be a scratchnn model, got {describe(model)}")
        if model.n_inputs != 1 or model.n_outputs != 1:
            raise ValueError(
                f"Stepper needs a model with one input and one output, got {model.n_inputs} "
                f"input(s) and {model.n_outputs} output(s)"
            )
        if not steppable(model):
            raise ValueError(
                "Stepper needs a built model whose layers are position-wise (Embedding, Dense, "
                "Dropout, activations, LayerNormalization, merges), position layers, causal "
                "self-attention or recurrent layers reading forwards; this one is not: run it "
                "over the whole sequence instead"
            )
        self.model = model
        self.fused = frozenset(model.output_nodes()) if logits else frozenset()
        self.kinds = [_kind(layer) for layer, _, _ in model.topology.nodes]
        self.window = position_window(model)
        self.reset()

    def reset(self) -> None:
        """Forget the states: the next step is a sequence's first position."""
        self.states: dict[int, Any] = {}
        self.positions = 0
        self.rows: int | None = None

    def step(self, ids: Any) -> np.ndarray:
        """The outputs at the next position, ``(N, ...)``, given its input ``ids`` ``(N,)``.

        A refused call (bad ids, another number of sequences, past the window) changes nothing.
        """
        topology = self.model.topology
        x = np.asarray(ids)
        if x.ndim != 1:
            raise ValueError(f"ids must be one id per sequence, shape (N,), got {x.shape}")
        # Checked as predict checks them (integers, finite) before any cast: 1.5 or NaN is
        # refused, never truncated into another id.
        checked = self.model.check_inputs(x[:, np.newaxis], "ids")
        dtype = np.dtype(self.model.input_dtypes[0])
        if dtype.kind in "iu" and checked.dtype.kind == "f" and len(checked):
            largest = float(np.max(np.abs(checked)))
            if largest > np.iinfo(dtype).max:
                raise ValueError(f"ids must fit in {dtype.name}, got an id of {largest:g}")
        x = np.asarray(checked, dtype=dtype)[:, 0]
        if self.rows is not None and self.rows != len(x):
            raise ValueError(
                f"ids must hold one id for each of the {self.rows} sequences being stepped, "
                f"got {len(x)}; reset() to start new ones"
            )
        if self.window is not None and self.positions >= self.window:
            raise ValueError(
                f"the model's PositionEmbedding holds {self.window} positions and {self.positions}"
                " have been fed: reset() and feed the last ones again"
            )
        values: list[Any] = [None] * topology.slot_count
        values[topology.input_slots[0]] = x[:, np.newaxis]
        states: dict[int, Any] = {}  # kept only when every node has run
        with np.errstate(over="ignore", under="ignore"):
            for index, (layer, source, target) in enumerate(topology.nodes):
                inputs = (
                    [values[s] for s in source] if isinstance(source, tuple) else values[source]
                )
                kind = self.kinds[index]
                if kind == "recurrent":
                    states[index] = layer.forward_step(inputs[:, 0], self.states.get(index))
                    h = states[index][0]
                    out = h[:, np.newaxis] if layer.return_sequences else h
                    y: Any = [out, *states[index]] if layer.return_state else out
                elif kind == "position":
                    y = layer.forward_step(inputs, self.positions)
                elif kind == "attention":
                    listed = inputs if isinstance(inputs, list) else [inputs]
                    y, states[index] = layer.forward_step(listed, self.states.get(index))
                elif index in self.fused:
                    y = layer.forward_logits(inputs, False)
                else:
                    y = layer.forward(inputs, False)
                if isinstance(target, tuple):
                    for slot, value in zip(target, y, strict=True):
                        values[slot] = value
                else:
                    values[target] = y
        self.states.update(states)
        self.positions += 1
        self.rows = len(x)
        out = values[topology.output_slots[0]]
        return out[:, 0] if out.ndim >= 3 else out
