"""Compare scratchnn.sklearn with scikit-learn's MLP on its bundled data sets.

Both estimators get the same settings (hidden sizes, solver adam, learning rate, batch size,
epochs, alpha, tol, n_iter_no_change) on the same standardised train/test split per seed.
Printed: test score (accuracy, or R^2 for diabetes) and fit time, mean +- std over the seeds,
and the epochs run. BLAS is limited to one thread for both (``--threads`` to change): on
networks this small, threads mostly contend.

Run: ``.venv/bin/python benchmarks/compare_sklearn.py [--seeds 5] [--json results.json]``
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from scratchnn.sklearn import NeuralNetClassifier, NeuralNetRegressor

# (loader, is_classification, settings shared by both estimators). Diabetes' raw targets
# (25..346) need a larger step and more epochs to be reached from a zero-centred start.
DATASETS = {
    "digits": (load_digits, True, {}),
    "breast_cancer": (load_breast_cancer, True, {}),
    "iris": (load_iris, True, {}),
    "wine": (load_wine, True, {}),
    "diabetes": (load_diabetes, False, {"learning_rate_init": 0.01, "max_iter": 1000}),
}
COMMON = dict(
    hidden_layer_sizes=(100,),
    solver="adam",
    learning_rate_init=0.001,
    batch_size="auto",  # min(200, n_samples) in both
    max_iter=200,
    alpha=0.0001,
    tol=1e-4,
    n_iter_no_change=10,
)


def run_one(name: str, seed: int, dtype: str) -> dict[str, dict[str, float]]:
    """Fit both estimators on one seed's split; return score, seconds and epochs of each."""
    loader, classification, extra = DATASETS[name]
    X, y = loader(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=seed, stratify=y if classification else None
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    settings = {**COMMON, **extra, "random_state": seed}
    if classification:
        contenders = {
            "scratchnn": NeuralNetClassifier(**settings, dtype=dtype),
            "sklearn": MLPClassifier(**settings),
        }
    else:
        contenders = {
            "scratchnn": NeuralNetRegressor(**settings, dtype=dtype),
            "sklearn": MLPRegressor(**settings),
        }
    results = {}
    for label, estimator in contenders.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            estimator.fit(X_train, y_train)
            seconds = time.perf_counter() - start
        results[label] = {
            "score": float(estimator.score(X_test, y_test)),
            "seconds": seconds,
            "epochs": int(estimator.n_iter_),
        }
    return results


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds (0..n-1)")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads for both")
    parser.add_argument("--json", metavar="PATH", help="also write the raw numbers here")
    args = parser.parse_args(argv)

    report: dict = {"settings": COMMON, "dtype": args.dtype, "threads": args.threads}
    header = (
        f"{'data set':<14} {'score scratchnn':>17} {'score sklearn':>17} "
        f"{'fit s scratchnn':>17} {'fit s sklearn':>17} {'speed-up':>9} {'epochs ours/sk':>15}"
    )
    print(header)
    print("-" * len(header))
    with threadpool_limits(args.threads):
        for name in args.datasets:
            runs = [run_one(name, seed, args.dtype) for seed in range(args.seeds)]
            summary = {}
            for label in ("scratchnn", "sklearn"):
                numbers = {k: np.array([run[label][k] for run in runs]) for k in runs[0][label]}
                summary[label] = {
                    f"{k}_{stat}": float(getattr(np, stat)(v))
                    for k, v in numbers.items()
                    for stat in ("mean", "std")
                }
            report[name] = {"runs": runs, "summary": summary}
            ours, theirs = summary["scratchnn"], summary["sklearn"]

            def cell(stats: dict, key: str, digits: int) -> str:
                return f"{stats[key + '_mean']:.{digits}f} ± {stats[key + '_std']:.{digits}f}"

            print(
                f"{name:<14} {cell(ours, 'score', 3):>17} {cell(theirs, 'score', 3):>17} "
                f"{cell(ours, 'seconds', 3):>17} {cell(theirs, 'seconds', 3):>17} "
                f"{theirs['seconds_mean'] / ours['seconds_mean']:>8.2f}x "
                f"{ours['epochs_mean']:>7.0f}/{theirs['epochs_mean']:<7.0f}"
            )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2)
    return report


if __name__ == "__main__":
    main()
