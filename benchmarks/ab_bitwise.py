"""Bit-for-bit A/B of an engine change: train fixed configurations, save every resulting array.

Run it under each version and compare (exit status 1 when any array differs)::

    PYTHONPATH=/tmp/before/src python benchmarks/ab_bitwise.py save before.npz
    PYTHONPATH=src python benchmarks/ab_bitwise.py save after.npz
    python benchmarks/ab_bitwise.py compare before.npz after.npz

Configurations: Dense stacks with MSE/Adam, softmax with dropout and a validation split (SGD),
sigmoid with an L2 kernel penalty, batch norm and sample weights (RMSprop), Huber (AdamW),
separate activation layers (Adagrad), float64, two convolutional networks on the real digits,
and both scikit-learn estimators: their parameters, predictions, loss histories and batch-norm
statistics.
"""

import sys
import warnings

import numpy as np

from scratchnn import NeuralNetwork, Sequential
from scratchnn.datasets import load_digits
from scratchnn.layers import (
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    MaxPool2D,
    ReLU,
    Reshape,
    Softmax,
)


def train_all() -> dict:
    """Every configuration's arrays, by name."""
    out = {}
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6)).astype(np.float32)
    yc = (X[:, 0] * X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    yr = X[:, :2].sum(axis=1, keepdims=True)
    yb = (X[:, 0] > 0).astype(int)
    sw = rng.uniform(0, 2, size=300)
    configs = {
        "mse_adam": (lambda: [Dense(16, "tanh"), Dense(1)], yr, dict(loss="mse", optimizer="adam")),
        "softmax": (
            lambda: [Dense(16, "relu"), Dropout(0.2), Dense(3, "softmax")],
            yc,
            dict(
                loss="categorical_crossentropy",
                optimizer="sgd",
                metrics=["accuracy"],
                validation_split=0.2,
            ),
        ),
        "sigmoid": (
            lambda: [Dense(8, "gelu", kernel_regularizer="l2"), BatchNorm(), Dense(1, "sigmoid")],
            yb,
            dict(loss="binary_crossentropy", optimizer="rmsprop", sample_weight=sw),
        ),
        "huber": (
            lambda: [Dense(8, "elu"), Dense(8, "leaky_relu"), Dense(1)],
            yr,
            dict(loss="huber", optimizer="adamw"),
        ),
        "layers": (
            lambda: [Dense(8), ReLU(), Dense(3), Softmax()],
            yc,
            dict(loss="categorical_crossentropy", optimizer="adagrad"),
        ),
        "float64": (
            lambda: [Dense(8, "sigmoid"), Dense(3, "softmax")],
            yc,
            dict(loss="categorical_crossentropy", optimizer="adam"),
        ),
    }
    for name, (make, y, kw) in configs.items():
        dtype = "float64" if name == "float64" else "float32"
        m = Sequential(make(), seed=3, dtype=dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            h = m.fit(X, y, epochs=4, batch_size=32, verbose=0, **kw)
        out[name] = m.params.copy()
        out[name + "_pred"] = m.predict(X[:50])
        out[name + "_loss"] = np.array(h.history["loss"])
        st = m.get_state()["layers"]
        for i, s in enumerate(st):
            for k, v in s.items():
                out[f"{name}_state{i}{k}"] = v
    Xi, yi = load_digits(as_images=True)
    Xi = (Xi[:256] / 16).astype(np.float32)
    yi = yi[:256]
    for name, make in {
        "cnn": lambda: [
            Conv2D(4, 3, padding="same", activation="relu"),
            MaxPool2D(2),
            Conv2D(6, 3, strides=2),
            BatchNorm(),
            GlobalAvgPool2D(),
            Dense(10, "softmax"),
        ],
        "cnn2": lambda: [
            Reshape((64,)),
            Dense(16, "relu"),
            Reshape((4, 4, 1)),
            Conv2D(3, 2),
            AvgPool2D(2),
            Flatten(),
            Dropout(0.1),
            Dense(10, "softmax"),
        ],
    }.items():
        m = Sequential(make(), seed=1)
        m.fit(Xi, yi, loss="categorical_crossentropy", epochs=2, batch_size=32, verbose=0)
        out[name] = m.params.copy()
        out[name + "_pred"] = m.predict(Xi[:20])
    try:
        from scratchnn.sklearn import NeuralNetClassifier, NeuralNetRegressor

        c = NeuralNetClassifier(
            hidden_layer_sizes=(8,), max_iter=5, random_state=0, batch_size=32
        ).fit(X, yc)
        out["sk_clf"] = c.predict_proba(X)
        r = NeuralNetRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(
            X, yr.ravel()
        )
        out["sk_reg"] = r.predict(X)
    except ImportError as error:
        print("no scikit-learn: the estimators are left out", error)
    tutorial = NeuralNetwork(input_dim=2, hidden_dim=3, output_dim=1, seed=5)
    xor = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    tutorial.train(xor, np.array([[0], [1], [1], [0]]), epochs=500)
    out["tutorial"] = tutorial.forward(xor)
    return out


def compare(before: str, after: str) -> int:
    a, b = np.load(before), np.load(after)
    differ = [k for k in a.files if k not in b.files or a[k].shape != b[k].shape
              or not np.array_equal(a[k], b[k])]  # fmt: skip
    for name in differ:
        print("differs:", name)
    print(f"{len(a.files)} arrays compared, {len(differ)} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["save"]:
        arrays = train_all()
        np.savez(sys.argv[2], **arrays)
        print(len(arrays), "arrays")
    elif sys.argv[1:2] == ["compare"]:
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(__doc__)
