"""Train a network on scikit-learn's 8x8 handwritten digits and print the test accuracy.

Run: python examples/digits.py   (needs the [examples] extra: scikit-learn, tqdm)
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from scratchnn import Adam, Dense, Dropout, Sequential
from scratchnn.schedules import CosineDecay


def main(seed: int = 0) -> float:
    digits = load_digits()
    X = digits.data / 16.0  # pixel intensities 0..16 -> 0..1
    X_train, X_test, y_train, y_test = train_test_split(
        X, digits.target, test_size=0.2, random_state=seed, stratify=digits.target
    )
    model = Sequential(
        [Dense(256, activation="relu"), Dropout(0.25), Dense(10, activation="softmax")],
        seed=seed,
    )
    epochs, batch_size = 60, 32
    # The step size falls from 3e-3 to 0 along a half cosine over the whole run.
    schedule = CosineDecay(3e-3, decay_steps=epochs * -(-len(X_train) // batch_size))
    start = time.perf_counter()
    model.fit(
        X_train,
        y_train,
        loss="categorical_crossentropy",
        optimizer=Adam(schedule),
        epochs=epochs,
        batch_size=batch_size,
        metrics=["accuracy"],
        verbose=1,
    )
    seconds = time.perf_counter() - start
    accuracy = float(np.mean(model.predict(X_test).argmax(axis=1) == y_test))
    print(f"trained in {seconds:.1f} s on {len(X_train)} digits")
    print(f"test accuracy: {accuracy:.4f} ({len(X_test)} held-out digits)")
    return accuracy


if __name__ == "__main__":
    main()
