"""A character language model on Shakespeare: Embedding, LSTM, softmax per position.

Karpathy's char-rnn in scratchnn's layers: each character's id becomes a vector
(``Embedding``), an ``LSTM(return_sequences=True)`` reads them in order, and a ``Dense``
softmax at every position scores the next character. Trained with Adam on rows of the bundled
plays (``scratchnn.datasets.load_shakespeare``), it reports the validation loss in nats per
character and writes a sample. Where PyTorch is installed, the same network (the same initial
weights, copied over: ``nn.Embedding``, ``nn.LSTM`` whose gates i, f, g, o are Keras's i, f, c, o,
``nn.Linear``), the same batches, Adam and gradient clipping train alongside for the same
steps, and its validation loss is reported next to ours: 2.1649 and 2.1651 nats per character
in one run of the default settings (the two differ only in float32 rounding).

Graphs take integer ids: the model is made with ``Input(shape=(None,), dtype="int64")`` (any
length) rather than ``Sequential``, whose inputs are floats.

Run: python examples/char_lm.py   (a few minutes; PyTorch optional: the [bench] extra)
"""

from __future__ import annotations

import time

import numpy as np

from scratchnn import LSTM, Adam, Dense, Embedding, Input, Model
from scratchnn.datasets import Vocabulary, load_shakespeare
from scratchnn.text import generate

SETTINGS = {"steps": 400, "length": 64, "batch": 32, "embedding": 32, "units": 128,
            "learning_rate": 3e-3, "clipnorm": 5.0, "validation_rows": 400}  # fmt: skip


def data(length: int) -> tuple[Vocabulary, np.ndarray, np.ndarray]:
    """The vocabulary, and the plays' ids cut into rows of ``length + 1``: the first 90% of
    the text for training, the last 10% for validation."""
    text = load_shakespeare()
    vocabulary = Vocabulary().fit(text)
    ids = vocabulary.encode(text)
    cut = int(0.9 * len(ids))

    def cut_rows(part: np.ndarray) -> np.ndarray:
        count = (len(part) - 1) // length
        starts = np.arange(count) * length
        return part[starts[:, None] + np.arange(length + 1)]

    return vocabulary, cut_rows(ids[:cut]), cut_rows(ids[cut:])


def build(size: int, embedding: int, units: int, seed: int) -> Model:
    ids = Input(shape=(None,), dtype="int64")
    states = LSTM(units, return_sequences=True)(Embedding(size, embedding)(ids))
    return Model(ids, Dense(size, "softmax")(states), seed=seed)


def torch_loss(model: Model, train: np.ndarray, validation: np.ndarray, settings: dict) -> float:
    """PyTorch's validation loss for the same network, weights, batches and optimizer."""
    import torch

    embedding, lstm, dense = model.topology.layers
    size, width = embedding.params["embeddings"].shape
    units = lstm.units

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = torch.nn.Embedding(size, width)
            self.lstm = torch.nn.LSTM(width, units, batch_first=True)
            self.out = torch.nn.Linear(units, size)

        def forward(self, ids):
            return self.out(self.lstm(self.embedding(ids))[0])

    net = Net()
    with torch.no_grad():
        net.embedding.weight.copy_(torch.from_numpy(embedding.params["embeddings"]))
        net.lstm.weight_ih_l0.copy_(torch.from_numpy(lstm.params["W"].T.copy()))
        net.lstm.weight_hh_l0.copy_(torch.from_numpy(lstm.params["U"].T.copy()))
        net.lstm.bias_ih_l0.copy_(torch.from_numpy(lstm.params["b"]))
        net.lstm.bias_hh_l0.zero_()  # our LSTM has one bias: PyTorch's second stays 0
        net.out.weight.copy_(torch.from_numpy(dense.params["W"].T.copy()))
        net.out.bias.copy_(torch.from_numpy(dense.params["b"]))
    net.lstm.bias_hh_l0.requires_grad_(False)  # (trained, it would double the bias's steps)
    trained = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trained, lr=settings["learning_rate"], eps=1e-8)
    criterion = torch.nn.CrossEntropyLoss()
    batch = settings["batch"]
    for step in range(settings["steps"]):
        rows = torch.from_numpy(train[step * batch : (step + 1) * batch])
        optimizer.zero_grad()
        logits = net(rows[:, :-1])
        loss = criterion(logits.reshape(-1, size), rows[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, settings["clipnorm"])
        optimizer.step()
    with torch.no_grad():
        rows = torch.from_numpy(validation)
        logits = net(rows[:, :-1])
        return float(criterion(logits.reshape(-1, size), rows[:, 1:].reshape(-1)))


def main(seed: int = 0, verbose: int = 1, with_torch: bool = True, **overrides) -> dict:
    """Train for ``steps`` batches; returns the validation losses (ours, PyTorch's) and a sample."""
    settings = {**SETTINGS, **overrides}
    vocabulary, train, validation = data(settings["length"])
    if settings["steps"] * settings["batch"] > len(train):
        raise ValueError(
            f"steps * batch must be at most the {len(train)} training rows (one pass, each row "
            f"once), got {settings['steps']} * {settings['batch']}"
        )
    order = np.random.default_rng(seed).permutation(len(train))
    train = train[order][: settings["steps"] * settings["batch"]]  # the batches, in order
    validation = validation[: settings["validation_rows"]]
    model = build(len(vocabulary), settings["embedding"], settings["units"], seed)
    start = time.perf_counter()
    # torch first: it starts from the weights as they are now
    theirs = torch_loss(model, train, validation, settings) if with_torch and _has_torch() else None
    torch_seconds = time.perf_counter() - start
    start = time.perf_counter()
    optimizer = Adam(settings["learning_rate"], clipnorm=settings["clipnorm"])
    model.fit(train[:, :-1], train[:, 1:], loss="categorical_crossentropy", optimizer=optimizer,
              epochs=1, batch_size=settings["batch"], shuffle=False, verbose=0)  # fmt: skip
    seconds = time.perf_counter() - start
    ours = model.evaluate(validation[:, :-1], validation[:, 1:])["loss"]
    sample = generate(model, "ROMEO:\n", 200, temperature=0.8, seed=seed, vocabulary=vocabulary)
    if verbose:
        tokens = settings["steps"] * settings["batch"] * settings["length"]
        print(f"{settings['steps']} steps of {settings['batch']} rows of {settings['length']} "
              f"characters; validation on {len(validation)} held-out rows")  # fmt: skip
        print(f"scratchnn validation loss {ours:.4f} nats per character "
              f"({seconds:.1f} s, {tokens / seconds:,.0f} characters/s)")  # fmt: skip
        if theirs is not None:
            print(f"PyTorch   validation loss {theirs:.4f} nats per character "
                  f"({torch_seconds:.1f} s); difference {ours - theirs:+.4f}")  # fmt: skip
        print(f"uniform guessing: {np.log(len(vocabulary)):.4f}\nsample:\n{sample}")
    return {"loss": ours, "torch_loss": theirs, "sample": sample}


def _has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
