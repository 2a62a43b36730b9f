"""Generating text from a character model: sample one character at a time.

A character model maps ids ``(N, T)`` to a distribution over the next character at every
position, ``(N, T, V)`` (a softmax per position, ``V`` the vocabulary's size). To write text,
:func:`generate` feeds it the text so far, reads the scores at the last position, samples a
character and appends it, ``length`` times.

Sampling, with ``z`` the last position's logits (the scores before the softmax)::

    p_i = exp(z_i / temperature) / sum_j exp(z_j / temperature)

``temperature < 1`` sharpens the distribution (towards always the most likely character as it
goes to 0), ``> 1`` flattens it; ``top_k`` keeps only the ``k`` largest scores before it.

A model whose time axis is open and whose layers work position by position (``Embedding``,
``Dense``, ``Dropout``, activations, ``LayerNormalization``, merges) around recurrent layers
that read forwards, position layers and causal self-attention is stepped:
:class:`~scratchnn.stepping.Stepper` feeds one id at a time and keeps each recurrent layer's
state and each attention's keys and values from one step to the next, so a generated character
costs one position's work (plus, for attention, one dot product per earlier position). Any
other model is run over the text so far at every step.

A model with a ``PositionEmbedding`` of ``sequence_length`` positions reads at most that many
ids: once the text is longer, each step reruns the model over the last ``sequence_length`` ids
(nanoGPT's crop), since every position's vector changes when the window slides.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._validation import check_positive_int, check_positive_number, describe
from .datasets import Vocabulary
from .network import Network
from .stepping import Stepper, position_window, steppable

__all__ = ["Stepper", "generate", "sample", "steppable"]

# The scores of the next character given every id so far, (V,) logits.
Scorer = Callable[[np.ndarray], np.ndarray]


def generate(
    model: Network,
    prompt: str,
    length: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int | np.random.Generator | None = None,
    vocabulary: Vocabulary | None = None,
    context: int | None = None,
) -> str:
    """The ``prompt`` followed by ``length`` characters sampled from ``model``.

    Parameters
    ----------
    model : Network
        One input of ids ``(N, T)``, one output ``(N, T, V)`` that ends in a softmax (its
        logits are read with ``model.logits``) or gives probabilities per position.
    prompt : str
        The text to go on from (at least one character), in the vocabulary.
    length : int
        How many characters to generate.
    temperature : float
        Divides the logits before the softmax: lower is more conservative, higher more varied.
        For the single most likely character each step, use ``top_k=1``.
    top_k : int, optional
        Sample only among the ``k`` most likely characters (``top_k=1`` is greedy decoding).
    seed : int or numpy.random.Generator, optional
        The same seed gives the same text.
    vocabulary : Vocabulary, optional
        Characters to ids and back; the model's own ``model.vocabulary`` when not given.
    context : int, optional
        How many of the most recent characters the model reads each step: its input length
        when it has a fixed one, else all the text so far (each step then costs a little more
        than the one before; a ``context`` bounds it).

    Returns
    -------
    str
        ``prompt`` and then the ``length`` generated characters.

    Notes
    -----
    A model that :func:`steppable` accepts, with an open input length and no ``context``,
    is stepped one id at a time with its recurrent states carried along (:class:`Stepper`);
    any other runs over the last ``context`` characters again at each step. Both give the
    same text for a seed. The guide "Generating text" trains a character LSTM and samples it.
    """
    if not isinstance(model, Network):
        raise TypeError(f"model must be a scratchnn model, got {describe(model)}")
    vocabulary = vocabulary if vocabulary is not None else getattr(model, "vocabulary", None)
    if not isinstance(vocabulary, Vocabulary):
        raise TypeError(
            "generate needs the model's characters: pass vocabulary=Vocabulary().fit(text) "
            f"(the one the model was trained with), got {describe(vocabulary)}"
        )
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a string, got {describe(prompt)}")
    if not prompt:
        raise ValueError("prompt must be a non-empty string: the text to go on from")
    ids = vocabulary.encode(prompt)
    length = check_positive_int(length, "length")
    temperature = check_positive_number(temperature, "temperature")
    if top_k is not None:
        top_k = check_positive_int(top_k, "top_k")
        if top_k > len(vocabulary):
            raise ValueError(
                f"top_k must be at most the vocabulary's size {len(vocabulary)}, got {top_k}"
            )
    rng = _generator(seed)
    open_length = tuple(getattr(model, "input_shapes", [()])[0]) == (None,)
    window = position_window(model) if open_length and getattr(model, "built", False) else None
    rerun = _rerun_scorer(model, len(vocabulary), window if context is None else context, len(ids))
    score = rerun
    if context is None and open_length and steppable(model):
        score = _stepping_scorer(model, len(vocabulary), rerun)
    text = np.empty(len(ids) + length, dtype=np.int64)
    text[: len(ids)] = ids
    for position in range(len(ids), len(text)):
        text[position] = sample(score(text[:position]), temperature, top_k, rng)
    return prompt + vocabulary.decode(text[len(ids) :])


def _generator(seed: Any) -> np.random.Generator:
    """A numpy Generator from ``seed``: ``None``, an int >= 0, or a Generator (used as is)."""
    if seed is None or isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(
            f"seed must be a non-negative integer or a numpy Generator, got {describe(seed)}"
        )
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return np.random.default_rng(int(seed))


def sample(
    logits: np.ndarray, temperature: float, top_k: int | None, rng: np.random.Generator
) -> int:
    """One id drawn from ``softmax(logits / temperature)`` over the ``top_k`` largest logits.

    ``logits (V,)``; ``-inf`` marks an impossible id. Ties for the ``k``-th place go to the
    lower id, so ``top_k=1`` is ``argmax``.
    """
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    if top_k is not None and top_k < len(scaled):
        dropped = np.argsort(-scaled, kind="stable")[top_k:]
        scaled[dropped] = -np.inf
    weights = np.exp(scaled - np.max(scaled))  # the softmax's numerator, without overflow
    cumulative = np.cumsum(weights)
    # Inverse CDF: the first id whose cumulative weight passes a uniform draw. An id of weight
    # 0 never does (its cumulative weight equals the one before it).
    chosen = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
    return min(chosen, int(np.flatnonzero(weights)[-1]))


def _rerun_scorer(model: Network, size: int, context: int | None, prompt_length: int) -> Scorer:
    """Scores for the next id by running ``model`` over the last ``context`` ids each step.

    Each step costs a pass over up to ``context`` positions. A model whose recurrent layers
    carry their state from call to call can score one new id per step instead; such a scorer
    takes the place of this one, with the same signature.
    """
    if model.n_inputs != 1 or model.n_outputs != 1:
        raise ValueError(
            f"generate needs a model with one input and one output, got {model.n_inputs} "
            f"input(s) and {model.n_outputs} output(s)"
        )
    input_shape = tuple(model.input_shapes[0]) if hasattr(model, "input_shapes") else (None,)
    if len(input_shape) != 1:
        raise ValueError(
            f"generate needs a model that reads ids (N, T), got one whose input is "
            f"(N, {', '.join(str(n) for n in input_shape)})"
        )
    fixed = input_shape[0]
    if context is None:
        context = fixed
    else:
        context = check_positive_int(context, "context")
        if fixed is not None and context != fixed:
            raise ValueError(
                f"context must be the model's input length {fixed} (it reads exactly that many "
                f"ids), got {context}"
            )
    if fixed is not None and prompt_length < fixed:
        raise ValueError(
            f"the model reads exactly {fixed} ids at a time: the prompt must have at least "
            f"{fixed} characters, got {prompt_length}"
        )
    from_logits = _ends_in_softmax(model)

    def score(ids: np.ndarray) -> np.ndarray:
        window = ids[-context:] if context is not None else ids
        batch = window[np.newaxis, :]
        outputs = model.logits(batch) if from_logits else model.predict(batch)
        if outputs.ndim != 3 or outputs.shape[-1] != size:
            raise ValueError(
                f"generate needs a model whose output is (N, T, {size}), a score per position "
                f"for each of the vocabulary's {size} characters, got {outputs.shape}"
            )
        last = outputs[0, -1].astype(np.float64)
        return last if from_logits else _log_probabilities(last)

    return score


def _ends_in_softmax(model: Network) -> bool:
    """Whether the model's output layer ends in a softmax (so ``model.logits`` exists)."""
    if getattr(model, "built", False) or model.is_graph:
        head = model.topology.nodes[model.output_nodes()[0]][0]
    else:
        head = model.layers[-1] if model.layers else None
    return getattr(head, "output_activation", None) == "softmax"


