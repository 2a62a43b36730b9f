"""``scratchnn train --text FILE`` (a character language model) and ``scratchnn generate``.

The model: ``Embedding(V, --embedding)`` over the ids, ``LSTM(--units, return_sequences=True)``
and a softmax over the ``V`` characters at every position, trained on the text cut into rows of
``--length`` characters (the targets: the same rows shifted by one character). The model file
keeps the vocabulary, so ``generate`` needs nothing but the file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..callbacks import EarlyStopping
from ..datasets import Vocabulary
from ..io import load
from ..layers import LSTM, Dense, Embedding, Input
from ..model import Model
from ..optimizers import get_optimizer
from ..text import generate
from .data import UsageError

DEFAULT_EPOCHS = 5  # a text of a megabyte is 10,000 rows of 100 characters: enough per epoch


def add_text_options(train: argparse.ArgumentParser) -> None:
    """The ``train`` options of a character model."""
    group = train.add_argument_group("text (a character language model)")
    group.add_argument(
        "--text", metavar="FILE", help="train a character LSTM on this text file (UTF-8)"
    )
    group.add_argument(
        "--length", type=_positive, default=100, help="characters per training row (BPTT steps)"
    )
    group.add_argument("--units", type=_positive, default=128, help="the LSTM's units")
    group.add_argument(
        "--embedding", type=_positive, default=32, help="the size of a character's vector"
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {value}")
    return value


def character_model(size: int, embedding: int, units: int, seed: int, dtype: str) -> Model:
    """Ids ``(N, T)`` -> ``(N, T, size)``: Embedding, LSTM(return_sequences), Dense softmax."""
    ids = Input(shape=(None,), dtype="int64", name="ids")
    states = LSTM(units, return_sequences=True)(Embedding(size, embedding)(ids))
    return Model(ids, Dense(size, "softmax")(states), seed=seed, dtype=dtype)


def rows(ids: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """The text's ids cut into ``(N, length)`` rows and their targets, each shifted by one."""
    count = (len(ids) - 1) // length
    X = ids[: count * length].reshape(count, length)
    y = ids[1 : count * length + 1].reshape(count, length)
    return X, y


def _read_text(args: argparse.Namespace) -> str:
    for clash in ("csv", "mnist", "dataset", "spec", "target_csv"):
        if getattr(args, clash, None) is not None:
            option = "a data set name" if clash == "dataset" else "--" + clash.replace("_", "-")
            raise UsageError(
                f"--text trains a character model on its file alone: leave out {option}"
            )
    path = Path(args.text)
    if not path.is_file():
        raise UsageError(f"--text: no such file {args.text!r}")
    try:
        text = path.read_text(encoding=args.encoding)
    except UnicodeDecodeError as error:
        raise UsageError(
            f"--text {args.text} is not {args.encoding} text ({error.reason} at byte "
            f"{error.start}); give its --encoding"
        ) from None
    if len(text) < 2 * args.length + 2:
        raise UsageError(
            f"--text {args.text} holds {len(text)} characters: too few for rows of --length "
            f"{args.length} (it needs at least {2 * args.length + 2}); give a smaller --length"
        )
    return text


