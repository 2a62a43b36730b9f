"""A small GPT (examples/gpt.py), scratchnn against PyTorch (CPU, eager), on one machine.

Run from the repository root (the ``bench`` extra installs PyTorch and threadpoolctl)::

    python benchmarks/bench_gpt.py [--quick] [--rounds 5] [--json results.json]
    python benchmarks/bench_gpt.py --compare-loss [--steps 600]

The network is ``examples/gpt.py``'s ``build_gpt`` (nanoGPT's CPU setting: 4 layers, 4 heads,
128 dimensions, context 64; batches of 12 rows). PyTorch's twin is written with plain tensor
operations and ``scaled_dot_product_attention(is_causal=True)``, its parameters copied from
ours (the same initial weights, in our layouts). Both train with AdamW (the same learning rate,
weight decay, betas and epsilon, decay on every parameter) and gradient clipping by global
norm (``clipnorm``; ``clip_grad_norm_``), on the same batches in the same order.

Cases, each timed in interleaved rounds (ours, PyTorch's, ours, ...) after an untimed warm-up
round, with PyTorch's ``set_num_threads`` set to NumPy's BLAS threads; the ratio reported is
the median over rounds of (our time / PyTorch's time) in the same round:

1. ``gpt_train``: ``--steps-per-round`` training steps: training characters (tokens) per second.
2. ``gpt_generate``: 63 characters (the context less one) written after a one-character
   prompt, one at a time, each attending to the cached keys and values of the earlier ones
   (``scratchnn.text.generate``; PyTorch: a key/value cache loop of the same arithmetic and
   ``torch.multinomial``).

``--compare-loss`` trains both for ``--steps`` steps and reports their validation losses per
character (the same held-out rows) and a sample of each.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "examples"))
from bench import available, blas_threads, interleaved, machine_info  # noqa: E402
from gpt import SETTINGS, build_gpt, data, train  # noqa: E402


# -- PyTorch's twin -----------------------------------------------------------------------------
def torch_gpt(model, settings: dict):
    """PyTorch's GPT with ``model``'s weights copied (float32), and the parameters to train."""
    import torch
    import torch.nn.functional as F  # noqa: N812 - PyTorch's own name

    layers = {layer.name: layer for layer in model.topology.layers}
    blocks, heads = settings["layers"], settings["heads"]
    width = settings["width"]
    params = {
        f"{name}.{key}": torch.nn.Parameter(torch.from_numpy(np.array(value, dtype=np.float32)))
        for name, layer in layers.items()
        for key, value in layer.params.items()
    }

    def norm(x, name):
        return F.layer_norm(x, (width,), params[f"{name}.gamma"], params[f"{name}.beta"], 1e-5)

    def dense(x, name):
        return x @ params[f"{name}.W"] + params[f"{name}.b"]

    def project(x, name, block):
        """``x W + b`` for ``W (D, H, d)``: ``(N, H, T, d)``."""
        W, b = params[f"block{block}_attention.W{name}"], params[f"block{block}_attention.b{name}"]
        out = x @ W.reshape(width, -1) + b.reshape(-1)
        return out.view(x.shape[0], x.shape[1], heads, -1).transpose(1, 2)

    def attend_out(o, block):
        Wo, bo = params[f"block{block}_attention.Wo"], params[f"block{block}_attention.bo"]
        o = o.transpose(1, 2).reshape(o.shape[0], o.shape[2], -1)
        return o @ Wo.reshape(-1, width) + bo

    def mlp(x, block):
        h = dense(norm(x, f"block{block}_norm2"), f"block{block}_mlp_in")
        h = F.gelu(h, approximate="tanh")
        return x + dense(h, f"block{block}_mlp_out")

    def embed(ids, start=0):
        positions = params["position_embedding.embeddings"][start : start + ids.shape[1]]
        return params["token_embedding.embeddings"][ids] + positions

    def forward(ids):
        """Logits ``(N, T, V)`` for ids ``(N, T)``."""
        x = embed(ids)
        for block in range(blocks):
            h = norm(x, f"block{block}_norm1")
            q, k, v = (project(h, name, block) for name in "qkv")
            x = x + attend_out(F.scaled_dot_product_attention(q, k, v, is_causal=True), block)
            x = mlp(x, block)
        return dense(norm(x, "final_norm"), "head")

    def step(ids, position, cache):
        """Logits ``(N, V)`` at ``position`` for ids ``(N, 1)``; ``cache`` (a list per block of
        keys and values) grows by this position."""
        x = embed(ids, position)
        for block in range(blocks):
            h = norm(x, f"block{block}_norm1")
            q, k, v = (project(h, name, block) for name in "qkv")
            if cache[block] is not None:
                k = torch.cat([cache[block][0], k], dim=2)
                v = torch.cat([cache[block][1], v], dim=2)
            cache[block] = (k, v)
            weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
            x = x + attend_out(weights @ v, block)
            x = mlp(x, block)
        return dense(norm(x, "final_norm"), "head")[:, -1]

    return forward, step, list(params.values())


def torch_trainer(model, rows: np.ndarray, settings: dict):
    """``(train_steps(count), forward, step)``: ``train_steps`` trains on the next ``count``
    batches of ``rows`` (cycling), as ours does."""
    import torch

    forward, step, params = torch_gpt(model, settings)
    optimizer = torch.optim.AdamW(params, lr=settings["learning_rate"], betas=(0.9, 0.999),
                                  eps=1e-8, weight_decay=settings["weight_decay"])  # fmt: skip
    loss_fn = torch.nn.CrossEntropyLoss()
    data_t, batch, position = torch.from_numpy(rows), settings["batch"], [0]

    def train_steps(count: int) -> None:
        for _ in range(count):
            start = position[0] % len(data_t)
            position[0] = start + batch
            chunk = data_t[start : start + batch]
            optimizer.zero_grad(set_to_none=True)
            logits = forward(chunk[:, :-1])
            loss_fn(logits.reshape(-1, logits.shape[-1]), chunk[:, 1:].reshape(-1)).backward()
            torch.nn.utils.clip_grad_norm_(params, settings["clipnorm"])
            optimizer.step()

    return train_steps, forward, step


def torch_generate(step, prompt: list[int], length: int, blocks: int, seed: int) -> list[int]:
    """``length`` ids sampled after ``prompt`` at temperature 0.8, with a key/value cache."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.inference_mode():
        cache, out = [None] * blocks, []
        for position, first in enumerate(prompt[:-1]):  # the prompt fills the cache
            step(torch.tensor([[first]]), position, cache)
        x = torch.tensor([[prompt[-1]]])
        for position in range(len(prompt) - 1, len(prompt) - 1 + length):
            probabilities = torch.softmax(step(x, position, cache) / 0.8, dim=-1)
            x = torch.multinomial(probabilities, 1, generator=generator)
            out.append(int(x))
    return out