def _log_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """``log p`` for outputs that are probabilities; refuses anything else (no softmax)."""
    total = float(np.sum(probabilities))
    if np.any(probabilities < 0) or not np.isclose(total, 1.0, atol=1e-4):
        raise ValueError(
            "generate needs a model whose output is a probability per character (a softmax per "
            f"position): its last position's outputs sum to {total:.6g}"
        )
    with np.errstate(divide="ignore"):
        return np.log(probabilities)


def _stepping_scorer(model: Network, size: int, rerun: Scorer) -> Scorer:
    """Scores for the next id that feed only the ids not yet fed: one position per step.

    Past the stepper's window (its ``PositionEmbedding`` table), ``rerun``, which reads the
    last ``window`` ids, scores instead.
    """
    from_logits = _ends_in_softmax(model)
    stepper = Stepper(model, logits=from_logits)
    latest: list[np.ndarray] = []

    def score(ids: np.ndarray) -> np.ndarray:
        if stepper.window is not None and len(ids) > stepper.window:
            return rerun(ids)
        for position in range(stepper.positions, len(ids)):
            latest[:] = [stepper.step(ids[position : position + 1])]
        (outputs,) = latest
        if outputs.ndim != 2 or outputs.shape[-1] != size:
            raise ValueError(
                f"generate needs a model whose output is (N, T, {size}), a score per position "
                f"for each of the vocabulary's {size} characters, got one of {outputs.shape} "
                "per position"
            )
        last = outputs[0].astype(np.float64)
        return last if from_logits else _log_probabilities(last)

    return score