def cmd_train_text(args: argparse.Namespace) -> int:
    """Train a character model on ``args.text``; report its loss per character and a sample."""
    text = _read_text(args)
    if not 0 <= args.validation_split < 1:
        raise UsageError(f"--validation-split must be in [0, 1), got {args.validation_split}")
    vocabulary = Vocabulary().fit(text)
    X, y = rows(vocabulary.encode(text), args.length)
    n_val = int(round(len(X) * args.validation_split))
    if n_val >= len(X):
        raise UsageError(f"--validation-split {args.validation_split} leaves no training data")
    model = character_model(len(vocabulary), args.embedding, args.units, args.seed, args.dtype)
    try:
        optimizer = get_optimizer(args.optimizer, learning_rate=args.lr, clipnorm=5.0)
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from None
    patience = args.early_stopping
    if patience == "auto":
        patience = 3 if n_val else None
    callbacks = []
    if patience is not None:
        monitor = "val_loss" if n_val else "loss"
        callbacks.append(EarlyStopping(monitor, patience=patience, restore_best_weights=True))
    cut = len(X) - n_val
    history = model.fit(
        X[:cut], y[:cut], loss="categorical_crossentropy", optimizer=optimizer,
        epochs=args.epochs or DEFAULT_EPOCHS, batch_size=args.batch_size,
        validation_data=(X[cut:], y[cut:]) if n_val else None, callbacks=callbacks,
        verbose=0 if args.quiet else 1,
    )  # fmt: skip
    model.summary()
    print(
        f"trained on {args.text}: {len(text):,} characters ({len(vocabulary)} distinct), "
        f"{cut} rows of {args.length} for training, {n_val} for validation, "
        f"{len(history.epoch)} epoch(s)"
    )
    losses = history.history
    kept = int(np.argmin(losses["val_loss"])) if n_val and callbacks else -1
    numbers = f"loss {losses['loss'][kept]:.4f}"
    if n_val:
        numbers += f", validation loss {losses['val_loss'][kept]:.4f}"
    print(f"{numbers} nats per character (uniform guessing: {np.log(len(vocabulary)):.4f})")
    sample = generate(model, text[0], 200, temperature=0.8, seed=args.seed, vocabulary=vocabulary)
    print(f"a sample at temperature 0.8:\n{sample}")
    if args.out:
        model.vocabulary = vocabulary
        model.save(args.out)
        print(f"saved model to {args.out} (with its {len(vocabulary)} characters)")
    else:
        print("model not saved: nothing was written (give --out MODEL.npz to keep it)")
    return 0


def add_generate(commands: argparse._SubParsersAction) -> None:
    """Register ``scratchnn generate`` on the subparsers of the ``scratchnn`` parser."""
    command = commands.add_parser(
        "generate",
        help="write text with a character model",
        description=(
            "Write text with a character model saved by train --text (or any model file that "
            "keeps a vocabulary): the prompt, then --length sampled characters."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    command.add_argument("model", help="a model file written by train --text --out")
    command.add_argument(
        "--prompt", help="the text to go on from (default: a line break, or the first character)"
    )
    command.add_argument(
        "--length", type=_positive, default=300, help="how many characters to write"
    )
    command.add_argument(
        "--temperature", type=_temperature, default=1.0,
        help="divides the scores before the softmax: below 1 safer, above 1 wilder",
    )  # fmt: skip
    command.add_argument(
        "--top-k", type=_positive, metavar="K", help="sample among the K likeliest characters"
    )
    command.add_argument(
        "--seed", type=int, help="the same seed writes the same text (default: a fresh one)"
    )
    command.set_defaults(handler=cmd_generate)


def _temperature(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
    if not value > 0 or not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def cmd_generate(args: argparse.Namespace) -> int:
    """Load ``args.model`` and print the prompt and the characters it writes after it."""
    if args.seed is not None and args.seed < 0:
        raise UsageError(f"--seed must be a whole number >= 0, got {args.seed}")
    model = load(args.model)
    vocabulary = getattr(model, "vocabulary", None)
    if vocabulary is None:
        raise UsageError(
            f"{args.model} keeps no vocabulary, so its ids mean no characters: generate needs a "
            "model trained with scratchnn train --text (or saved with model.vocabulary set)"
        )
    prompt = args.prompt
    if prompt is None:
        prompt = "\n" if "\n" in vocabulary else vocabulary.characters[0]
    try:
        written = generate(model, prompt, args.length, args.temperature, args.top_k, args.seed)
    except ValueError as error:
        raise UsageError(str(error)) from None
    sys.stdout.write(written if written.endswith("\n") else written + "\n")
    return 0
