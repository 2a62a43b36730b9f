"""Bit-for-bit A/B of the recurrent layers: train fixed configurations, save every array.

Run it under each version (and backend) and compare with ``ab_bitwise.py compare``::

    SCRATCHNN_BACKEND=numpy PYTHONPATH=/tmp/before/src python benchmarks/ab_recurrent.py a.npz
    SCRATCHNN_BACKEND=numpy PYTHONPATH=src python benchmarks/ab_recurrent.py b.npz
    python benchmarks/ab_bitwise.py compare a.npz b.npz

Configurations: LSTM, GRU and SimpleRNN (last state, sequences, go_backwards, dropout and
recurrent dropout, masks from ``Embedding(mask_zero=True)``, stacked, Bidirectional), float32
and float64, and two networks at the benchmark's sizes: their parameters, predictions and loss
histories after training with Adam.
"""

import sys

import numpy as np

from scratchnn import GRU, LSTM, Bidirectional, Dense, Embedding, Sequential, SimpleRNN


def train_all() -> dict:
    """Every configuration's arrays, by name."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 7, 5)).astype(np.float32)
    y = rng.normal(size=(48, 3)).astype(np.float32)
    ids = rng.integers(1, 9, size=(48, 7))
    ids[::3, 4:] = 0  # padded rows
    configs = {
        "lstm": lambda: [LSTM(6), Dense(3)],
        "lstm_seq": lambda: [LSTM(6, return_sequences=True), LSTM(4, go_backwards=True), Dense(3)],
        "lstm_drop": lambda: [LSTM(6, dropout=0.2, recurrent_dropout=0.3), Dense(3)],
        "lstm_relu": lambda: [LSTM(6, activation="relu"), Dense(3)],
        "gru": lambda: [GRU(6, return_sequences=True), GRU(5, dropout=0.1), Dense(3)],
        "rnn": lambda: [SimpleRNN(6, return_sequences=True), SimpleRNN(4), Dense(3)],
        "bi": lambda: [Bidirectional(LSTM(4)), Dense(3)],
        "lstm64": lambda: [LSTM(6), Dense(3)],
    }
    out = {}
    for name, make in configs.items():
        model = Sequential(make(), seed=3, dtype="float64" if name.endswith("64") else "float32")
        history = model.fit(x, y, loss="mse", optimizer="adam", epochs=2, batch_size=16, verbose=0)
        out[name] = model.params.copy()
        out[name + "_pred"] = model.predict(x)
        out[name + "_loss"] = np.array(history.history["loss"])
    for name, layer in {"lstm_mask": LSTM, "gru_mask": GRU, "rnn_mask": SimpleRNN}.items():
        model = Sequential([Embedding(9, 4, mask_zero=True), layer(5, return_sequences=True),
                            layer(4), Dense(3)], seed=4)  # fmt: skip
        history = model.fit(ids, y, loss="mse", optimizer="adam", epochs=2, batch_size=16,
                            verbose=0)  # fmt: skip
        out[name] = model.params.copy()
        out[name + "_pred"] = model.predict(ids)
        out[name + "_loss"] = np.array(history.history["loss"])
    # the benchmark's sizes (BLAS takes other paths for large products than for tiny ones)
    big_x = rng.normal(size=(128, 50, 64)).astype(np.float32)
    big_y = rng.integers(0, 10, 128)
    for name, make in {
        "lstm128": lambda: [LSTM(128), Dense(10, "softmax")],
        "stack128": lambda: [LSTM(64, return_sequences=True), GRU(128), Dense(10, "softmax")],
    }.items():
        model = Sequential(make(), seed=5)
        history = model.fit(big_x, big_y, loss="categorical_crossentropy", optimizer="adam",
                            epochs=1, batch_size=64, verbose=0)  # fmt: skip
        out[name] = model.params.copy()
        out[name + "_pred"] = model.predict(big_x[:16])
        out[name + "_loss"] = np.array(history.history["loss"])
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    arrays = train_all()
    np.savez(sys.argv[1], **arrays)
    print(len(arrays), "arrays")
