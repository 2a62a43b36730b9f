"""A small GPT on Shakespeare, character by character: attention written by hand in NumPy.

A decoder-only transformer (Radford et al.; Karpathy's nanoGPT) made with the functional API:
each character's id becomes a vector (``Embedding``) plus a learned vector for its position
(``PositionEmbedding``); ``layers`` blocks each let every position look at the earlier ones
(pre-norm causal self-attention, ``MultiHeadAttention(use_causal_mask=True)``) and then think
alone (a GELU MLP four times as wide), both with residual connections; a final
``LayerNormalization`` and a ``Dense`` softmax score the next character at every position.

nanoGPT's CPU setting (``train_shakespeare_char`` with ``--device=cpu``) is 4 layers, 4 heads,
128 dimensions and a context of 64 characters, batches of 12 rows, AdamW (learning rate 1e-3)
with gradients clipped to norm 1, 2000 steps. The defaults below keep that network and take
fewer steps so that it trains in a few minutes on two cores; ``benchmarks/bench_gpt.py
--compare-loss`` trains the same network in PyTorch from the same weights on the same batches:
after 600 steps both reach 2.1787 nats per character on held-out text (uniform: 4.14).

Run: python examples/gpt.py [--steps 600]   (minutes on two cores)
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from scratchnn import (
    AdamW,
    Add,
    Dense,
    Embedding,
    Input,
    LayerNormalization,
    Model,
    MultiHeadAttention,
    PositionEmbedding,
)
from scratchnn.datasets import Vocabulary, load_shakespeare
from scratchnn.text import generate

SETTINGS = {"layers": 4, "heads": 4, "width": 128, "context": 64, "batch": 12, "steps": 600,
            "learning_rate": 1e-3, "weight_decay": 0.01, "clipnorm": 1.0, "dropout": 0.0,
            "validation_rows": 200}  # fmt: skip


def build_gpt(
    vocabulary_size: int,
    context: int = 64,
    layers: int = 4,
    heads: int = 4,
    width: int = 128,
    dropout: float = 0.0,
    seed: int = 0,
    dtype: str = "float32",
) -> Model:
    """A decoder-only transformer: ids ``(N, T)``, ``T <= context``, in; ``(N, T, V)`` out.

    Layers are named by block (``block0_attention``, ``block0_mlp_in``, ...) so that a report
    per layer (``summary``, ``scratchnn.diagnostics``) reads per block too.
    """
    if isinstance(heads, int) and heads > 0 and width % heads:
        raise ValueError(
            f"width must be a multiple of heads (each head gets width // heads features), got "
            f"width={width} and heads={heads}"
        )
    ids = Input(shape=(None,), dtype="int64", name="ids")
    x = Embedding(vocabulary_size, width, name="token_embedding")(ids)
    x = PositionEmbedding(context, name="position_embedding")(x)
    for block in range(layers):
        name = f"block{block}_"
        h = LayerNormalization(epsilon=1e-5, name=name + "norm1")(x)
        h = MultiHeadAttention(heads, width // heads, dropout=dropout, name=name + "attention")(
            h, h, use_causal_mask=True
        )
        x = Add(name=name + "residual1")([x, h])
        h = LayerNormalization(epsilon=1e-5, name=name + "norm2")(x)
        h = Dense(4 * width, "gelu", name=name + "mlp_in")(h)
        h = Dense(width, name=name + "mlp_out")(h)
        x = Add(name=name + "residual2")([x, h])
    x = LayerNormalization(epsilon=1e-5, name="final_norm")(x)
    logits = Dense(vocabulary_size, "softmax", name="head")(x)
    return Model(ids, logits, seed=seed, dtype=dtype)


def data(context: int, steps: int, batch: int, validation_rows: int, seed: int = 0):
    """The vocabulary; ``steps * batch`` training rows of ``context + 1`` ids, each from a
    random place in the first 90% of the plays (nanoGPT's ``get_batch``), in the order they are
    trained on; and the first ``validation_rows`` rows of the last 10%, cut end to end."""
    text = load_shakespeare()
    vocabulary = Vocabulary().fit(text)
    ids = vocabulary.encode(text)
    cut = int(0.9 * len(ids))
    train, held_out = ids[:cut], ids[cut:]
    window = np.arange(context + 1)
    starts = np.random.default_rng(seed).integers(0, len(train) - context, steps * batch)
    count = min(validation_rows, (len(held_out) - 1) // context)
    validation = held_out[np.arange(count)[:, None] * context + window]
    return vocabulary, train[starts[:, None] + window], validation


def train(model: Model, rows: np.ndarray, settings: dict, optimizer: AdamW | None = None):
    """One pass over ``rows`` in order, ``settings["batch"]`` rows a step; returns the
    optimizer (pass it back to go on training)."""
    optimizer = optimizer or AdamW(settings["learning_rate"], weight_decay=settings["weight_decay"],
                                   clipnorm=settings["clipnorm"])  # fmt: skip
    model.fit(rows[:, :-1], rows[:, 1:], loss="categorical_crossentropy", optimizer=optimizer,
              epochs=1, batch_size=settings["batch"], shuffle=False, verbose=0)  # fmt: skip
    return optimizer


def main(seed: int = 0, verbose: int = 1, sample_length: int = 300, **overrides) -> dict:
    """Train for ``steps`` batches; returns the validation loss, the speed and a sample."""
    unknown = sorted(set(overrides) - set(SETTINGS))
    if unknown:
        raise TypeError(f"main got unknown settings {unknown}; the settings are {list(SETTINGS)}")
    settings = {**SETTINGS, **overrides}
    vocabulary, rows, validation = data(settings["context"], settings["steps"], settings["batch"],
                                        settings["validation_rows"], seed)  # fmt: skip
    model = build_gpt(len(vocabulary), settings["context"], settings["layers"], settings["heads"],
                      settings["width"], settings["dropout"], seed)  # fmt: skip
    model.vocabulary = vocabulary
    start = time.perf_counter()
    train(model, rows, settings)
    seconds = time.perf_counter() - start
    loss = model.evaluate(validation[:, :-1], validation[:, 1:])["loss"]
    start = time.perf_counter()
    sample = generate(model, "ROMEO:\n", sample_length, temperature=0.8, seed=seed)
    generation_seconds = time.perf_counter() - start
    tokens = settings["steps"] * settings["batch"] * settings["context"]
    result = {"loss": loss, "sample": sample, "seconds": seconds, "tokens_per_s": tokens / seconds,
              "generated_per_s": sample_length / generation_seconds, "model": model}  # fmt: skip
    if verbose:
        print(f"{model.params.size:,} parameters; {settings['steps']} steps of {settings['batch']} "
              f"rows of {settings['context']} characters in {seconds:.0f} s "
              f"({result['tokens_per_s']:,.0f} characters/s)")  # fmt: skip
        print(f"validation loss {loss:.4f} nats per character on {len(validation)} held-out "
              f"rows (uniform guessing: {np.log(len(vocabulary)):.4f})")  # fmt: skip
        print(f"sample ({result['generated_per_s']:,.0f} characters/s):\n{sample}")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=SETTINGS["steps"])
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    main(seed=arguments.seed, steps=arguments.steps)
