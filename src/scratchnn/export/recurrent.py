"""Embeddings and recurrent layers as ONNX operators: ``Gather``, ``RNN``, ``LSTM`` and ``GRU``.

* ``Embedding``: ``Gather(E, ids)``; the ids are cast to int64 first (a ``Sequential`` hands
  them over as floats holding whole numbers; a graph's ``Input(dtype="int64")`` as they are).
* ``SimpleRNN``, ``LSTM``, ``GRU``: ONNX's operator of that name. ONNX keeps each weight as
  ``(num_directions, gates * units, in)``, the transpose of ours, and orders the LSTM's gates
  i, o, f, c (ours: i, f, c, o); the GRU's order z, r, h is ours, and ``linear_before_reset=1``
  is our (Keras's ``reset_after``) form ``r * (h U_h + b1_h)``, ``linear_before_reset=0`` the
  ``reset_after=False`` form ``(r * h) U_h`` (its one bias row is all input bias). ``B`` is the
  input bias and the recurrent bias concatenated, ``(num_directions, 2 * gates * units)``.
* ``go_backwards``: ``direction="reverse"``; ``Bidirectional``: ``direction="bidirectional"``,
  one operator for both layers, the merge (concat, sum, mul, ave) composed after it.
* Initial states (a layer called on ``[x, h0]`` or ``[x, h0, c0]``): ``initial_h``,
  ``initial_c``.
* Masks from ``Embedding(mask_zero=True)`` or ``Masking``: ONNX's operators take lengths,
  ``sequence_lens``, computed in the graph as the number of real steps of each row,
  ``ReduceSum(Cast(Not(Equal(ids, 0))), time)`` (for ``Masking``, a step is real where any
  feature differs from ``mask_value``). That is our mask only when the padding is at the end of
  each row (a padded step between real ones would end the sequence there in ONNX, where
  ``predict`` skips it and goes on). The final states are then those after the last real step,
  as ours; a returned sequence is zero at padded steps in ONNX, and repeats the last real output
  in ours (Keras's rule): a ``Where`` over the mask fills in ``Y_h`` there. ``Bidirectional``
  with a mask is refused.

ONNX's sequences are time first, ``X (T, N, F)`` and ``Y (T, num_directions, N, units)``, and
ours batch first: a ``Transpose`` goes in and out. (Opset 14's ``layout=1`` would spare them,
but ONNX Runtime refuses it: "Batchwise recurrent operations (layout == 1) are not
supported".) A sequence that ``go_backwards`` returns is in reading order, from the last step
to the first, where ONNX's ``reverse`` direction returns it in time order: a ``Slice`` with
step -1 reverses it, for any length.

ONNX Runtime has no float64 kernels for ``RNN``, ``LSTM`` and ``GRU`` on CPU ("LSTM operator
does not support double yet"): a float64 file is valid ONNX, run by other runtimes and by
``onnx.reference.ReferenceEvaluator``, but not by ONNX Runtime.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import activations
from ..layers import GRU, LSTM, Bidirectional, Embedding, Masking, SimpleRNN
from .converters import register_onnx_converter
from .graph import OnnxGraph

INT64 = 7  # onnx.TensorProto.INT64, for Cast (the onnx package is imported only to assemble)
INT32 = 6  # onnx.TensorProto.INT32: sequence_lens
BOOL = 9  # onnx.TensorProto.BOOL
INT64_MIN = np.iinfo(np.int64).min  # a Slice's end "before the first element" for step -1

# Our activation class -> (ONNX's name for it in the recurrent operators, alpha, beta); alpha and
# beta as functions of the activation, None where the ONNX activation takes none.
_ACTIVATIONS: dict[type, tuple[str, Any, Any]] = {
    activations.Tanh: ("Tanh", None, None),
    activations.Sigmoid: ("Sigmoid", None, None),
    activations.ReLU: ("Relu", None, None),
    activations.Linear: ("Affine", lambda a: 1.0, lambda a: 0.0),
    activations.LeakyReLU: ("LeakyRelu", lambda a: a.alpha, None),
    activations.ELU: ("Elu", lambda a: a.alpha, None),
    activations.Softplus: ("Softplus", None, None),
}

# Where ONNX's LSTM blocks (i, o, f, c) sit among ours (i, f, c, o).
_LSTM_BLOCKS = (0, 3, 1, 2)
_OPERATORS = {SimpleRNN: "RNN", LSTM: "LSTM", GRU: "GRU"}


# -- embeddings ------------------------------------------------------------------------------------
def _embedding(graph: OnnxGraph, layer: Any, x: str) -> str:
    """``y = E[ids]``: ``Gather(E, ids, axis=0)``, ``(N, T) -> (N, T, output_dim)``.

    Gather reads a negative id from the end of the table, and ONNX Runtime fails on an id past
    it, where ``predict`` refuses both with a ``ValueError``.
    """
    ids = graph.node("Cast", [x], to=INT64)
    if layer.mask_zero:  # the mask (N, T) and the lengths (N,) of the real steps
        real = graph.node("Not", [graph.node("Equal", [ids, graph.constant(0, "zero", np.int64)])])
        graph.made_mask = (real, _lengths(graph, real))
    return graph.node("Gather", [graph.constant(layer.params["embeddings"], "embeddings"), ids])


def _lengths(graph: OnnxGraph, real: str) -> str:
    """The real steps of each row, ``(N,)`` int32 (``sequence_lens``), from the mask ``(N, T)``."""
    counted = graph.node("Cast", [real], to=INT32)
    return graph.node("ReduceSum", [counted, graph.constant([1], "axes", np.int64)], keepdims=0)


def _masking(graph: OnnxGraph, layer: Any, x: str) -> str:
    """``Masking``: ``real = any_f (x != mask_value)`` (``(N, T)``), ``y = Where(real, x, 0)``."""
    differs = graph.node("Not", [graph.node("Equal", [x, graph.constant(layer.mask_value)])])
    counted = graph.node("Cast", [differs], to=INT32)
    last = graph.constant([-1], "axes", np.int64)
    if graph.opset >= 18:  # ReduceMax takes its axes as an input from opset 18
        anywhere = graph.node("ReduceMax", [counted, last], keepdims=1)
    else:
        anywhere = graph.node("ReduceMax", [counted], axes=[-1], keepdims=1)
    steps = graph.node("Cast", [anywhere], to=BOOL)  # (N, T, 1)
    real = graph.node("Squeeze", [steps, last])
    graph.made_mask = (real, _lengths(graph, real))
    return graph.node("Where", [steps, x, graph.constant(0.0, "zero")])


# -- one operator for one or two recurrent layers -------------------------------------------------
def _op_of(layer: Any) -> str:
    return _OPERATORS[type(layer)]


def _weights(layer: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``W (G u, in)``, ``R (G u, u)`` and ``B (2 G u,)`` of one direction, in ONNX's order."""
    W, U = layer.params["W"], layer.params["U"]
    units, zeros = layer.units, np.zeros(U.shape[1], W.dtype)
    # The parts of b added to x W and to h U (the GRU's two rows; the others' b is all input).
    b_in, b_rec = layer.cell.split_bias(layer.params.get("b"))
    b_in, b_rec = zeros if b_in is None else b_in, zeros if b_rec is None else b_rec
    if type(layer) is LSTM:  # i, f, c, o -> i, o, f, c
        order = np.concatenate([np.arange(k * units, (k + 1) * units) for k in _LSTM_BLOCKS])
        W, U, b_in, b_rec = W[:, order], U[:, order], b_in[order], b_rec[order]
    return W.T, U.T, np.concatenate([b_in, b_rec])


