"""The benchmark's contenders: each case written once per framework, on the same data.

Every ``make_*`` function returns a zero-argument callable that runs one timed unit of work (one
epoch, 5,000 tiny steps, one prediction pass). Building the model, the optimizer and the tensors
happens in ``make_*``, outside the timed call. All contenders work in float32.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

HIDDEN = (256, 128)
N_CLASSES = 10
N_FEATURES = 784
BATCH = 128
LR = 1e-3


# -- data ---------------------------------------------------------------------------------------
def mnist_like(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` samples of MNIST's shape in [0, 1], labelled by a random (learnable) teacher net."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, N_FEATURES), dtype=np.float32)
    teacher_rng = np.random.default_rng(12345)  # the same teacher for every size
    W1 = teacher_rng.normal(0, 1 / np.sqrt(N_FEATURES), (N_FEATURES, 64)).astype(np.float32)
    W2 = teacher_rng.normal(0, 1, (64, N_CLASSES)).astype(np.float32)
    hidden = np.tanh((X - 0.5) @ W1 * 4)
    y = np.argmax(hidden @ W2, axis=1).astype(np.int64)
    return X, y


XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
XOR_Y = np.array([[0], [1], [1], [0]], dtype=np.float32)
XOR_HIDDEN, XOR_LR = 16, 0.5


# -- scratchnn ----------------------------------------------------------------------------------
def scratchnn_mlp(seed: int = 0):
    from scratchnn import Adam, Dense, Sequential

    model = Sequential(
        [Dense(HIDDEN[0], "relu", input_dim=N_FEATURES), Dense(HIDDEN[1], "relu"),
         Dense(N_CLASSES, "softmax")],
        seed=seed,
    )  # fmt: skip
    return model, Adam(LR)


def on_backend(backend: str | None, run: Callable[[], None]) -> Callable[[], None]:
    """``run`` on scratchnn's kernel backend ``backend`` (None: the process's default)."""
    import scratchnn

    default = scratchnn.get_backend()

    def on() -> None:
        scratchnn.set_backend(backend or default)
        run()

    return on


def scratchnn_epoch(X: np.ndarray, y: np.ndarray, backend: str | None = None) -> Callable[[], None]:
    model, optimizer = scratchnn_mlp()

    def epoch() -> None:
        model.fit(X, y, loss="categorical_crossentropy", optimizer=optimizer, epochs=1,
                  batch_size=BATCH, shuffle=True, verbose=0)  # fmt: skip

    return on_backend(backend, epoch)


def scratchnn_xor(steps: int, backend: str | None = None) -> Callable[[], None]:
    from scratchnn import SGD, Dense, Sequential

    model = Sequential([Dense(XOR_HIDDEN, "sigmoid", input_dim=2), Dense(1, "sigmoid")], seed=0)
    optimizer = SGD(XOR_LR)

    def run() -> None:
        # Full batch of 4 for `steps` epochs: one SGD step per epoch, through the public fit.
        model.fit(XOR_X, XOR_Y, loss="binary_crossentropy", optimizer=optimizer, epochs=steps,
                  batch_size=4, verbose=0)  # fmt: skip

    return on_backend(backend, run)


def scratchnn_predict(X: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    model, optimizer = scratchnn_mlp()
    model.fit(X[:2048], y[:2048], loss="categorical_crossentropy", optimizer=optimizer,
              epochs=1, batch_size=BATCH, verbose=0)  # fmt: skip
    return lambda: model.predict(X)


def onnxruntime_predict(X: np.ndarray, y: np.ndarray, threads: int = 1) -> Callable[[], None]:
    """Case 3 in ONNX Runtime: scratchnn's trained case-1 net, exported with ``to_onnx``."""
    import onnxruntime

    from scratchnn.export import to_onnx

    model, optimizer = scratchnn_mlp()
    model.fit(X[:2048], y[:2048], loss="categorical_crossentropy", optimizer=optimizer,
              epochs=1, batch_size=BATCH, verbose=0)  # fmt: skip
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads  # the same thread count as every other contender
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        to_onnx(model).SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return lambda: session.run(["output"], {"input": X})


