"""Multi-head attention ("Attention is all you need", Vaswani et al. 2017), Keras's layer.

Every head compares each query position with every key position, turns the scores into weights
with a softmax, and averages the values with those weights; the heads' averages are projected
back to the query's width. All heads run at once, as stacked matrix products over the axes
``(N, heads)``: no loop over heads in Python. See ``docs/how/attention.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_number, check_positive_int, describe
from ..initializers import get_initializer, initializer_config
from ..regularizers import get_regularizer
from .base import Layer, Weight, format_shape
from .dense import _named_or_object
from .masked_softmax import masked_softmax, softmax_backward
from .symbolic import SymbolicTensor

ROLES = ("query", "value", "key", "attention_mask")


def _config_of(thing: Any) -> Any:
    return None if thing is None else thing.get_config()


def _as_matrix(initializer: Any, input_axes: int) -> Any:
    """Draw a kernel as the matrix it acts as: ``Wq (F, heads, d)`` as ``(F, heads d)``
    (``input_axes=1``), ``Wo (heads, d, F)`` as ``(heads d, F)`` (``input_axes=2``), so Glorot's
    fans are the projection's own widths.

    Keras's ``EinsumDense`` hands the 3-axis shape to its initializer, which takes it for a
    convolution kernel (``fan_in = shape[-2] prod(shape[:-2])``, ``fan_out = shape[-1]
    prod(shape[:-2])``): for ``Wq (D, heads, key_dim)`` that is ``fan_in = D heads``,
    ``fan_out = D key_dim``, a limit ``sqrt(6 / (D (heads + key_dim)))`` several times smaller
    than the matrix's ``sqrt(6 / (D + heads key_dim))``. We take the matrix's, as ``Conv2D``
    here does (PyTorch's ``nn.MultiheadAttention`` also draws Xavier over its projection matrix).
    """

    def draw(shape: tuple[int, ...], rng: Any) -> np.ndarray:
        matrix = (int(np.prod(shape[:input_axes])), int(np.prod(shape[input_axes:])))
        return np.asarray(initializer(matrix, rng)).reshape(shape)

    return draw


class MultiHeadAttention(Layer):
    """Multi-head scaled dot-product attention, called as Keras's: ``mha(query, value)``.

    Shapes (``H`` heads, ``d_k = key_dim``, ``d_v = value_dim``, ``D`` the query's width)::

        query x_q: (N, Tq, D)      value x_v: (N, Tk, Dv)      key x_k: (N, Tk, Dk) (= value)
        Wq: (D, H, d_k)   bq: (H, d_k)    Wk: (Dk, H, d_k)   bk: (H, d_k)
        Wv: (Dv, H, d_v)  bv: (H, d_v)    Wo: (H, d_v, D)    bo: (D,)

    Forward, per head ``h`` (all heads at once as ``(N, H, ., .)`` stacks)::

        Q = (x_q Wq + bq) / sqrt(d_k)   (N, H, Tq, d_k)
        K = x_k Wk + bk                 (N, H, Tk, d_k)
        V = x_v Wv + bv                 (N, H, Tk, d_v)
        S = Q K^T                       (N, H, Tq, Tk)   scores
        P = softmax(S) over keys        (N, H, Tq, Tk)   masked entries exactly 0
        O = dropout(P) V                (N, H, Tq, d_v)
        y = sum_h O_h Wo_h + bo         (N, Tq, D)

    Dividing by ``sqrt(d_k)`` keeps the scores' variance near 1 whatever ``d_k`` (a sum of
    ``d_k`` products of unit-variance terms has variance ``d_k``), so the softmax does not start
    saturated. Backward, with ``G = dL/dy`` (and ``P~ = dropout(P)``, ``M`` its scaled mask)::

        dWo = O^T G        dbo = sum G          dO = G Wo^T
        dV = P~^T dO       dP = (dO V^T) * M    (+ dL/dP when the weights are an output)
        dS = P * (dP - sum_j dP_j P_j)          (the softmax's backward)
        dQ = dS K / sqrt(d_k)                   dK = dS^T Q_scaled
        dWq = x_q^T dQ, dbq = sum dQ, dx_q = dQ Wq^T; likewise for K and V

    and when ``key`` is not given, ``x_v`` gets both the value's and the key's gradients.

    Masks (``True``/1: may attend) combine by "and": ``use_causal_mask`` (query ``i`` sees keys
    ``j <= i``), an ``attention_mask`` input ``(N, Tq, Tk)``, and a padding mask the graph
    carries (from ``Embedding(mask_zero=True)``): the query's on rows, the value's (and key's)
    on columns, as in Keras. A row with nothing to attend to gets zero weights and output
    ``bo``. The output's padding mask is the query's.

    Calling it: ``mha(query, value, key=None, attention_mask=None, use_causal_mask=None,
    return_attention_scores=None)`` on tensors ``(None, T, width)`` (time axes may be open);
    the node's inputs are ``[query, value]``, then ``key`` and ``attention_mask`` when given.
    A flag left as ``None`` keeps the layer's; a second call must agree with the first.

    Parameters
    ----------
    num_heads : int
        Number of heads ``H``.
    key_dim : int
        Size ``d_k`` of each head's queries and keys.
    value_dim : int, optional
        Size ``d_v`` of each head's values; ``key_dim`` when not given.
    dropout : float
        Fraction of the attention weights dropped in training (inverted dropout, from the
        model's seeded generator).
    use_bias : bool
        Whether the four projections add biases.
    output_shape : int, optional
        Width of the output; the query's width ``D`` when not given.
    kernel_initializer, bias_initializer : str or callable
        For the four kernels (Glorot uniform, drawn for the matrix each kernel acts as,
        ``(D, H d_k)`` for ``Wq``, ``(H d_v, D)`` for ``Wo``: fans of ``D`` and ``H d_k``, as
        PyTorch's; Keras's ``EinsumDense`` takes conv-style fans of the 3-axis shape, ``D H``
        and ``D d_k``, which start the kernels several times smaller) and the biases (zeros).
    kernel_regularizer, bias_regularizer : str, Regularizer or None
        Penalties on the kernels and the biases.
    use_causal_mask, return_attention_scores, attention_mask_input : bool
        Set by the first call (kept here so model files rebuild the same graph): a causal mask;
        a second output, the weights ``P`` ``(N, H, Tq, Tk)`` (before dropout); an
        ``attention_mask`` among the inputs.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn import Input, Model
    >>> from scratchnn.layers import MultiHeadAttention
    >>> x = Input(shape=(5, 8))
    >>> y = MultiHeadAttention(num_heads=2, key_dim=4)(x, x, use_causal_mask=True)
    >>> Model(inputs=x, outputs=y, seed=0).predict(np.ones((3, 5, 8))).shape
    (3, 5, 8)
    """

    takes_list = True
    uses_mask = True
    # It takes padding masks but carries no state from step to step: diagnostics do not follow
    # its input's gradient over time as they do a recurrent layer's.
    steps_through_time = False

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        value_dim: int | None = None,
        dropout: float = 0.0,
        use_bias: bool = True,
        output_shape: int | None = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        use_causal_mask: bool = False,
        return_attention_scores: bool = False,
        attention_mask_input: bool = False,
    ) -> None:
        super().__init__(None, None)
        self.num_heads = check_positive_int(num_heads, "num_heads")
        self.key_dim = check_positive_int(key_dim, "key_dim")
        self.value_dim = (
            self.key_dim if value_dim is None else check_positive_int(value_dim, "value_dim")
        )
        self.dropout = check_number(dropout, "dropout", low=0.0, high=1.0, high_inclusive=False)
        flags = {"use_bias": use_bias, "use_causal_mask": use_causal_mask,
                 "return_attention_scores": return_attention_scores,
                 "attention_mask_input": attention_mask_input}  # fmt: skip
        for flag, value in flags.items():
            if not isinstance(value, bool):
                raise TypeError(f"{flag} must be True or False, got {describe(value)}")
        if isinstance(output_shape, (list, tuple)) and len(output_shape) == 1:
            output_shape = output_shape[0]
        self.output_size = (
            None if output_shape is None else check_positive_int(output_shape, "output_shape")
        )
        self.use_bias = use_bias
        self.kernel_initializer = _named_or_object(kernel_initializer)
        self.bias_initializer = _named_or_object(bias_initializer)
        self.kernel_regularizer = get_regularizer(kernel_regularizer)
        self.bias_regularizer = get_regularizer(bias_regularizer)
        self.use_causal_mask = use_causal_mask
        self.return_attention_scores = return_attention_scores
        self.attention_mask_input = attention_mask_input

    # -- calling it in a graph ------------------------------------------------------------------
    def __call__(
        self,
        query: Any,
        value: Any = None,
        key: Any = None,
        attention_mask: Any = None,
        use_causal_mask: bool | None = None,
        return_attention_scores: bool | None = None,
    ) -> Any:
        """Add a node ``[query, value(, key)(, attention_mask)]`` to the graph.

        Returns the output tensor ``(None, Tq, D)``, or ``[output, weights]`` with
        ``return_attention_scores`` (weights ``(None, H, Tq, Tk)``). A list as ``query`` alone is
        a node's inputs in that order (how a model file replays its graph).
        """
        if isinstance(query, (list, tuple)) and value is None and key is None:
            tensors = list(query)  # a model file's node: the inputs in order
            has_mask = self.attention_mask_input if attention_mask is None else True
            if attention_mask is not None:
                tensors.append(attention_mask)
            if not 2 <= len(tensors) <= 4 or (has_mask and len(tensors) < 3):
                raise TypeError(
                    f"MultiHeadAttention takes [query, value], then key and attention_mask when "
                    f"given; got a list of {len(tensors)}"
                )
        else:
            if value is None:
                raise TypeError(
                    "MultiHeadAttention needs value: call it as mha(query, value) (self-attention"
                    " is mha(x, x))"
                )
            has_mask = attention_mask is not None
            tensors = [query, value] + ([key] if key is not None else [])
            tensors += [attention_mask] if has_mask else []
        for name, tensor in zip(self._roles(len(tensors), has_mask), tensors, strict=True):
            if not isinstance(tensor, SymbolicTensor):
                raise TypeError(
                    f"{name} must be a tensor from Input or another layer, got {describe(tensor)}"
                )
        settings = {"use_causal_mask": use_causal_mask,
                    "return_attention_scores": return_attention_scores}  # fmt: skip
        for flag, given in settings.items():
            if given is not None and not isinstance(given, bool):
                raise TypeError(f"{flag} must be True or False, got {describe(given)}")
            if given is not None and self.calls and given != getattr(self, flag):
                raise ValueError(
                    f"MultiHeadAttention {self.name!r} was first called with {flag}="
                    f"{getattr(self, flag)}; a later call shares that setting, got {flag}={given}"
                )
        if self.calls and has_mask != self.attention_mask_input:
            raise ValueError(
                f"MultiHeadAttention {self.name!r} was first called "
                f"{'with' if self.attention_mask_input else 'without'} an attention_mask; a later "
                "call must be called alike"
            )
        before = (self.use_causal_mask, self.return_attention_scores, self.attention_mask_input)
        for flag, given in settings.items():
            if given is not None:
                setattr(self, flag, given)
        self.attention_mask_input = has_mask
        try:
            return super().__call__(tensors)
        except (TypeError, ValueError):  # a rejected call changes nothing
            if not self.calls:
                (self.use_causal_mask, self.return_attention_scores,
                 self.attention_mask_input) = before  # fmt: skip
            raise

    def _roles(self, count: int, has_mask: bool | None = None) -> list[str]:
        """The names of a node's ``count`` inputs, in order."""
        has_mask = self.attention_mask_input if has_mask is None else has_mask
        has_key = count - 2 - int(has_mask) > 0
        return [
            *ROLES[:2],
            *(["key"] if has_key else []),
            *(["attention_mask"] if has_mask else []),
        ]

    def _shapes(self, input_shape: Any) -> dict[str, tuple]:
        """``{role: shape}`` for the node's input shapes, checked (each without the batch axis)."""
        if not isinstance(input_shape, list) or not 2 <= len(input_shape) <= 4:
            raise ValueError(
                "MultiHeadAttention takes the shapes of [query, value], then key and "
                f"attention_mask when given; got {describe(input_shape)}"
            )
        roles = self._roles(len(input_shape))
        if len(roles) != len(input_shape):
            raise ValueError(f"MultiHeadAttention takes at most {len(roles)} inputs here")
        shapes = {role: tuple(shape) for role, shape in zip(roles, input_shape, strict=True)}
        for role in ("query", "value", "key"):
            shape = shapes.get(role)
            if shape is not None and (len(shape) != 2 or shape[1] is None):
                raise ValueError(
                    f"{role} must be sequences (batch, time, features) with the features' size "
                    f"known, got a tensor of shape {format_shape(shape)}"
                )
        steps_q, steps_k = shapes["query"][0], shapes["value"][0]
        if "key" in shapes and not _agree(shapes["key"][0], steps_k):
            raise ValueError(
                f"key and value must have the same number of steps, got key "
                f"{format_shape(shapes['key'])} and value {format_shape(shapes['value'])}"
            )
        steps_k = steps_k if steps_k is not None else shapes.get("key", (None,))[0]
        mask = shapes.get("attention_mask")
        if mask is not None and (
            len(mask) != 2 or not _agree(mask[0], steps_q) or not _agree(mask[1], steps_k)
        ):
            raise ValueError(
                f"attention_mask must have shape (batch, Tq, Tk) = "
                f"{format_shape((steps_q, steps_k))} (query steps by value steps), got "
                f"{format_shape(mask)}"
            )
        return shapes

    def output_shape(self, input_shape: Any) -> Any:
        shapes = self._shapes(input_shape)
        mask = shapes.get("attention_mask", (None, None))  # may know a length left open
        steps_q = shapes["query"][0] or mask[0]
        steps_k = shapes["value"][0] or shapes.get("key", (None,))[0] or mask[1]
        width = self.output_size or shapes["query"][1]
        if self.return_attention_scores:
            return [(steps_q, width), (self.num_heads, steps_q, steps_k)]
        return (steps_q, width)

    def compute_mask(self, inputs: Any, mask: Any) -> Any:
        """The output's padding mask is the query's (the weights carry none)."""
        query_mask = mask[0] if isinstance(mask, list) else mask
        return [query_mask, None] if self.return_attention_scores else query_mask

    def weights_for(self, input_shape: Any) -> list[Weight]:
        """``Wq, bq, Wk, bk, Wv, bv, Wo, bo`` in Keras's layout (biases with ``use_bias``)."""
        shapes = self._shapes(input_shape)
        width_q, width_v = shapes["query"][1], shapes["value"][1]
        width_k = shapes.get("key", shapes["value"])[1]
        width_out = self.output_size or width_q
        heads, key_dim, value_dim = self.num_heads, self.key_dim, self.value_dim
        kernel = get_initializer(self.kernel_initializer)
        bias = get_initializer(self.bias_initializer)
        weights = []
        for name, rows, size in (("q", width_q, key_dim), ("k", width_k, key_dim),
                                 ("v", width_v, value_dim)):  # fmt: skip
            weights.append(Weight(f"W{name}", (rows, heads, size), _as_matrix(kernel, 1),
                                  self.kernel_regularizer, kernel=True))  # fmt: skip
            if self.use_bias:
                weights.append(Weight(f"b{name}", (heads, size), bias, self.bias_regularizer))
        out = (heads, value_dim, width_out)
        weights.append(
            Weight("Wo", out, _as_matrix(kernel, 2), self.kernel_regularizer, kernel=True)
        )
        if self.use_bias:
            weights.append(Weight("bo", (width_out,), bias, self.bias_regularizer))
        return weights

    @property
    def steppable(self) -> bool:
        """Whether :meth:`forward_step` reproduces this layer's calls one position at a time:
        causal, no ``attention_mask`` input, no weights as an output."""
        return (
            self.use_causal_mask
            and not self.attention_mask_input
            and not self.return_attention_scores
        )

    # -- the passes -----------------------------------------------------------------------------
    def _project(self, x: np.ndarray, name: str, size: int) -> np.ndarray:
        """``x W + b`` for ``x (N, T, F)`` and ``W (F, H, size)``, as ``(N, H, T, size)``."""
        batch, steps, width = x.shape
        W = self.params[f"W{name}"]
        projected = x.reshape(-1, width) @ W.reshape(width, -1)  # one product for every head
        if self.use_bias:
            projected += self.params[f"b{name}"].reshape(-1)
        return projected.reshape(batch, steps, self.num_heads, size).transpose(0, 2, 1, 3)

    def _blocked(
        self, steps_q: int, steps_k: int, attention_mask: Any, masks: Any
    ) -> np.ndarray | None:
        """``True`` where a query may not attend, ``(N or 1, 1, Tq, Tk)``; ``None``: nowhere."""
        allowed = None
        if self.use_causal_mask:  # query i sees keys j <= i (Keras's, from the top left)
            allowed = np.tri(steps_q, steps_k, dtype=bool)[None]
        if attention_mask is not None:
            given = np.asarray(attention_mask) != 0
            allowed = given if allowed is None else allowed & given
        if isinstance(masks, list):  # padded steps: the query's rows, the value's and key's columns
            named = dict(zip(self._roles(len(masks)), masks, strict=True))
            if named["query"] is not None:
                rows = np.asarray(named["query"], dtype=bool)[:, :, None]
                allowed = rows if allowed is None else allowed & rows
            for column in (named["value"], named.get("key")):
                if column is not None:
                    column = np.asarray(column, dtype=bool)[:, None, :]
                    allowed = column if allowed is None else allowed & column
        return None if allowed is None else ~allowed[:, None]

    def _split(self, inputs: list) -> dict[str, np.ndarray]:
        return dict(zip(self._roles(len(inputs)), inputs, strict=True))

    def forward(self, inputs: list, training: bool = False, mask: Any = None) -> Any:
        """``y (N, Tq, D)`` (and ``P (N, H, Tq, Tk)`` with ``return_attention_scores``)."""
        given = self._split(inputs)
        x_q, x_v = given["query"], given["value"]
        x_k = given.get("key", x_v)
        batch, steps_q, _ = x_q.shape
        steps_k = x_v.shape[1]
        heads, key_dim, value_dim = self.num_heads, self.key_dim, self.value_dim
        query = self._project(x_q, "q", key_dim)
        query *= query.dtype.type(1.0 / np.sqrt(key_dim))  # scaled once here, not Tk times in S
        key = self._project(x_k, "k", key_dim)
        value = self._project(x_v, "v", value_dim)
        blocked = self._blocked(steps_q, steps_k, given.get("attention_mask"), mask)
        weights = masked_softmax(query @ key.swapaxes(-1, -2), blocked)  # (N, H, Tq, Tk)
        kept = None
        if training and self.dropout > 0.0:
            keep = 1.0 - self.dropout
            kept = (self.rng.random(weights.shape) < keep).astype(weights.dtype)
            kept /= weights.dtype.type(keep)
        used = weights if kept is None else weights * kept
        heads_out = (used @ value).transpose(0, 2, 1, 3).reshape(-1, heads * value_dim)
        Wo = self.params["Wo"]
        y = heads_out @ Wo.reshape(heads * value_dim, -1)
        if self.use_bias:
            y += self.params["bo"]
        y = y.reshape(batch, steps_q, -1)
        if training:
            self._cache = (given, query, key, value, weights, kept, used, heads_out)
        return [y, weights] if self.return_attention_scores else y

    def backward(self, grad_output: Any) -> list | None:
        """Fills ``grads`` and returns the inputs' gradients, in the node's order (zeros for an
        ``attention_mask``: the weights are a step function of it)."""
        given, query, key, value, weights, kept, used, heads_out = self._recorded()
        grad_scores = None
        if self.return_attention_scores:
            grad_output, grad_scores = grad_output
        heads, key_dim, value_dim = self.num_heads, self.key_dim, self.value_dim
        batch, steps_q, width_out = grad_output.shape
        grad_rows = grad_output.reshape(-1, width_out)
        Wo = self.params["Wo"].reshape(heads * value_dim, width_out)
        self.grads["Wo"][...] = (heads_out.T @ grad_rows).reshape(self.grads["Wo"].shape)
        if self.use_bias:
            np.add.reduce(grad_rows, axis=0, out=self.grads["bo"])
        grad_heads = (grad_rows @ Wo.T).reshape(batch, steps_q, heads, value_dim)
        grad_heads = grad_heads.transpose(0, 2, 1, 3)  # dO: (N, H, Tq, d_v)
        grad_value = used.swapaxes(-1, -2) @ grad_heads  # dV: (N, H, Tk, d_v)
        grad_weights = grad_heads @ value.swapaxes(-1, -2)  # dP: (N, H, Tq, Tk)
        if kept is not None:
            grad_weights *= kept
        if grad_scores is not None:
            grad_weights += grad_scores
        grad_logits = softmax_backward(weights, grad_weights)  # dS
        grad_query = grad_logits @ key
        grad_query *= grad_query.dtype.type(1.0 / np.sqrt(key_dim))
        grad_key = grad_logits.swapaxes(-1, -2) @ query
        x_q, x_v = given["query"], given["value"]
        x_k = given.get("key")
        grad_x_q = self._project_backward(x_q, "q", grad_query)
        grad_x_v = self._project_backward(x_v, "v", grad_value)
        grad_x_k = self._project_backward(x_v if x_k is None else x_k, "k", grad_key)
        if not self.needs_input_grad:
            return None
        grads = [grad_x_q, grad_x_v if x_k is not None else grad_x_v + grad_x_k]
        if x_k is not None:
            grads.append(grad_x_k)
        if "attention_mask" in given:
            grads.append(np.zeros(given["attention_mask"].shape, grad_output.dtype))
        return grads

    def _project_backward(self, x: np.ndarray, name: str, grad: np.ndarray) -> np.ndarray | None:
        """Fills ``W{name}``'s and ``b{name}``'s gradients from ``grad (N, H, T, size)``;
        returns ``dL/dx (N, T, F)`` (``None`` when no input needs one)."""
        width = x.shape[-1]
        rows = grad.transpose(0, 2, 1, 3).reshape(-1, grad.shape[1] * grad.shape[3])
        self.grads[f"W{name}"][...] = (x.reshape(-1, width).T @ rows).reshape(
            self.grads[f"W{name}"].shape
        )
        if self.use_bias:
            self.grads[f"b{name}"][...] = rows.sum(axis=0).reshape(self.grads[f"b{name}"].shape)
        if not self.needs_input_grad:
            return None
        return (rows @ self.params[f"W{name}"].reshape(width, -1).T).reshape(x.shape)

    # -- generation, one position at a time -----------------------------------------------------
    def forward_step(self, inputs: list, cache: dict | None = None) -> tuple[np.ndarray, dict]:
        """One new position of causal self-attention, given the keys and values of the earlier
        ones: returns ``(y_t (N, 1, D), cache)``, the output :meth:`forward` gives at that
        position and the cache grown by it.

        ``inputs`` are the node's inputs at the new position, each ``(N, 1, width)``
        (``[query, value]`` or ``[query, value, key]``). ``cache`` is ``None`` at the first
        position, then the dict this method returned: ``{"key": (N, H, t, d_k), "value": (N, H,
        t, d_v)}``, the projected keys and values of positions ``0 .. t-1``. The new position
        attends to them and to itself, ``O(t)`` work instead of a rerun of the prefix. Nothing is
        written on the layer (the cache is the caller's), so threads may step it at once.
        """
        if not self.steppable:
            raise ValueError(
                f"MultiHeadAttention {self.name!r} cannot be stepped: forward_step is for causal "
                "attention (use_causal_mask=True) without an attention_mask input or "
                "return_attention_scores"
            )
        dtype = self.params["Wo"].dtype
        listed = isinstance(inputs, (list, tuple))
        if not listed or len(inputs) not in (2, 3):
            came = f"a list of {len(inputs)}" if listed else describe(inputs)
            raise TypeError(
                f"inputs must be a list [query, value] or [query, value, key], got {came}"
            )
        given = self._split([np.asarray(x, dtype) for x in inputs])
        x_q, x_v = given["query"], given["value"]
        x_k = given.get("key", x_v)
        rows = x_q.shape[0] if x_q.ndim else None
        for role, x in given.items():
            width = self.params[f"W{role[0]}"].shape[0]
            if x.shape != (rows, 1, width):
                raise ValueError(
                    f"inputs must be (N, 1, width) each, with the same N: {role} should be "
                    f"({rows}, 1, {width}), got {x.shape}"
                )
        query = self._project(x_q, "q", self.key_dim)
        query *= query.dtype.type(1.0 / np.sqrt(self.key_dim))
        key = self._project(x_k, "k", self.key_dim)
        value = self._project(x_v, "v", self.value_dim)
        if cache is not None:
            if not isinstance(cache, dict) or not {"key", "value"} <= set(cache):
                raise TypeError(
                    f"cache must be None or the dict forward_step returned, got {describe(cache)}"
                )
            for role, new in (("key", key), ("value", value)):
                held = np.shape(cache[role])
                if len(held) != 4 or held[:2] != new.shape[:2] or held[3] != new.shape[3]:
                    raise ValueError(
                        f"cache[{role!r}] must be (N, heads, t, size) = ({new.shape[0]}, "
                        f"{new.shape[1]}, t, {new.shape[3]}) for these inputs, got {held}: "
                        "start a new cache (None) when the batch changes"
                    )
            if np.shape(cache["key"])[2] != np.shape(cache["value"])[2]:
                raise ValueError("cache['key'] and cache['value'] must hold the same positions")
            key = np.concatenate([cache["key"], key], axis=2)
            value = np.concatenate([cache["value"], value], axis=2)
        weights = masked_softmax(query @ key.swapaxes(-1, -2))  # (N, H, 1, t + 1)
        heads_out = (weights @ value).transpose(0, 2, 1, 3).reshape(len(x_q), -1)
        y = heads_out @ self.params["Wo"].reshape(heads_out.shape[1], -1)
        if self.use_bias:
            y += self.params["bo"]
        return y[:, None, :], {"key": key, "value": value}

    # -- description ----------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        return {
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "output_shape": self.output_size,
            "kernel_initializer": initializer_config(self.kernel_initializer),
            "bias_initializer": initializer_config(self.bias_initializer),
            "kernel_regularizer": _config_of(self.kernel_regularizer),
            "bias_regularizer": _config_of(self.bias_regularizer),
            "use_causal_mask": self.use_causal_mask,
            "return_attention_scores": self.return_attention_scores,
            "attention_mask_input": self.attention_mask_input,
        }

    def __repr__(self) -> str:
        extra = ", use_causal_mask=True" if self.use_causal_mask else ""
        return (
            f"MultiHeadAttention(num_heads={self.num_heads}, key_dim={self.key_dim}, "
            f"value_dim={self.value_dim}{extra})"
        )


def _agree(a: int | None, b: int | None) -> bool:
    """Two lengths agree when equal or when either is left open (``None``)."""
    return a is None or b is None or a == b
