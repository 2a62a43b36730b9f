"""A model with two inputs: an 8x8 digit image and a table of two numbers about it.

The image goes through a convolution, the table through a Dense layer, and ``Concatenate``
joins the two branches before the softmax. The table holds two noisy hints of the digit's
class (its label plus noise, and whether it is even), so neither input alone is as good as
both together: the fitted model beats the image-only model on the held-out digits.

Run: python examples/two_inputs.py   (needs the [examples] extra: scikit-learn)
"""

from __future__ import annotations

import numpy as np

from scratchnn import Concatenate, Conv2D, Dense, Flatten, Input, MaxPool2D, Model
from scratchnn.datasets import load_digits


def build(seed: int = 0, use_table: bool = True) -> Model:
    image = Input(shape=(8, 8, 1), name="image")
    seen = Flatten()(MaxPool2D(2)(Conv2D(8, 3, padding="same", activation="relu")(image)))
    if not use_table:
        return Model(image, Dense(10, "softmax", name="digit")(seen), seed=seed)
    table = Input(shape=(2,), name="table")
    hints = Dense(8, "relu")(table)
    joined = Concatenate()([seen, hints])
    return Model([image, table], Dense(10, "softmax", name="digit")(joined), seed=seed)


def main(seed: int = 0, epochs: int = 8, verbose: int = 1) -> dict[str, float]:
    images, labels = load_digits(as_images=True)
    rng = np.random.default_rng(seed)
    table = np.stack([labels + rng.normal(0, 1.5, len(labels)), labels % 2], axis=1) / 9.0
    order = rng.permutation(len(labels))  # an 80/20 split of the rows
    test, train = order[: len(order) // 5], order[len(order) // 5 :]
    scores = {}
    for use_table in (True, False):
        model = build(seed, use_table)
        X_train = {"image": images[train] / 16, "table": table[train]}
        X_test = {"image": images[test] / 16, "table": table[test]}
        if not use_table:
            X_train, X_test = X_train["image"], X_test["image"]
        model.fit(X_train, labels[train], epochs=epochs, batch_size=32, verbose=0)
        name = "image and table" if use_table else "image alone"
        scores[name] = model.evaluate(X_test, labels[test], metrics=["accuracy"])["accuracy"]
        if verbose:
            print(f"{name:>15}: test accuracy {scores[name]:.3f}")
    return scores


if __name__ == "__main__":
    main()
