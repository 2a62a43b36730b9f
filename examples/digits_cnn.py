"""Train a small convolutional network on scikit-learn's 8x8 digits and print the test accuracy.

The same 80/20 split as ``examples/digits.py`` (the dense main job), with the digits as images
``(N, 8, 8, 1)``: two 3x3 convolutions see strokes and corners that a dense net has to learn
pixel by pixel, and reach about 0.99 where the dense net stops near 0.98.

Run: python examples/digits_cnn.py   (needs the [examples] extra: scikit-learn)
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits  # installed with scikit-learn

from scratchnn import Adam, Conv2D, Dense, Dropout, Flatten, MaxPool2D, Sequential
from scratchnn.datasets import load_digits
from scratchnn.schedules import CosineDecay


def build(seed: int = 0) -> Sequential:
    """32 and 32 3x3 filters, one 2x2 max-pool, then a softmax over the 4x4x32 features."""
    return Sequential(
        [
            Conv2D(32, 3, padding="same", activation="relu", input_shape=(8, 8, 1)),
            Conv2D(32, 3, padding="same", activation="relu"),
            MaxPool2D(2),
            Flatten(),
            Dropout(0.4),
            Dense(10, activation="softmax"),
        ],
        seed=seed,
    )


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
    # Products this small gain nothing from a second BLAS thread, and on a busy machine two
    # threads waiting on each other can make an epoch ten times slower.
    with threadpool_limits(1):
        model.fit(
            X_train,
            y_train,
            loss="categorical_crossentropy",
            optimizer=Adam(schedule),
            epochs=epochs,
            batch_size=batch_size,
            metrics=["accuracy"],
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