# -- cases --------------------------------------------------------------------------------------
def scratchnn_runs(settings: dict, rows: np.ndarray, vocabulary, steps_per_round: int):
    from scratchnn.text import generate

    model = build_gpt(len(vocabulary), settings["context"], settings["layers"],
                      settings["heads"], settings["width"], seed=0)  # fmt: skip
    model.vocabulary = vocabulary
    optimizer, position, per_round = [None], [0], steps_per_round * settings["batch"]

    def train_round() -> None:
        start = position[0] % len(rows)
        position[0] = start + per_round
        optimizer[0] = train(model, rows[start : start + per_round], settings, optimizer[0])

    seeds, length = iter(range(10**6)), settings["context"] - 1
    return model, train_round, lambda: generate(model, "A", length, 0.8, seed=next(seeds))


def summary(times: dict[str, list[float]], per: float) -> dict[str, dict]:
    """Each contender's median seconds, its rate (``per`` items / median) and the median of
    the per-round ratios of its time to PyTorch's."""
    result = {}
    for name, values in times.items():
        ratio = None
        if "torch" in times:
            ratio = statistics.median(a / b for a, b in zip(values, times["torch"], strict=True))
        median = statistics.median(values)
        result[name] = {"median": median, "all": values, "per_s": per / median,
                        "ratio_to_torch": ratio}  # fmt: skip
    return result


def run_cases(names: list[str], settings: dict, steps_per_round: int, rounds: int) -> dict:
    total = steps_per_round * (rounds + 1)
    vocabulary, rows, _ = data(settings["context"], total, settings["batch"], 1)
    model, train_ours, generate_ours = scratchnn_runs(settings, rows, vocabulary, steps_per_round)
    train_runs: dict[str, Callable[[], object]] = {}
    generate_runs: dict[str, Callable[[], object]] = {}
    if "scratchnn" in names:
        train_runs["scratchnn"], generate_runs["scratchnn"] = train_ours, generate_ours
    if "torch" in names:
        train_torch, _, step = torch_trainer(model, rows, settings)
        train_runs["torch"] = lambda: train_torch(steps_per_round)
        seeds = iter(range(10**6))
        first, length = [int(vocabulary.encode("A")[0])], settings["context"] - 1
        generate_runs["torch"] = lambda: torch_generate(
            step, first, length, settings["layers"], next(seeds)
        )
    tokens = steps_per_round * settings["batch"] * settings["context"]
    results: dict = {"machine": machine_info(), "settings": settings,
                     "steps_per_round": steps_per_round}  # fmt: skip
    results["gpt_train"] = summary(interleaved(train_runs, rounds), tokens)
    results["gpt_generate"] = summary(interleaved(generate_runs, rounds), settings["context"] - 1)
    return results


