"""A small residual CNN on scikit-learn's 8x8 digits, next to the plain CNN of digits_cnn.py.

Two residual blocks (He et al., 2016): each computes ``x + F(x)``, where ``F`` is two 3x3
convolutions. The ``Add`` merges the block's input with its output, so the gradient reaches the
block's input along two paths, through ``F`` and straight through the skip, and backpropagation
sums them (docs/how/graphs.md). The same 80/20 split, optimizer, schedule and epochs as
``examples/digits_cnn.py``.

Run: python examples/residual_digits.py   (needs the [examples] extra: scikit-learn)
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits  # installed with scikit-learn

from scratchnn import (
    Adam,
    Add,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Input,
    MaxPool2D,
    Model,
    ReLU,
)
from scratchnn.datasets import load_digits
from scratchnn.schedules import CosineDecay


def residual_block(x, filters: int):
    """``relu(x + conv(relu(conv(x))))``: the identity path keeps the input's shape."""
    h = Conv2D(filters, 3, padding="same", activation="relu")(x)
    h = Conv2D(filters, 3, padding="same")(h)
    return ReLU()(Add()([x, h]))


def build(seed: int = 0) -> Model:
    """A 3x3 stem to 16 channels, two residual blocks, a 2x2 max-pool and a softmax."""
    images = Input(shape=(8, 8, 1), name="digit")
    h = Conv2D(16, 3, padding="same", activation="relu")(images)
    h = residual_block(h, 16)
    h = residual_block(h, 16)
    h = MaxPool2D(2)(h)
    h = Dropout(0.4)(Flatten()(h))
    out = Dense(10, activation="softmax", name="digit_class")(h)
    return Model(images, out, seed=seed)


def main(seed: int = 0, verbose: int = 1) -> float:
    X, y = load_digits(as_images=True)  # (1797, 8, 8, 1), intensities 0..16
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y, test_size=0.2, random_state=seed, stratify=y
    )
    model = build(seed)
    if verbose:
        model.summary()
    epochs, batch_size = 20, 32
    schedule = CosineDecay(3e-3, decay_steps=epochs * -(-len(X_train) // batch_size))
    start = time.perf_counter()
    with threadpool_limits(1):  # products this small gain nothing from a second thread
        model.fit(
            X_train,
            y_train,
            loss="categorical_crossentropy",
            optimizer=Adam(schedule),
            epochs=epochs,
            batch_size=batch_size,
            verbose=verbose,
        )
    seconds = time.perf_counter() - start
    accuracy = float(np.mean(model.predict(X_test).argmax(axis=1) == y_test))
    if verbose:
        print(f"trained in {seconds:.1f} s on {len(X_train)} digits")
        print(f"test accuracy: {accuracy:.4f} ({len(X_test)} held-out digits)")
    return accuracy


if __name__ == "__main__":
    main()
