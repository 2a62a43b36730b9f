"""Recurrent networks, scratchnn against PyTorch (CPU, eager), on one machine.

Run from the repository root (the ``bench`` extra installs PyTorch and threadpoolctl)::

    python benchmarks/bench_rnn.py [--quick] [--rounds 5] [--cases lstm_epoch] [--json out.json]

``scratchnn`` runs on the process's kernel backend (numba when installed; ``SCRATCHNN_BACKEND``
chooses), ``scratchnn-numpy`` on the NumPy reference kernels (case 1 only); the header line
names the backend. On a shared machine run with one thread
(``OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1``): with two BLAS threads and other jobs running,
a thread waiting for its partner slows NumPy's small per-step products many times over, which
measures the load, not the code.

Cases, each timed in interleaved rounds (ours, PyTorch's, ours, ...) after an untimed warm-up
round, with PyTorch's ``set_num_threads`` set to NumPy's BLAS threads; the ratio reported is
the median over rounds of (our time / PyTorch's time) in the same round, so a machine that
slows down for a while slows both sides of a ratio:

1. ``lstm_epoch``: LSTM(128) over sequences of 50 steps of 64 features, its last state into a
   Dense softmax over 10 classes, cross-entropy, Adam (1e-3), batch 64, shuffled: one epoch of
   6,400 sequences, float32. Target: at most 1.0 x PyTorch's time. What bounds it (one thread,
   per batch of 64): the matrix products alone (``x W`` once, ``h U`` and ``dh U^T`` at each of
   the 50 steps, ``dW`` and ``dU`` once) take about 14.5 ms of NumPy's OpenBLAS, which packs
   ``U`` again at every step's small product, against PyTorch's whole step of about 20 ms; the
   element-wise gate work on the numba backend adds about 8 ms. ``fit``'s closing check that
   every training row's output is finite adds an inference pass over all 6,400 sequences to
   each epoch (about a quarter of it). See docs/performance.md, "LSTM epoch".
2. ``char_train``: the character model of ``examples/char_lm.py`` (Embedding(63, 32),
   LSTM(128, return_sequences=True), Dense softmax per position), Adam, batches of 32 rows of
   100 characters: training characters (tokens) per second.
3. ``char_generate``: the same model writing 200 characters one at a time, the state carried
   from step to step (``scratchnn.text.generate``; PyTorch: ``nn.LSTM`` called on one
   character with its ``(h, c)`` and ``torch.multinomial``): characters per second.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Callable

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import available, blas_threads, interleaved, machine_info  # noqa: E402
from contenders import on_backend  # noqa: E402

BATCH, LR, CLASSES, STEPS, FEATURES, UNITS = 64, 1e-3, 10, 50, 64, 128
VOCAB, EMBED, ROW, CHAR_BATCH, GENERATED = 63, 32, 100, 32, 200


def sequences_like(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` sequences ``(n, 50, 64)`` of noise whose label shifts one feature's mean."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, STEPS, FEATURES), dtype=np.float32)
    y = rng.integers(0, CLASSES, n)
    X[np.arange(n), :, y] += 0.5
    return X, y.astype(np.int64)


def text_like(rows: int, seed: int = 0) -> np.ndarray:
    """``rows`` rows of ``ROW + 1`` character ids (inputs and, shifted, targets)."""
    return np.random.default_rng(seed).integers(0, VOCAB, (rows, ROW + 1)).astype(np.int64)


# -- scratchnn ----------------------------------------------------------------------------------
def scratchnn_lstm_epoch(
    X: np.ndarray, y: np.ndarray, backend: str | None = None
) -> Callable[[], None]:
    from scratchnn import LSTM, Adam, Dense, Sequential

    model = Sequential([LSTM(UNITS, input_shape=(STEPS, FEATURES)), Dense(CLASSES, "softmax")],
                       seed=0)  # fmt: skip
    optimizer = Adam(LR)

    def epoch() -> None:
        model.fit(X, y, loss="categorical_crossentropy", optimizer=optimizer, epochs=1,
                  batch_size=BATCH, shuffle=True, verbose=0)  # fmt: skip

    return on_backend(backend, epoch)


def scratchnn_char_model():
    from scratchnn import LSTM, Dense, Embedding, Input, Model

    ids = Input(shape=(None,), dtype="int64")
    states = LSTM(UNITS, return_sequences=True)(Embedding(VOCAB, EMBED)(ids))
    return Model(ids, Dense(VOCAB, "softmax")(states), seed=0)


def scratchnn_char_train(rows: np.ndarray) -> Callable[[], None]:
    from scratchnn import Adam

    model, optimizer = scratchnn_char_model(), Adam(LR)

    def epoch() -> None:
        model.fit(rows[:, :-1], rows[:, 1:], loss="categorical_crossentropy",
                  optimizer=optimizer, batch_size=CHAR_BATCH, verbose=0)  # fmt: skip

    return epoch


def scratchnn_char_generate(length: int) -> Callable[[], None]:
    from scratchnn.datasets import Vocabulary
    from scratchnn.text import generate

    model = scratchnn_char_model()
    vocabulary = Vocabulary("".join(chr(33 + i) for i in range(VOCAB)))
    seeds = iter(range(10**6))
    return lambda: generate(model, "A", length, 0.8, seed=next(seeds), vocabulary=vocabulary)


# -- PyTorch ------------------------------------------------------------------------------------
def torch_lstm_epoch(X: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    import torch

    torch.manual_seed(0)
    lstm, head = torch.nn.LSTM(FEATURES, UNITS, batch_first=True), torch.nn.Linear(UNITS, CLASSES)
    optimizer = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    generator = torch.Generator().manual_seed(0)

    def epoch() -> None:
        order = torch.randperm(len(X_t), generator=generator)
        for start in range(0, len(X_t), BATCH):
            rows = order[start : start + BATCH]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(head(lstm(X_t[rows])[0][:, -1]), y_t[rows]).backward()
            optimizer.step()

    return epoch


def torch_char_model():
    import torch

    torch.manual_seed(0)
    return (torch.nn.Embedding(VOCAB, EMBED), torch.nn.LSTM(EMBED, UNITS, batch_first=True),
            torch.nn.Linear(UNITS, VOCAB))  # fmt: skip


def torch_char_train(rows: np.ndarray) -> Callable[[], None]:
    import torch

    embed, lstm, head = torch_char_model()
    params = [*embed.parameters(), *lstm.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(params, lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    data = torch.from_numpy(rows)

    def epoch() -> None:
        order = torch.randperm(len(data))
        for start in range(0, len(data), CHAR_BATCH):
            batch = data[order[start : start + CHAR_BATCH]]
            optimizer.zero_grad(set_to_none=True)
            logits = head(lstm(embed(batch[:, :-1]))[0])
            loss_fn(logits.reshape(-1, VOCAB), batch[:, 1:].reshape(-1)).backward()
            optimizer.step()

    return epoch


def torch_char_generate(length: int) -> Callable[[], None]:
    import torch

    embed, lstm, head = torch_char_model()
    generator = torch.Generator().manual_seed(0)

    def run() -> None:
        with torch.inference_mode():
            x, state, out = torch.tensor([[0]]), None, []
            for _ in range(length):
                h, state = lstm(embed(x), state)
                probabilities = torch.softmax(head(h[:, -1]) / 0.8, dim=-1)
                x = torch.multinomial(probabilities, 1, generator=generator)
                out.append(int(x))

    return run


# -- cases --------------------------------------------------------------------------------------
def summary(times: dict[str, list[float]], per: float) -> dict[str, dict]:
    """Each contender's median seconds, its rate (``per`` items / median) and the median of the
    per-round ratios of its time to PyTorch's."""
    result = {}
    for name, values in times.items():
        ratios = None
        if "torch" in times:
            ratios = [ours / theirs for ours, theirs in zip(values, times["torch"], strict=True)]
        median = statistics.median(values)
        ratio = statistics.median(ratios) if ratios else None
        result[name] = {"median": median, "all": values, "per_s": per / median,
                        "ratio_to_torch": ratio}  # fmt: skip
    return result


