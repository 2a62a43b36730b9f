"""How many of 100 seeds learn XOR: the tutorial's network, then one fix at a time.

Run: python docs/scripts/xor_seeds.py   (about two minutes; prints the table in docs/tutorial.md)
     python docs/scripts/xor_seeds.py --population 30000   (the single-network failure rate)

Every variant trains the tutorial's 2-3-1 sigmoid network full-batch for 10,000 epochs. Seed ``s``
draws the initial weights with ``numpy.random.RandomState(s).randn`` (what ``np.random.seed(s)``
followed by the tutorial's ``np.random.randn`` gives) or, for the small uniform initialisation,
with ``numpy.random.default_rng(s)``. "Learned" means all four outputs on the right side of 0.5.
The 100 networks of a variant train at once as one stacked array (same arithmetic per network).
"""

from __future__ import annotations

import argparse

import numpy as np

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
Y = np.array([[0], [1], [1], [0]], dtype=float)
SEEDS = range(100)
EPOCHS = 10_000


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * np.tanh(0.5 * z) + 0.5  # equal to 1 / (1 + exp(-z)), without overflow


def initial_weights(init: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if init == "randn":  # the tutorial: unit normal weights from the global generator
        rs = np.random.RandomState(seed)
        return rs.randn(2, 3), rs.randn(3, 1)
    rng = np.random.default_rng(seed)  # Glorot-uniform range times 0.3 (scratchnn's choice)
    limit1, limit2 = 0.3 * np.sqrt(6 / 5), 0.3 * np.sqrt(6 / 4)
    return rng.uniform(-limit1, limit1, (2, 3)), rng.uniform(-limit2, limit2, (3, 1))


def count_learned(
    *, biases: bool, learning_rate: float, loss: str, init: str, seeds: range = SEEDS
) -> int:
    """Train one network per seed and count those that learn XOR."""
    pairs = [initial_weights(init, seed) for seed in seeds]
    W1 = np.stack([p[0] for p in pairs])  # (100, 2, 3)
    W2 = np.stack([p[1] for p in pairs])  # (100, 3, 1)
    b1 = np.zeros((len(seeds), 1, 3))
    b2 = np.zeros((len(seeds), 1, 1))
    for _ in range(EPOCHS):
        hidden = sigmoid(X @ W1 + b1)
        output = sigmoid(hidden @ W2 + b2)
        if loss == "squared":  # the tutorial's (y - output) * output (1 - output), summed
            delta_out = (output - Y) * output * (1 - output)
        else:  # cross-entropy through the sigmoid, averaged over the batch
            delta_out = (output - Y) / len(X)
        delta_hidden = delta_out @ W2.transpose(0, 2, 1) * hidden * (1 - hidden)
        W2 -= learning_rate * hidden.transpose(0, 2, 1) @ delta_out
        W1 -= learning_rate * X.T @ delta_hidden
        if biases:
            b2 -= learning_rate * delta_out.sum(axis=1, keepdims=True)
            b1 -= learning_rate * delta_hidden.sum(axis=1, keepdims=True)
    output = sigmoid(sigmoid(X @ W1 + b1) @ W2 + b2)
    return int(np.sum(np.all((output > 0.5) == (Y == 1), axis=(1, 2))))


VARIANTS = [
    ("the tutorial (no biases, squared error, rate 1, unit normal weights)",
     dict(biases=False, learning_rate=1.0, loss="squared", init="randn")),
    ("+ biases", dict(biases=True, learning_rate=1.0, loss="squared", init="randn")),
    ("+ biases, learning rate 3",
     dict(biases=True, learning_rate=3.0, loss="squared", init="randn")),
    ("+ biases, cross-entropy, rate 3",
     dict(biases=True, learning_rate=3.0, loss="cross_entropy", init="randn")),
    ("+ biases, cross-entropy, rate 3, small uniform weights",
     dict(biases=True, learning_rate=3.0, loss="cross_entropy", init="small_uniform")),
]  # fmt: skip


def count_learned_by_scratchnn() -> int:
    """The library's own NeuralNetwork (which also trains a twin and keeps the better)."""
    from scratchnn import NeuralNetwork

    learned = 0
    for seed in SEEDS:
        nn = NeuralNetwork(input_dim=2, hidden_dim=3, output_dim=1, seed=seed)
        nn.train(X, Y, epochs=EPOCHS)
        learned += bool(np.all((nn.forward(X) > 0.5) == (Y == 1)))
    return learned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=0, help="seeds for the failure rate")
    args = parser.parse_args()
    if args.population:
        options = VARIANTS[-1][1]
        failures = args.population - count_learned(**options, seeds=range(args.population))
        print(f"single small-uniform network: {failures} of {args.population} seeds fail")
        return
    print(f"{'variant':<68} learned XOR (of 100 seeds)")
    for name, options in VARIANTS:
        print(f"{name:<68} {count_learned(**options)}")
    print(
        f"{'scratchnn.NeuralNetwork (the above, plus the better of two starts)':<68} "
        f"{count_learned_by_scratchnn()}"
    )


if __name__ == "__main__":
    main()