# -- the bare NumPy floor for case 2 ------------------------------------------------------------
def numpy_xor(steps: int) -> Callable[[], None]:
    """The XOR net as a plain NumPy loop: the least work per step, no library around it."""
    rng = np.random.default_rng(0)
    W1 = rng.normal(0, 0.5, (2, XOR_HIDDEN)).astype(np.float32)
    b1 = np.zeros(XOR_HIDDEN, np.float32)
    W2 = rng.normal(0, 0.5, (XOR_HIDDEN, 1)).astype(np.float32)
    b2 = np.zeros(1, np.float32)
    X, Y, n = XOR_X, XOR_Y, len(XOR_X)

    def run() -> None:
        nonlocal W1, b1, W2, b2
        for _ in range(steps):
            h = X @ W1 + b1
            h = 0.5 + 0.5 * np.tanh(0.5 * h)  # sigmoid
            p = 0.5 + 0.5 * np.tanh(0.5 * (h @ W2 + b2))
            grad_z2 = (p - Y) * (1.0 / n)  # binary cross-entropy through the sigmoid
            grad_z1 = (grad_z2 @ W2.T) * h * (1.0 - h)
            W2 -= XOR_LR * (h.T @ grad_z2)
            b2 -= XOR_LR * grad_z2.sum(axis=0)
            W1 -= XOR_LR * (X.T @ grad_z1)
            b1 -= XOR_LR * grad_z1.sum(axis=0)

    return run


# -- PyTorch ------------------------------------------------------------------------------------
def torch_mlp():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(N_FEATURES, HIDDEN[0]), torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN[0], HIDDEN[1]), torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN[1], N_CLASSES),
    )  # fmt: skip


def torch_epoch(X: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    import torch

    net = torch_mlp()
    optimizer = torch.optim.Adam(net.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    generator = torch.Generator().manual_seed(0)

    def epoch() -> None:
        order = torch.randperm(len(X_t), generator=generator)
        for start in range(0, len(X_t), BATCH):
            rows = order[start : start + BATCH]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(net(X_t[rows]), y_t[rows])
            loss.backward()
            optimizer.step()

    return epoch


def torch_xor(steps: int) -> Callable[[], None]:
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(2, XOR_HIDDEN), torch.nn.Sigmoid(), torch.nn.Linear(XOR_HIDDEN, 1)
    )
    optimizer = torch.optim.SGD(net.parameters(), lr=XOR_LR)
    loss_fn = torch.nn.BCEWithLogitsLoss()  # the fused sigmoid + cross-entropy
    X_t, y_t = torch.from_numpy(XOR_X), torch.from_numpy(XOR_Y)

    def run() -> None:
        for _ in range(steps):
            optimizer.zero_grad(set_to_none=True)
            loss_fn(net(X_t), y_t).backward()
            optimizer.step()

    return run


def torch_predict(X: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    import torch

    net = torch_mlp().eval()
    X_t = torch.from_numpy(X)

    def run() -> None:
        with torch.inference_mode():
            torch.softmax(net(X_t), dim=1).numpy()

    return run


# -- scikit-learn -------------------------------------------------------------------------------
def sklearn_mlp():
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(
        hidden_layer_sizes=HIDDEN, activation="relu", solver="adam", alpha=0.0,
        batch_size=BATCH, learning_rate_init=LR, shuffle=True, random_state=0,
    )  # fmt: skip


def sklearn_epoch(X: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    model = sklearn_mlp()
    classes = np.arange(N_CLASSES)

    def epoch() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.partial_fit(X, y, classes=classes)  # one shuffled pass over X in float32

    return epoch


def sklearn_predict(X: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    model = sklearn_mlp()
    model.partial_fit(X[:2048], y[:2048], classes=np.arange(N_CLASSES))
    return lambda: model.predict_proba(X)


# -- the GEMM lower bound of case 1 -------------------------------------------------------------
def gemm_shapes(n: int) -> list[tuple[tuple[int, int, int], int]]:
    """Every matrix product of one epoch as ``((m, k, n), count)``: ``(m, k) @ (k, n)``."""
    widths = (N_FEATURES, *HIDDEN, N_CLASSES)
    full, last = divmod(n, BATCH)
    counts: dict[tuple[int, int, int], int] = {}
    for rows, times in ((BATCH, full), (last, 1 if last else 0)):
        for index, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            products = [(rows, fan_in, fan_out), (fan_in, rows, fan_out)]  # forward, dL/dW
            if index > 0:
                products.append((rows, fan_out, fan_in))  # dL/dx (not needed for the input)
            for shape in products:
                counts[shape] = counts.get(shape, 0) + times
    return [(shape, count) for shape, count in counts.items() if count]


def gemm_bound(n: int, repeats: int = 200) -> dict[str, float]:
    """Seconds an epoch's products alone take in NumPy: FLOPs over the rate at each shape."""
    import time

    rng = np.random.default_rng(0)
    flops = seconds = 0.0
    for (m, k, p), count in gemm_shapes(n):
        a = rng.random((m, k), dtype=np.float32)
        b = rng.random((k, p), dtype=np.float32)
        out = np.empty((m, p), np.float32)
        for _ in range(10):
            np.matmul(a, b, out=out)
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(repeats):
                np.matmul(a, b, out=out)
            best = min(best, (time.perf_counter() - start) / repeats)
        flops += 2.0 * m * k * p * count
        seconds += best * count
    return {"gflop": flops / 1e9, "seconds": seconds, "gflops_per_s": flops / seconds / 1e9}