CASES = ("lstm_epoch", "char_train", "char_generate")


def run_cases(
    names: list[str], n: int, char_rows: int, length: int, rounds: int,
    cases: tuple[str, ...] = CASES,
) -> dict:  # fmt: skip
    X, y = sequences_like(n)
    rows = text_like(char_rows)
    lstm_numpy = lambda X, y: scratchnn_lstm_epoch(X, y, "numpy")  # noqa: E731
    makers = {
        "lstm_epoch": ({"scratchnn": scratchnn_lstm_epoch, "scratchnn-numpy": lstm_numpy,
                        "torch": torch_lstm_epoch}, (X, y), n),
        "char_train": ({"scratchnn": scratchnn_char_train, "torch": torch_char_train}, (rows,),
                       char_rows * ROW),
        "char_generate": ({"scratchnn": scratchnn_char_generate, "torch": torch_char_generate},
                          (length,), length),
    }  # fmt: skip
    results: dict = {"machine": machine_info(), "n": n, "char_rows": char_rows, "length": length}
    for case, (contenders, args, per) in makers.items():
        if case not in cases:
            continue
        runs = {name: contenders[name](*args) for name in names if name in contenders}
        results[case] = summary(interleaved(runs, rounds), per)
    return results


def print_table(results: dict) -> None:
    units = {"lstm_epoch": "sequences/s", "char_train": "characters/s",
             "char_generate": "characters/s"}  # fmt: skip
    backend = results["machine"].get("scratchnn", {}).get("backend")
    print(f"# {results['machine'].get('cpu')}, {results.get('threads')} thread(s), "
          f"scratchnn's kernels: {backend}")  # fmt: skip
    for case in units:
        if case not in results:
            continue
        print(f"{case}:")
        for name, entry in results[case].items():
            ratio = entry["ratio_to_torch"]
            ratio_text = f"  {ratio:.2f}x torch's time" if ratio else ""
            print(f"  {name:10s} {entry['median']:.3f} s  {entry['per_s']:,.0f} "
                  f"{units[case]}{ratio_text}")  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--quick", action="store_true", help="a tenth of the work, 1 round")
    parser.add_argument("--contenders", default="scratchnn,scratchnn-numpy,torch")
    parser.add_argument("--cases", default=",".join(CASES), help="a comma-separated subset")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    n, char_rows, length = (640, 32, 50) if args.quick else (6400, 320, GENERATED)
    rounds = 1 if args.quick else args.rounds
    names = available([name.strip() for name in args.contenders.split(",") if name.strip()])
    if "torch" in names:
        import torch

        torch.set_num_threads(blas_threads())
    cases = tuple(case.strip() for case in args.cases.split(",") if case.strip())
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        parser.error(f"--cases takes {', '.join(CASES)}, got {', '.join(unknown)}")
    results = run_cases(names, n, char_rows, length, rounds, cases)
    results["threads"] = blas_threads()
    print_table(results)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)
    return results


if __name__ == "__main__":
    main()
