"""The 8x8 digits read row by row: an LSTM over 8 steps of 8 pixels, and its test accuracy.

Each image becomes a sequence: row ``t`` (8 intensities) is step ``t``'s input. An
``LSTM(64)`` reads the 8 rows top to bottom and its last state goes to a softmax over the ten
digits; it never sees the image as a whole, only one row at a time and what it has kept. The
split is that of ``examples/digits.py`` (80/20, stratified). Where PyTorch is installed, the same
model (the same initial weights, ``nn.LSTM`` and ``nn.Linear``), the same batches and Adam train
alongside, and both accuracies are printed.

Run: python examples/digits_rows.py   (needs the [examples] extra: scikit-learn; PyTorch optional)
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.model_selection import train_test_split

from scratchnn import LSTM, Adam, Dense, Sequential
from scratchnn.datasets import load_digits


def build(units: int, seed: int) -> Sequential:
    return Sequential([LSTM(units, input_shape=(8, 8)), Dense(10, "softmax")], seed=seed)


def torch_accuracy(model, X_train, y_train, X_test, y_test, epochs, batch, order, lr) -> float:
    """PyTorch's accuracy for the same model, weights, batches and optimizer."""
    import torch

    lstm, dense = model.layers
    net_lstm = torch.nn.LSTM(8, lstm.units, batch_first=True)
    head = torch.nn.Linear(lstm.units, 10)
    with torch.no_grad():
        net_lstm.weight_ih_l0.copy_(torch.from_numpy(lstm.params["W"].T.copy()))
        net_lstm.weight_hh_l0.copy_(torch.from_numpy(lstm.params["U"].T.copy()))
        net_lstm.bias_ih_l0.copy_(torch.from_numpy(lstm.params["b"]))
        net_lstm.bias_hh_l0.zero_()
        head.weight.copy_(torch.from_numpy(dense.params["W"].T.copy()))
        head.bias.copy_(torch.from_numpy(dense.params["b"]))
    net_lstm.bias_hh_l0.requires_grad_(False)  # one bias, as ours
    trained = [p for p in [*net_lstm.parameters(), *head.parameters()] if p.requires_grad]
    optimizer = torch.optim.Adam(trained, lr=lr)
    X, y = torch.from_numpy(X_train), torch.from_numpy(y_train.astype(np.int64))
    for epoch in range(epochs):
        for start in range(0, len(X), batch):
            rows = torch.from_numpy(order[epoch][start : start + batch])
            optimizer.zero_grad()
            logits = head(net_lstm(X[rows])[0][:, -1])
            torch.nn.functional.cross_entropy(logits, y[rows]).backward()
            optimizer.step()
    with torch.no_grad():
        logits = head(net_lstm(torch.from_numpy(X_test))[0][:, -1])
    return float((logits.argmax(1).numpy() == y_test).mean())


def main(seed: int = 0, verbose: int = 1, epochs: int = 30, units: int = 64,
         with_torch: bool = True) -> dict:  # fmt: skip
    X, y = load_digits(as_images=True)  # (1797, 8, 8, 1), intensities 0..16
    X = (X[..., 0] / 16.0).astype(np.float32)  # (N, 8 rows = steps, 8 pixels = features)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=seed, stratify=y
    )
    model = build(units, seed)
    batch, lr = 32, 1e-2
    rng = np.random.default_rng(seed)
    order = [rng.permutation(len(X_train)) for _ in range(epochs)]  # every epoch's batches
    theirs = None
    if with_torch and _has_torch():
        theirs = torch_accuracy(model, X_train, y_train, X_test, y_test, epochs, batch, order, lr)
    start = time.perf_counter()
    optimizer = Adam(lr)
    for epoch in range(epochs):  # our fit over the same batches: one epoch per order
        rows = order[epoch]
        model.fit(X_train[rows], y_train[rows], loss="categorical_crossentropy",
                  optimizer=optimizer, batch_size=batch, shuffle=False, verbose=0)  # fmt: skip
    seconds = time.perf_counter() - start
    ours = float(np.mean(model.predict(X_test).argmax(axis=1) == y_test))
    if verbose:
        print(f"LSTM({units}) over 8 rows of 8 pixels, {epochs} epochs in {seconds:.1f} s")
        print(f"scratchnn test accuracy {ours:.4f} ({len(X_test)} held-out digits)")
        if theirs is not None:
            print(f"PyTorch   test accuracy {theirs:.4f}")
    return {"accuracy": ours, "torch_accuracy": theirs}


def _has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
