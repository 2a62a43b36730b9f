"""Attention and positions as ONNX operators: ``MatMul``, ``Softmax``, ``Where``, ``Slice``.

* ``PositionEmbedding``: ``x + P[:T]``. With a fixed time axis ``P[:T]`` is a constant; with an
  open one, a ``Slice`` of the table to the input's length (read with ``Shape``). A sequence
  longer than the table is a ``ValueError`` in ``predict``; in the file, the ``Add`` of a
  ``(T, D)`` input to a shorter table fails (ONNX Runtime: a broadcast error).
* ``SinePositionEncoding``: ``x + PE[:T]``. A fixed time axis gets ``PE[:T]`` as a constant; an
  open one computes it: ``Range(0, T)``, the angles ``t / max_wavelength^(2 floor(i/2) / D)``,
  ``Sin`` and ``Cos`` picked by ``Where``, in float64 as ours, then cast to the model's dtype.
* ``MultiHeadAttention``: the projections as ``MatMul`` (and ``Add``), ``Reshape`` and ``Transpose``
  to ``(N, heads, T, d)``, the scores ``MatMul(Q / sqrt(key_dim), K^T)``, a ``Softmax`` over the
  keys and ``MatMul`` with the values, then the output projection. The scale ``1 / sqrt(key_dim)``
  is a constant. Blocked entries (a causal mask, an ``attention_mask`` input equal to 0) are
  ``Where``: the scores there become ``-inf`` before the softmax and the weights exactly 0 after it,
  so a row with every entry blocked gives zero weights and the output ``bo``, as ``predict`` (a
  softmax alone would give it a uniform row), and a row whose open scores overflowed to ``-inf``
  gives NaN, as ``predict``. A causal mask is a boolean constant where both time axes are fixed;
  with an open one it is built from ``Shape`` and ``Range``: key ``j`` is blocked for query ``i``
  where ``j > i`` (``Greater``), as the layer's ``np.tri``. With ``return_attention_scores`` the
  weights ``(N, heads, Tq, Tk)`` are a second output. Padded steps (an input carrying a mask from
  ``Embedding(mask_zero=True)`` or ``Masking``) are blocked as in ``predict``: the query's mask on
  rows, the value's and key's on columns.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..layers import MultiHeadAttention, PositionEmbedding, SinePositionEncoding
from .converters import register_onnx_converter
from .graph import ONNX_DTYPES, OnnxGraph

BOOL = 9  # onnx.TensorProto.BOOL, for Cast


# -- shapes read at run time ----------------------------------------------------------------------
def _axis_length(graph: OnnxGraph, x: str, axis: int) -> str:
    """A 1-D int64 tensor ``[x.shape[axis]]`` (``Shape`` then ``Slice``: opset 13 has no
    ``start``/``end`` attributes on ``Shape``)."""
    shape = graph.node("Shape", [x])
    return graph.node(
        "Slice",
        [
            shape,
            graph.constant([axis], "starts", np.int64),
            graph.constant([axis + 1], "ends", np.int64),
            graph.constant([0], "axes", np.int64),
        ],
        stem="length",
    )


def _positions(graph: OnnxGraph, length: str) -> str:
    """``[0, 1, ..., T - 1]`` (int64) for the 1-D ``length`` ``[T]``."""
    scalar = graph.node("Squeeze", [length, graph.constant([0], "axes", np.int64)])
    zero, one = graph.constant(0, "zero", np.int64), graph.constant(1, "one", np.int64)
    return graph.node("Range", [zero, scalar, one], stem="positions")


# -- positions ------------------------------------------------------------------------------------
def _position_embedding(graph: OnnxGraph, layer: PositionEmbedding, x: str) -> str:
    """``x + P[:T]``: a constant for a fixed ``T``, else ``Slice(P, 0, T)``."""
    steps = graph.shape[0]
    table = layer.params["embeddings"]
    if steps is not None:
        return graph.node("Add", [x, graph.constant(table[:steps], "positions")])
    rows = graph.node(
        "Slice",
        [
            graph.constant(table, "embeddings"),
            graph.constant([0], "starts", np.int64),
            _axis_length(graph, x, 1),
            graph.constant([0], "axes", np.int64),
        ],
        stem="positions",
    )
    return graph.node("Add", [x, rows])


def _sine_position_encoding(graph: OnnxGraph, layer: SinePositionEncoding, x: str) -> str:
    """``x + PE[:T]``: a constant for a fixed ``T``, else computed from ``Range(0, T)``."""
    steps, features = graph.shape
    if steps is not None:
        table = layer.encoding(np.arange(steps), features)
        return graph.node("Add", [x, graph.constant(table, "positions")])
    index = np.arange(features)
    timescales = layer.max_wavelength ** (-(2 * (index // 2)) / features)  # as layer.encoding
    positions = _positions(graph, _axis_length(graph, x, 1))
    positions = graph.node("Cast", [positions], to=ONNX_DTYPES["float64"])
    column = graph.node("Unsqueeze", [positions, graph.constant([1], "axes", np.int64)])
    angles = graph.node("Mul", [column, graph.constant(timescales, "timescales", np.float64)])
    even = graph.constant(index % 2 == 0, "even", np.bool_)
    table = graph.node("Where", [even, graph.node("Sin", [angles]), graph.node("Cos", [angles])])
    table = graph.node("Cast", [table], to=ONNX_DTYPES[graph.dtype.name], stem="positions")
    return graph.node("Add", [x, table])


# -- attention ------------------------------------------------------------------------------------
def _roles(layer: MultiHeadAttention, count: int) -> list[str]:
    """The node's inputs by role: ``query, value``, then ``key`` and ``attention_mask`` when
    given (the layer says whether it takes a mask; a fourth input, or a third without a mask,
    is the key)."""
    has_mask = layer.attention_mask_input
    has_key = count - 2 - int(has_mask) > 0
    return [
        "query",
        "value",
        *(["key"] if has_key else []),
        *(["attention_mask"] if has_mask else []),
    ]


def _project(graph: OnnxGraph, layer: MultiHeadAttention, x: str, name: str, perm: list) -> str:
    """``x W + b`` for ``x (N, T, F)``, ``W (F, H, d)``: one ``MatMul`` by ``W`` seen as ``(F,
    H d)``, the bias ``(H d,)``, then ``(N, T, H, d)`` transposed by ``perm``."""
    W = layer.params[f"W{name}"]
    heads, size = W.shape[1], W.shape[2]
    projected = graph.node("MatMul", [x, graph.constant(W.reshape(W.shape[0], -1), f"W{name}")])
    if layer.use_bias:
        bias = graph.constant(layer.params[f"b{name}"].reshape(-1), f"b{name}")
        projected = graph.node("Add", [projected, bias])
    split = graph.constant([0, 0, heads, size], "shape", np.int64)  # 0: keep N and T
    return graph.node("Transpose", [graph.node("Reshape", [projected, split])], perm=perm)


def _causal_blocked(graph: OnnxGraph, query: str, value: str, steps_q: Any, steps_k: Any) -> str:
    """``True`` where key ``j > i`` for query ``i``: ``(Tq, Tk)``, a constant when both
    lengths are fixed, else ``Greater(Range(Tk), Range(Tq)[:, None])``."""
    if steps_q is not None and steps_k is not None:
        return graph.constant(~np.tri(steps_q, steps_k, dtype=bool), "causal", np.bool_)
    rows = _positions(graph, _axis_length(graph, query, 1))
    rows = graph.node("Unsqueeze", [rows, graph.constant([1], "axes", np.int64)])
    columns = _positions(graph, _axis_length(graph, value, 1))
    return graph.node("Greater", [columns, rows], stem="causal")


def _blocked(graph: OnnxGraph, layer: MultiHeadAttention, named: dict, shapes: dict) -> Any:
    """Where a query may not attend, broadcasting to ``(N, H, Tq, Tk)``; ``None``: nowhere."""
    blocked = None
    if layer.use_causal_mask:
        steps_q, steps_k = shapes["query"][0], shapes["value"][0]
        if steps_k is None and "key" in shapes:
            steps_k = shapes["key"][0]
        blocked = _causal_blocked(graph, named["query"], named["value"], steps_q, steps_k)
    if "attention_mask" in named:  # (N, Tq, Tk), 0: may not attend -> (N, 1, Tq, Tk)
        zero = graph.constant(0.0, "zero")
        given = graph.node("Equal", [named["attention_mask"], zero])
        given = graph.node("Unsqueeze", [given, graph.constant([1], "axes", np.int64)])
        blocked = given if blocked is None else graph.node("Or", [blocked, given])
    padded = _padded(graph, named)
    if padded is not None:
        blocked = padded if blocked is None else graph.node("Or", [blocked, padded])
    return blocked


def _padded(graph: OnnxGraph, named: dict) -> Any:
    """Padded steps, as the layer's ``_blocked``: the query's mask on rows, the value's and
    key's on columns, ``Not(rows & columns)`` ``(N, 1, Tq, Tk)``; ``None`` when no input of the
    node carries a mask (``Embedding(mask_zero=True)``, ``Masking``)."""
    masks = dict(zip(named, getattr(graph, "input_masks", None) or [], strict=False))
    allowed = None
    for role, axis in (("query", 2), ("value", 1), ("key", 1)):
        if masks.get(role) is not None:
            real = masks[role][0]  # (N, T) booleans
            real = graph.node("Unsqueeze", [real, graph.constant([axis], "axes", np.int64)])
            allowed = real if allowed is None else graph.node("And", [allowed, real])
    if allowed is None:
        return None
    allowed = graph.node("Unsqueeze", [allowed, graph.constant([1], "axes", np.int64)])
    return graph.node("Not", [allowed])


def _multi_head_attention(graph: OnnxGraph, layer: MultiHeadAttention, xs: list[str]) -> Any:
    """``y = concat_h(softmax(Q_h K_h^T / sqrt(d_k)) V_h) Wo + bo`` (see the module notes)."""
    roles = _roles(layer, len(xs))
    named = dict(zip(roles, xs, strict=True))
    shapes = dict(zip(roles, graph.shape, strict=True))
    query = _project(graph, layer, named["query"], "q", [0, 2, 1, 3])  # (N, H, Tq, d_k)
    scale = graph.constant(1.0 / np.sqrt(layer.key_dim), "scale")
    query = graph.node("Mul", [query, scale])  # scaled once, as the layer
    key_source = named.get("key", named["value"])
    key_t = _project(graph, layer, key_source, "k", [0, 2, 3, 1])  # K^T: (N, H, d_k, Tk)
    value = _project(graph, layer, named["value"], "v", [0, 2, 1, 3])  # (N, H, Tk, d_v)
    scores = graph.node("MatMul", [query, key_t], stem="scores")  # (N, H, Tq, Tk)
    blocked = _blocked(graph, layer, named, shapes)
    if blocked is None:
        weights = graph.node("Softmax", [scores], axis=-1, stem="weights")
    else:
        # -inf, not the dtype's lowest value: a row whose open scores overflowed to -inf must
        # come out NaN as in predict, not put its weight on blocked entries (then zeroed).
        lowest = graph.constant(-np.inf, "minus_inf")
        filled = graph.node("Where", [blocked, lowest, scores])
        weights = graph.node("Softmax", [filled], axis=-1)
        zero = graph.constant(0.0, "zero")
        weights = graph.node("Where", [blocked, zero, weights], stem="weights")
    Wo = layer.params["Wo"]
    heads, value_dim, width = Wo.shape
    heads_out = graph.node("MatMul", [weights, value])  # (N, H, Tq, d_v)
    heads_out = graph.node("Transpose", [heads_out], perm=[0, 2, 1, 3])
    joined = graph.constant([0, 0, heads * value_dim], "shape", np.int64)
    heads_out = graph.node("Reshape", [heads_out, joined])  # (N, Tq, H d_v)
    y = graph.node("MatMul", [heads_out, graph.constant(Wo.reshape(-1, width), "Wo")])
    if layer.use_bias:
        y = graph.node("Add", [y, graph.constant(layer.params["bo"], "bo")])
    return [y, weights] if layer.return_attention_scores else y


register_onnx_converter(MultiHeadAttention, _multi_head_attention)
register_onnx_converter(PositionEmbedding, _position_embedding)
register_onnx_converter(SinePositionEncoding, _sine_position_encoding)