def _activation_attributes(layer: Any, where: str, directions: int) -> dict[str, Any]:
    """``activations`` (and their ``activation_alpha``/``beta``) for ``directions`` directions.

    ONNX's lists: RNN ``[f]``, LSTM ``[f, g, h]``, GRU ``[f, g]``, once per direction, with f
    the gates' activation (ours: ``recurrent_activation``) and g, h the candidate's and the
    output's (ours: ``activation``). Alphas and betas are listed for the activations that take
    them, in order, as ONNX Runtime reads them (float32 attributes, in float64 files too).
    """
    if type(layer) is SimpleRNN:
        ours = [layer.activation]
    elif type(layer) is LSTM:
        ours = [layer.recurrent_activation, layer.activation, layer.activation]
    else:
        ours = [layer.recurrent_activation, layer.activation]
    names, alphas, betas = [], [], []
    for activation in ours * directions:
        found = _ACTIVATIONS.get(type(activation))
        if found is None:
            supported = ", ".join(sorted(c.__name__ for c in _ACTIVATIONS))
            raise TypeError(
                f"{where} ({layer!r}) uses the activation {activation!r}, which ONNX's "
                f"{_op_of(layer)} operator does not have (it has {supported})"
            )
        name, alpha, beta = found
        names.append(name)
        if alpha is not None:
            alphas.append(float(alpha(activation)))
        if beta is not None:
            betas.append(float(beta(activation)))
    attributes: dict[str, Any] = {"activations": names}
    if alphas:
        attributes["activation_alpha"] = alphas
    if betas:
        attributes["activation_beta"] = betas
    return attributes