def compare_loss(settings: dict, seed: int = 0) -> dict:
    """Train ours and PyTorch's for ``settings["steps"]`` steps from the same weights on the
    same batches; their validation losses per character and a sample of each."""
    import torch

    from scratchnn.text import generate

    vocabulary, rows, validation = data(
        settings["context"], settings["steps"], settings["batch"], settings["validation_rows"], seed
    )
    model = build_gpt(len(vocabulary), settings["context"], settings["layers"],
                      settings["heads"], settings["width"], seed=seed)  # fmt: skip
    model.vocabulary = vocabulary
    train_torch, forward, step = torch_trainer(model, rows, settings)  # copies the weights now
    start = time.perf_counter()
    train_torch(settings["steps"])
    torch_seconds = time.perf_counter() - start
    start = time.perf_counter()
    train(model, rows, settings)
    seconds = time.perf_counter() - start
    ours = model.evaluate(validation[:, :-1], validation[:, 1:])["loss"]
    with torch.no_grad():
        held_out = torch.from_numpy(validation)
        logits = forward(held_out[:, :-1])
        theirs = float(torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), held_out[:, 1:].reshape(-1)))  # fmt: skip
    prompt = "ROMEO:\n"
    sample = generate(model, prompt, settings["context"] - len(prompt), 0.8, seed=seed)
    torch_ids = torch_generate(
        step,
        [int(i) for i in vocabulary.encode(prompt)],
        settings["context"] - len(prompt),
        settings["layers"],
        seed,
    )
    return {"steps": settings["steps"], "loss": ours, "torch_loss": theirs,
            "difference": ours - theirs, "seconds": seconds, "torch_seconds": torch_seconds,
            "sample": sample,
            "torch_sample": prompt + vocabulary.decode(np.array(torch_ids))}  # fmt: skip


def print_table(results: dict) -> None:
    units = {"gpt_train": "characters/s", "gpt_generate": "characters/s"}
    print(f"# {results['machine'].get('cpu')}, {results.get('threads')} thread(s)")
    for case in units:
        print(f"{case}:")
        for name, entry in results[case].items():
            ratio = entry["ratio_to_torch"]
            ratio_text = f"  {ratio:.2f}x torch's time" if ratio else ""
            print(f"  {name:10s} {entry['median']:.3f} s  {entry['per_s']:,.0f} "
                  f"{units[case]}{ratio_text}")  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--steps-per-round", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a tiny GPT, 1 round of 1 step")
    parser.add_argument("--contenders", default="scratchnn,torch")
    parser.add_argument("--compare-loss", action="store_true",
                        help="train both for --steps steps; report validation losses")  # fmt: skip
    parser.add_argument("--steps", type=int, default=SETTINGS["steps"])
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    settings = dict(SETTINGS)
    rounds, per_round = args.rounds, args.steps_per_round
    if args.quick:
        settings.update(layers=1, heads=2, width=16, context=16, validation_rows=8)
        rounds, per_round, args.steps = 1, 1, min(args.steps, 3)
    names = available([name.strip() for name in args.contenders.split(",") if name.strip()])
    if "torch" in names:
        import torch

        torch.set_num_threads(blas_threads())
    if args.compare_loss:
        if "torch" not in names:
            parser.error("--compare-loss needs PyTorch (the bench extra)")
        results = compare_loss({**settings, "steps": args.steps})
        print(f"{results['steps']} steps: validation loss scratchnn {results['loss']:.4f}, "
              f"PyTorch {results['torch_loss']:.4f} nats per character (difference "
              f"{results['difference']:+.4f}); {results['seconds']:.0f} s and "
              f"{results['torch_seconds']:.0f} s")  # fmt: skip
        print(f"scratchnn's sample:\n{results['sample']}\nPyTorch's sample:\n"
              f"{results['torch_sample']}")  # fmt: skip
    else:
        results = run_cases(names, settings, per_round, rounds)
        results["threads"] = blas_threads()
        print_table(results)
    results["threads"] = blas_threads()
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)
    return results


if __name__ == "__main__":
    main()
