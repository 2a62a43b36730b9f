"""The bodies of the ``scratchnn`` subcommands.

``train`` standardises inputs (and regression targets), trains, folds the scaling into the
first (and last) layer (:mod:`.build`), and reports the numbers of the model it saves, which
after early stopping is the restored best epoch, not the last one.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .. import datasets, plot
from ..callbacks import EarlyStopping
from ..datasets.tables import TextColumnError
from ..diagnostics import Diagnostics
from ..io import load
from ..losses import get_loss
from ..optimizers import get_optimizer
from ..training import DivergenceWarning
from .build import (
    build_model,
    can_fold_inputs,
    can_fold_targets,
    check_fit,
    default_loss,
    fold_standardization,
    fold_target_scaling,
    is_classifier,
)
from .data import (
    UsageError,
    check_columns,
    class_indices,
    csv_options,
    encode_labels,
    is_classification,
    load_data,
    text_column_problem,
    trained_categories,
)
from .paths import check_output

DEMOS: dict[str, list[str]] = {
    "xor": (
        "xor --layers 8 --activation tanh --epochs 400 --batch-size 4 --lr 0.05 "
        "--validation-split 0 --no-standardize"
    ).split(),
    "spirals": (
        "spirals --n-arms 3 --n-samples 600 --layers 64,64 --epochs 300 --lr 0.01 "
        "--early-stopping off"
    ).split(),
    "digits": "digits --layers 64 --epochs 40 --early-stopping 5".split(),
}


def _model_categories(model: Any, args: argparse.Namespace) -> dict[str, list] | None:
    """The training categories of the ``--one-hot`` columns (``None`` without the option)."""
    if not getattr(args, "one_hot", None):
        return None
    return trained_categories(getattr(model, "feature_names", None), args.one_hot)


def _load_model(path: str) -> tuple[Any, list[Any] | None]:
    """The model in ``path`` and its class labels (``None`` when the file keeps none)."""
    try:
        model = load(path)  # a folder, a device or a pipe is named as what it is
    except FileNotFoundError:
        named = path in datasets.GENERATED or path in datasets.BUNDLED
        hint = f"; {path!r} names a data set: the model file comes first" if named else ""
        raise FileNotFoundError(
            f"model file {path!r} does not exist (train --out writes one){hint}"
        ) from None
    classes = getattr(model, "classes", None)
    model.classes = None  # the CLI works with class indices; it maps labels itself
    return model, classes


def _check_one_input_and_output(model: Any, path: str, command: str) -> None:
    """The command line reads one table and writes one prediction per row: a graph model with
    several inputs or outputs is for the Python API."""
    if not model.is_graph:
        return
    for what, names in (("input", model.input_names), ("output", model.output_names)):
        if len(names) > 1:
            raise UsageError(
                f"{command} takes a model with one input and one output (one table in, one "
                f"prediction per row out); {path} has {len(names)} {what}s {names}: use "
                f"model.{command}(...) from Python, with a list or a dict of arrays"
            )


# -- train ----------------------------------------------------------------------------------------
DIVERGED = 3  # the exit status of a run whose loss became NaN or infinite


def cmd_train(args: argparse.Namespace) -> int:
    """``scratchnn train``: exit status 0 once the model is trained (and saved); 3: diverged."""
    if args.text is not None:  # a character model: its own module
        from .text import cmd_train_text

        return cmd_train_text(args)
    _, diverged = _train(args)
    return _status(args, diverged)


def _status(args: argparse.Namespace, diverged: str | None) -> int:
    """0, or :data:`DIVERGED` with one line on standard error saying what was kept and saved."""
    if diverged is None:
        return 0
    saved = f"{args.out} holds" if args.out else "nothing was saved; the model kept"
    print(
        f"scratchnn {args.command}: error: training diverged: {saved} {diverged}, not a "
        f"trained network; try a smaller --lr (exit status {DIVERGED})",
        file=sys.stderr,
    )
    return DIVERGED


def _check_training_options(args: argparse.Namespace) -> None:
    """Everything that can be checked before reading data: a mistake costs no training."""
    if not 0 <= args.validation_split < 1:
        raise UsageError(f"--validation-split must be in [0, 1), got {args.validation_split}")
    if not args.lr > 0 or not np.isfinite(args.lr):
        raise UsageError(f"--lr must be a positive number, got {args.lr}")
    if args.plots:
        try:
            import matplotlib  # noqa: F401  checked now, not after training
        except ImportError:
            raise UsageError(
                "--plots needs matplotlib, which is not installed: pip install scratchnn[plot]"
            ) from None
    if args.spec is not None and not Path(args.spec).is_file():
        raise UsageError(f"--spec: no such file {args.spec!r}")
    if args.out is not None and not Path(args.out).resolve().parent.is_dir():
        raise UsageError(f"--out {args.out}: folder {str(Path(args.out).parent)!r} does not exist")
    check_output("--out", args.out, {"--csv data file": args.csv, "--spec file": args.spec})


def _split(n: int, fraction: float) -> int:
    """How many of ``n`` samples the validation part gets (the last ones after shuffling)."""
    return n - int(n * (1 - fraction)) if fraction > 0 else 0


def _train(args: argparse.Namespace) -> tuple[Any, str | None]:
    """Run ``train``: the trained model, and which weights it kept if training diverged."""
    if getattr(args, "epochs", None) is None:
        args.epochs = 200
    _check_training_options(args)
    data = load_data(args)
    X, y = data.X, data.y
    classification = is_classification(args.task, y, args.csv is not None, args.dataset)
    classes = None
    if classification:
        y, classes = encode_labels(y)
    n_outputs = len(classes) if classes else (1 if y.ndim == 1 else y.shape[1])
    order = np.random.default_rng(args.seed).permutation(len(X))  # random validation split
    X, y = X[order], y[order]
    n_val = _split(len(X), args.validation_split)
    if n_val >= len(X):
        raise UsageError(f"--validation-split {args.validation_split} leaves no training data")
    cut = len(X) - n_val
    X_train, y_train, X_val, y_val = X[:cut], y[:cut], X[cut:], y[cut:]
    try:
        model = build_model(args, n_outputs, classification)
        loss = args.loss or default_loss(model)
        get_loss(loss)  # an unknown name is a usage error
        settings = {"learning_rate": args.lr} if args.lr is not None else {}
        optimizer = get_optimizer(args.optimizer, **settings)
        model.build(X.shape[1])
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from error
    check_fit(model, args, loss, classes, y)

    standardize = not args.no_standardize
    if standardize and not can_fold_inputs(model):
        print("note: the first layer has no W and b to fold scaling into: inputs left raw")
        standardize = False
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    scale_x = (lambda A: (A - mean) / std) if standardize else (lambda A: A)
    scale_targets = not classification and not args.no_standardize
    if scale_targets and not can_fold_targets(model):
        print("note: the output layer is not linear Dense: regression targets left raw")
        scale_targets = False
    y_mean, y_std = y_train.mean(axis=0), y_train.std(axis=0)
    y_std = np.where(y_std > 0, y_std, 1.0)
    scale_y = (lambda A: (A - y_mean) / y_std) if scale_targets else (lambda A: A)

    callbacks = []
    patience = args.early_stopping
    if patience == "auto":
        patience = 10 if n_val else None
    if patience is not None:
        monitor = "val_loss" if n_val else "loss"
        callbacks.append(EarlyStopping(monitor, patience=patience, restore_best_weights=True))
    diagnostics = Diagnostics() if getattr(args, "diagnose", False) else None
    if diagnostics is not None:
        callbacks.append(diagnostics)
    with warnings.catch_warnings(record=True) as caught:  # divergence: the stop reason, below
        warnings.simplefilter("always", DivergenceWarning)
        history = _fit(model, args, loss, optimizer, callbacks, classification,
                       scale_x(X_train), scale_y(y_train),
                       (scale_x(X_val), scale_y(y_val)) if n_val else None)  # fmt: skip
    diverged = any(issubclass(w.category, DivergenceWarning) for w in caught)
    for w in caught:  # any other warning is the user's to see
        if not issubclass(w.category, DivergenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    pictures = []
    overflow_ok = {"over": "ignore", "invalid": "ignore"}  # a diverged model's pictures overflow
    if args.plots:  # the weights as trained, on standardised data: what a user recognises
        folded = ["inputs"] * standardize + ["targets"] * scale_targets
        with np.errstate(**overflow_ok):
            pictures.append(_plot_weights(args.plots, model, scale_x(X_train), folded))
    if standardize:
        fold_standardization(model, mean, std)
    if scale_targets:
        fold_target_scaling(model, y_mean, y_std)
    model.summary()
    kept = _restored_epoch(callbacks, len(history.epoch), diverged)  # None: the last weights
    _report(model, history, kept, data.name, len(X), loss, classification,
            (X_train, y_train), (X_val, y_val) if n_val else None, scale_targets,
            saved=bool(args.out), diverged=diverged, progress=not args.quiet)  # fmt: skip
    if diagnostics is not None and diagnostics.report is not None:
        print(diagnostics.report)
    if args.out:
        model.classes = classes  # kept by the model file: predict writes these labels back
        model.feature_names = data.features  # evaluate and predict check the columns by name
        model.save(args.out)
        model.classes = None
        print(f"saved model to {args.out}")
    else:
        print("model not saved: nothing was written (give --out MODEL.npz to keep it)")
    if args.plots:
        shown = (X_val, y_val) if n_val else (X, y)
        with np.errstate(**overflow_ok):
            pictures += _write_plots(args.plots, model, history, X, y, *shown, classes, kept)
        if diagnostics is not None and diagnostics.report is not None:
            pictures += _write_diagnostic_plots(args.plots, diagnostics)
        for path in pictures:
            print(f"wrote {path}")
    if not diverged:
        return model, None
    if kept is not None:
        return model, f"the weights of epoch {kept}, the best before the loss diverged"
    return model, "the last finite weights, from before the update that diverged"


def _fit(model, args, loss, optimizer, callbacks, classification, X, y, validation) -> Any:
    return model.fit(
        X,
        y,
        loss=loss,
        optimizer=optimizer,
        epochs=args.epochs,
        batch_size=args.batch_size,
        validation_data=validation,
        metrics=["accuracy"] if classification else ["mae"],
        callbacks=callbacks,
        verbose=0 if args.quiet else 1,
    )


def _report(model, history, kept, name, n, loss, classification, train, val,
            standardised=False, saved=True, diverged=False, progress=False) -> None:  # fmt: skip
    """Print the kept model's numbers (in the targets' units), not the last epoch's: those of
    epoch ``kept`` (from 1) when early stopping restored it."""
    epochs = len(history.epoch)
    metrics = ["accuracy"] if classification else ["mae", "r2"]
    numbers = model.evaluate(*train, loss=loss, metrics=metrics)
    if val is not None:
        held_out = model.evaluate(*val, loss=loss, metrics=metrics)
        numbers |= {f"val_{key}": value for key, value in held_out.items()}
    print(f"trained on {name}: {n} samples, {epochs} epoch(s)")
    if history.stop_reason:
        scale = "; training saw standardised targets, the numbers below are in the targets' units"
        scale = scale if standardised else ""
        print(f"stopped early: {history.stop_reason}{scale}")
    which = f"epoch {kept}, the best" if kept is not None else "last epoch"
    if diverged and kept is None:
        which = "the last finite weights"
    print(f"{'saved' if saved else 'trained'} model ({which}): " + _format(numbers))
    if progress and epochs:
        print(
            "(the kept weights, evaluated on the whole training part; an epoch line's training "
            "numbers are means over its batches, in training mode (dropout on), while the "
            "weights changed)"
        )


def _restored_epoch(callbacks: list[Any], epochs: int, diverged: bool) -> int | None:
    """The epoch (from 1) whose weights early stopping restored, when not simply the last."""
    best = next((c.best_epoch for c in callbacks if getattr(c, "best_weights", None)), None)
    return best + 1 if best is not None and (best + 1 != epochs or diverged) else None


def _format(numbers: dict[str, float]) -> str:
    """``loss=0.0448  accuracy=0.9833``; a huge number (a diverged run's) as ``6.292e+05``."""
    return "  ".join(
        f"{key}={value:.4f}" if abs(value) < 1e5 else f"{key}={value:.4g}"
        for key, value in numbers.items()
    )


def _plot_weights(folder: str, model: Any, X_seen: np.ndarray, folded: list[str]) -> Path:
    """Weight histograms of the network as trained, before any scaling is folded into it."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    figure = plot.plot_weight_histograms(model, X_seen)
    caption = f"as trained; outputs on the {len(X_seen)} training rows, raw inputs"
    if folded:
        caption = (
            f"as trained; outputs on the {len(X_seen)} training rows, standardised "
            f"{' and '.join(folded)};\nthe model kept folds that scaling into its first/last "
            "layer's weights"
        )
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    figure.text(0.5, 0.01, caption, ha="center", va="bottom", fontsize=8)
    figure.savefig(out / "weights.png", format="png", dpi=figure.dpi)
    return out / "weights.png"


def _write_plots(folder, model, history, X, y, X_check, y_check, classes, kept=None) -> list[Path]:
    out = Path(folder)
    written = [out / "learning_curves.png"]
    plot.plot_learning_curves(history, written[0], kept_epoch=kept)
    if any(layer.kernel_layout == "conv2d" for layer in model.layers):  # an image network
        written += [out / "filters.png", out / "feature_maps.png"]
        plot.plot_filters(model, written[-2])
        plot.plot_feature_maps(model, X_check[0], written[-1])
    else:
        written.append(out / "network.png")
        plot.plot_network(model, written[-1])
    if is_classifier(model):
        written.append(out / "confusion_matrix.png")
        names = [str(c) for c in classes] if classes else None
        n_classes = max(2, model.output_dim)
        plot.plot_confusion_matrix(
            y_check, _predicted(model, X_check, n_classes), normalize=True, path=written[-1],
            class_names=names,
        )  # fmt: skip
        if X.shape[1] == 2:
            written.append(out / "decision_boundary.png")
            plot.plot_decision_boundary(model, X, y, written[-1])
    return written


def _write_diagnostic_plots(folder: str, diagnostics: Diagnostics) -> list[Path]:
    """The pictures of ``--diagnose``: gradients, updates, dead units, activations."""
    out = Path(folder)
    drawn = {
        "diagnostics_gradients.png": plot.plot_gradient_norms,
        "diagnostics_updates.png": plot.plot_update_ratios,
        "diagnostics_dead_units.png": plot.plot_dead_units,
        "diagnostics_activations.png": plot.plot_activation_histograms,
    }
    for name, draw in drawn.items():
        draw(diagnostics, out / name)
    return [out / name for name in drawn]


def _predicted(model: Any, X: np.ndarray, n_classes: int) -> np.ndarray:
    outputs = model.predict(X)
    return outputs.argmax(axis=1) if outputs.shape[1] > 1 else (outputs[:, 0] > 0.5).astype(int)


# -- evaluate, predict, summary, demo -------------------------------------------------------------
def cmd_evaluate(args: argparse.Namespace) -> int:
    """``scratchnn evaluate``: loss and metrics; per-class counts for classifiers."""
    if args.dataset is not None and args.data is not None:
        raise UsageError("give the data set once: as DATASET or as --data NAME")
    args.dataset = args.dataset or args.data
    model, classes = _load_model(args.model)
    _check_one_input_and_output(model, args.model, "evaluate")
    trained = getattr(model, "feature_names", None)
    try:
        data = load_data(args, _model_categories(model, args))
    except TextColumnError as error:
        raise text_column_problem(error, f"--csv {args.csv}", trained, classes, True) from None
    check_columns(trained, data.features, f"--csv {args.csv}", data.X, classes)
    loss = args.loss or default_loss(model)
    if not is_classifier(model):
        if data.y.dtype == object:
            raise ValueError(
                f"{args.model} predicts numbers (regression), but the targets are text "
                f"({data.y[0]!r}, ...): is it the same target column as in train?"
            )
        numbers = model.evaluate(data.X, data.y, loss=loss, metrics=["mae", "r2"])
        print(f"{data.name}: {len(data.X)} samples")
        print(_format(numbers))
        return 0
    n_classes = max(2, model.output_dim)
    y = class_indices(data.y, classes, n_classes)
    numbers = model.evaluate(data.X, y, loss=loss, metrics=["accuracy"])
    print(f"{data.name}: {len(data.X)} samples")
    print(_format(numbers))
    counts = plot.confusion_matrix(y, _predicted(model, data.X, n_classes), n_classes=n_classes)
    names = [str(c) for c in classes] if classes else [str(k) for k in range(n_classes)]
    width = max(5, *(len(name) for name in names), len(str(counts.max())))
    print("confusion matrix (rows: true class, columns: predicted class)")
    print(" " * width + " " + " ".join(f"{name:>{width}}" for name in names))
    for name, row in zip(names, counts, strict=True):
        print(f"{name:>{width}} " + " ".join(f"{c:>{width}}" for c in row))
    print("per class: samples, predicted right, recall")
    for name, row, right in zip(names, counts, np.diag(counts), strict=True):
        recall = f"{right / row.sum():.4f}" if row.sum() else "-"
        print(f"{name:>{width}} {row.sum():>6} {right:>6} {recall:>7}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """``scratchnn predict``: one CSV row of predictions per input row, labels by name."""
    check_output("--out", args.out, {"model file": args.model, "input CSV": args.input})
    model, classes = _load_model(args.model)
    _check_one_input_and_output(model, args.model, "predict")
    options = csv_options(args)
    options["one_hot"] = _model_categories(model, args) or []
    trained = getattr(model, "feature_names", None)
    source = "standard input" if args.input == "-" else args.input
    try:
        if args.input == "-":  # standard input, kept in a file of its own while it is read
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "stdin.csv"
                path.write_bytes(sys.stdin.buffer.read())
                try:
                    X, _, features = datasets.load_csv(path, target=None, return_names=True,
                                                       **options)  # fmt: skip
                except ValueError as error:  # the file is ours, gone when this ends: name it
                    if isinstance(error, TextColumnError):
                        raise
                    raise type(error)(str(error).replace(str(path), "standard input")) from None
        else:
            if not Path(args.input).is_file():
                raise FileNotFoundError(f"input: no such file {args.input!r}")
            X, _, features = datasets.load_csv(args.input, target=None, return_names=True,
                                               **options)  # fmt: skip
    except TextColumnError as error:
        raise text_column_problem(error, source, trained, classes, False) from None
    check_columns(trained, features, source, X, classes)
    outputs = model.predict(X)
    if is_classifier(model):
        probabilities = outputs if outputs.shape[1] > 1 else np.hstack([1 - outputs, outputs])
        names = classes if classes else list(range(probabilities.shape[1]))
        header = ["class"] + [f"prob_{name}" for name in names]
        rows = [[names[int(np.argmax(p))], *(f"{v:.6g}" for v in p)] for p in probabilities]
    else:
        header = [f"output_{k}" for k in range(outputs.shape[1])]
        rows = [[f"{v:.6g}" for v in row] for row in outputs]
    if args.out:
        with open(args.out, "w", newline="", encoding="utf-8") as handle:
            _write_csv(handle, header, rows)
    else:
        _write_csv(sys.stdout, header, rows)
    return 0


def _write_csv(handle: Any, header: list, rows: list) -> None:
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)


def cmd_summary(args: argparse.Namespace) -> int:
    """``scratchnn summary``: the model's layer table."""
    model, classes = _load_model(args.model)
    sizes = [f"{s[0]} features" if len(s) == 1 else f"shape {s}" for s in model.input_shapes]
    inputs = f"input {sizes[0]}"
    if len(sizes) > 1:  # a graph model's inputs, by name
        inputs = "inputs " + ", ".join(
            f"{name} ({size})" for name, size in zip(model.input_names, sizes, strict=True)
        )
    print(f"{args.model}: {type(model).__name__}, {inputs}, dtype {np.dtype(model.dtype).name}")
    if classes:
        print(f"classes: {', '.join(map(str, classes))}")
    model.summary()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """``scratchnn demo``: train one of the built-in showcases."""
    argv = ["train", *DEMOS[args.name], "--seed", str(args.seed)]
    argv += ["--plots", args.plots] if args.plots else []
    argv += ["--out", args.out] if args.out else []
    argv += ["--quiet"] if args.quiet else []
    model, diverged = _train(args.parse_train(argv))  # the parser hands itself in: no cycle
    if args.name == "xor":
        X, y = datasets.make_xor()
        for point, target, output in zip(X, y, model.predict(X)[:, 0], strict=True):
            print(f"xor{tuple(int(v) for v in point)} = {target}, network says {output:.3f}")
    return _status(args, diverged)