def _multi_output_node(
    graph: OnnxGraph, op: str, inputs: list[str], n_outputs: int, **attributes: Any
) -> list[str]:
    """Add one operator with ``n_outputs`` outputs (``OnnxGraph.node`` names one)."""
    outputs = [graph.fresh_name(op if k == 0 else f"{op}_state") for k in range(n_outputs)]
    graph.nodes.append(
        {"op": op, "inputs": list(inputs), "outputs": outputs, "attributes": attributes}
    )
    return outputs


def _reverse_time(graph: OnnxGraph, x: str, axis: int) -> str:
    """``x`` with its time axis reversed (``x[:, ::-1]`` for ``axis=1``), for any length."""
    return graph.node(
        "Slice",
        [
            x,
            graph.constant([-1], "starts", np.int64),
            graph.constant([INT64_MIN], "ends", np.int64),
            graph.constant([axis], "axes", np.int64),
            graph.constant([-1], "steps", np.int64),
        ],
        stem="Reverse",
    )


def _run_operator(
    graph: OnnxGraph,
    parts: list[Any],
    x: str,
    initial: list[str],
    direction: str,
    where: str,
    lengths: str | None = None,
) -> tuple[str, list[str]]:
    """The operator over ``x (N, T, F)`` with the weights of ``parts`` (one layer per direction),
    over the first ``lengths`` steps of each row (all without).

    Returns ``Y (T, num_directions, N, u)`` and the final states ``[Y_h]`` (``[Y_h, Y_c]``),
    each ``(num_directions, N, u)``.
    """
    layer = parts[0]
    weights = [_weights(part) for part in parts]
    W, R, B = (np.stack([w[k] for w in weights]) for k in range(3))
    inputs = [
        graph.node("Transpose", [x], perm=[1, 0, 2]),  # (N, T, F) -> (T, N, F)
        graph.constant(W, "W"),
        graph.constant(R, "R"),
        graph.constant(B, "B"),
    ]
    if lengths is not None or initial:  # sequence_lens ("": left out), then the states
        axes = graph.constant([0], "axes", np.int64)  # (N, u) -> (1, N, u)
        inputs += [lengths or "", *(graph.node("Unsqueeze", [state, axes]) for state in initial)]
    attributes = {"hidden_size": layer.units, "direction": direction}
    attributes.update(_activation_attributes(layer, where, len(parts)))
    if _op_of(layer) == "GRU":
        # reset_after=True: r * (h U_h + b1_h) (1); False: (r * h) U_h (0, ONNX's default)
        attributes["linear_before_reset"] = 1 if layer.reset_after else 0
    n_outputs = 3 if _op_of(layer) == "LSTM" else 2
    y, *states = _multi_output_node(graph, _op_of(layer), inputs, n_outputs, **attributes)
    return y, states


def _recurrent(graph: OnnxGraph, layer: Any, x: Any) -> Any:
    """One recurrent layer: the operator, forward or (``go_backwards``) reverse.

    ``return_sequences``: ``Y`` back to ``(N, T, u)`` (in reading order); else the last state
    ``Y_h``, ``(N, u)``. With ``return_state`` the final states follow the output.
    """
    x, initial = (x[0], list(x[1:])) if layer.takes_list else (x, [])
    direction = "reverse" if layer.go_backwards else "forward"
    where = f"a {type(layer).__name__} layer"
    real, lengths = graph.mask if graph.mask is not None else (None, None)
    y, states = _run_operator(graph, [layer], x, initial, direction, where, lengths)
    masked_sequence = real is not None and layer.return_sequences
    # the states read: all with return_state, else Y_h for the last output or the padding
    read = len(states) if layer.return_state else 0 if layer.return_sequences and not (
        masked_sequence) else 1  # fmt: skip
    axis = graph.constant([0], "axes", np.int64) if read else None
    states = [graph.node("Squeeze", [state, axis]) for state in states[:read]]  # (N, u) each
    if layer.return_sequences:
        y = graph.node("Squeeze", [y, graph.constant([1], "axes", np.int64)])  # (T, N, u)
        output = graph.node("Transpose", [y], perm=[1, 0, 2])
        if layer.go_backwards:
            output = _reverse_time(graph, output, axis=1)
        if masked_sequence:
            output = _fill_padded_steps(graph, layer, output, real, states[0], initial)
    else:
        output = states[0]
    return [output, *states] if layer.return_state else output


