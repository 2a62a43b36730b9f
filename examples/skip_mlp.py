"""An MLP with skip connections on a 5-arm spiral, next to the same MLP without them.

Each hidden block adds its input to its output (``x + relu(x W + b)``), so a deep stack of
narrow layers trains where the plain stack of the same depth barely moves: the skip carries the
gradient past every block. Both nets have the same layers, initialisation and optimizer.

Run: python examples/skip_mlp.py
"""

from __future__ import annotations

from scratchnn import Add, Dense, Input, Model
from scratchnn.datasets import make_spirals, train_test_split


def build(depth: int, skip: bool, seed: int = 0) -> Model:
    """``depth`` Dense(32, tanh) blocks, each with a skip connection when ``skip``."""
    x = Input(shape=(2,), name="point")
    h = Dense(32, "tanh")(x)
    for _ in range(depth):
        block = Dense(32, "tanh")(h)
        h = Add()([h, block]) if skip else block
    return Model(x, Dense(5, "softmax", name="arm")(h), seed=seed)


def main(depth: int = 12, epochs: int = 60, seed: int = 0, verbose: int = 1) -> dict[str, float]:
    X, y = make_spirals(n_samples=1000, n_arms=5, noise=0.1, seed=seed)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=seed)
    scores = {}
    for skip in (True, False):
        model = build(depth, skip, seed)
        model.fit(X_train, y_train, loss="categorical_crossentropy", optimizer="sgd",
                  epochs=epochs, batch_size=32, verbose=0)  # fmt: skip
        name = "with skips" if skip else "plain"
        scores[name] = model.evaluate(X_test, y_test, metrics=["accuracy"])["accuracy"]
        if verbose:
            print(f"{depth} blocks {name:>10}: test accuracy {scores[name]:.3f}")
    return scores


if __name__ == "__main__":
    main()