def _fill_padded_steps(
    graph: OnnxGraph, layer: Any, output: str, real: str, last: str, initial: list[str]
) -> str:
    """A returned sequence at padded steps as ``predict`` gives it: the state it holds there.

    Reading forwards, the padding comes after the last real step: ``Y_h``, where ONNX put zeros.
    Reading backwards, it comes first (in reading order), before any real step: the initial
    state, zero without one, as ONNX has it already.
    """
    if layer.go_backwards and not initial:
        return output
    axis = graph.constant([2], "axes", np.int64)
    if not layer.go_backwards:
        steps = graph.node("Unsqueeze", [real, axis])  # (N, T, 1)
        held = graph.node("Unsqueeze", [last, graph.constant([1], "axes", np.int64)])
        return graph.node("Where", [steps, output, held])
    steps = graph.node("Unsqueeze", [_reverse_time(graph, real, axis=1), axis])
    held = graph.node("Unsqueeze", [initial[0], graph.constant([1], "axes", np.int64)])
    return graph.node("Where", [steps, output, held])


def _bidirectional(graph: OnnxGraph, layer: Any, x: str) -> Any:
    """``Bidirectional``: one operator, ``direction="bidirectional"``, then the merge.

    Direction 0 of the operator is ``forward_layer``, direction 1 ``backward_layer``, whose
    sequence ONNX returns in time order, as ``Bidirectional`` flips it. A wrapped layer that
    itself ``go_backwards`` swaps the roles: reading ``x`` reversed gives the same operator.
    """
    if graph.mask is not None:
        raise TypeError(
            f"{layer!r} has no ONNX converter for masked sequences (Embedding(mask_zero=True) "
            "before it); export a model without mask_zero, or with a single direction"
        )
    forward_layer, backward_layer = layer.forward_layer, layer.backward_layer
    if forward_layer.go_backwards:
        x = _reverse_time(graph, x, axis=1)
    y, states = _run_operator(
        graph,
        [forward_layer, backward_layer],
        x,
        [],
        "bidirectional",
        f"a Bidirectional layer's {type(forward_layer).__name__}",
    )
    if forward_layer.return_sequences:
        parts = [_direction(graph, y, k, axis=1) for k in (0, 1)]  # (T, N, u) each
        parts = [graph.node("Transpose", [part], perm=[1, 0, 2]) for part in parts]
    else:
        parts = [_direction(graph, states[0], k, axis=0) for k in (0, 1)]  # (N, u) each
    output = _merge(graph, layer.merge_mode, *parts)
    if not forward_layer.return_state:
        return output
    return [output, *(_direction(graph, s, k, axis=0) for k in (0, 1) for s in states)]


def _direction(graph: OnnxGraph, tensor: str, index: int, axis: int) -> str:
    """Direction ``index`` of ``tensor``, its direction axis ``axis`` removed (Gather)."""
    return graph.node("Gather", [tensor, graph.constant(index, "direction", np.int64)], axis=axis)


def _merge(graph: OnnxGraph, mode: str, y_f: str, y_b: str) -> str:
    """``concat``: ``[y_f, y_b]``; ``sum``: ``y_f + y_b``; ``mul``: ``y_f y_b``; ``ave``:
    ``(y_f + y_b) * 0.5``, operation for operation as ``Bidirectional.forward``."""
    if mode == "concat":
        return graph.node("Concat", [y_f, y_b], axis=-1)
    if mode == "mul":
        return graph.node("Mul", [y_f, y_b])
    total = graph.node("Add", [y_f, y_b])
    if mode == "sum":
        return total
    return graph.node("Mul", [total, graph.constant(0.5, "half")])


register_onnx_converter(Embedding, _embedding)
register_onnx_converter(Masking, _masking)
for _cls in _OPERATORS:
    register_onnx_converter(_cls, _recurrent)
register_onnx_converter(Bidirectional, _bidirectional)
