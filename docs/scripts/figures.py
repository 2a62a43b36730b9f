"""Draw the learning path's figures into docs/img/, from the library itself.

    python docs/scripts/figures.py            # every figure
    python docs/scripts/figures.py activations optimizer-paths   # some of them

Needs the ``plot`` and ``datasets`` extras (matplotlib, scikit-learn). Every figure is drawn
from seeded computations, so a rerun gives the same pictures; each PNG stays small (a few tens
of kB) because it is committed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Rectangle  # noqa: E402

from scratchnn import (  # noqa: E402
    SGD,
    Adam,
    Conv2D,
    Dense,
    Flatten,
    MaxPool2D,
    NeuralNetwork,
    Sequential,
    gradcheck,
    plot,
)
from scratchnn.activations import Softmax, get_activation  # noqa: E402
from scratchnn.datasets import load_digits, train_test_split  # noqa: E402
from scratchnn.losses import (  # noqa: E402
    CategoricalCrossEntropy,
    Huber,
    MeanAbsoluteError,
    MeanSquaredError,
)

IMG = Path(__file__).resolve().parents[1] / "img"
DPI = 80
FIGURES: dict[str, Callable[[], plt.Figure]] = {}


def figure(name: str):
    """Register a function that returns the figure saved as ``docs/img/<name>.png``."""

    def register(draw):
        FIGURES[name] = draw
        return draw

    return register


@figure("foundations-descent")
def foundations_descent():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    y = np.array([2.1, 3.9, 6.2, 7.8])

    def loss(w):
        return np.mean((np.multiply.outer(w, x) - y) ** 2, axis=-1)

    def gradient(w):
        return np.mean(2 * (w * x - y) * x)

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), dpi=DPI)
    for ax, rate, steps, top in ((axes[0], 0.05, 6, 40), (axes[1], 0.14, 6, 100)):
        grid = np.linspace(-2, 6, 300)
        ax.plot(grid, loss(grid), color="0.3")
        path = [0.0]
        for _ in range(steps):
            path.append(path[-1] - rate * gradient(path[-1]))
        path = np.array(path)
        ax.plot(path, loss(path), "o-", color="tab:red", markersize=4, linewidth=1)
        for step, w in enumerate(path[:4]):
            ax.annotate(
                str(step),
                (w, loss(np.array([w]))[0]),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=8,
            )
        verdict = "converges" if rate < 2 / 15 else "overshoots, diverges"
        ax.set_title(f"learning rate {rate}: {verdict}", fontsize=10)
        ax.set_xlabel("w")
        ax.set_ylim(-top / 20, top)
        ax.set_xlim(-2, 6)
    axes[0].set_ylabel("loss L(w)")
    fig.tight_layout()
    return fig


@figure("activations")
def activations():
    names = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "softplus", "linear"]
    z = np.linspace(-4, 4, 401)[None, :]
    fig, axes = plt.subplots(2, 4, figsize=(10, 4.6), dpi=DPI, sharex=True)
    for ax, name in zip(axes.ravel(), names, strict=True):
        activation = get_activation(name)
        a = activation.forward(z.copy())
        derivative = activation.backward(np.ones_like(z), z, a)
        ax.axhline(0, color="0.85", linewidth=0.8)
        ax.axvline(0, color="0.85", linewidth=0.8)
        ax.plot(z[0], a[0], color="tab:blue", label="f(z)")
        ax.plot(z[0], derivative[0], color="tab:orange", linestyle="--", label="f'(z)")
        ax.set_title(name, fontsize=10)
        ax.set_ylim(-1.5, 3)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


@figure("optimizer-paths")
def optimizer_paths():
    # A ravine: 50 times steeper across (y) than along (x), minimum at the origin.
    def gradient(p):
        return np.array([0.1 * p[0], 5.0 * p[1]])

    start = np.array([-9.0, 1.5])
    runs = {
        "SGD (0.35)": SGD(learning_rate=0.35),
        "momentum 0.9 (0.04)": SGD(learning_rate=0.04, momentum=0.9),
        "Adam (0.5)": Adam(learning_rate=0.5),
    }
    fig, ax = plt.subplots(figsize=(7.5, 3.4), dpi=DPI)
    xs, ys = np.meshgrid(np.linspace(-10, 2, 240), np.linspace(-2.2, 2.2, 120))
    ax.contour(xs, ys, 0.05 * xs**2 + 2.5 * ys**2, levels=12, colors="0.75", linewidths=0.7)
    colours = ["tab:red", "tab:blue", "tab:green"]
    for (name, optimizer), colour in zip(runs.items(), colours, strict=True):
        params = start.copy()
        path = [params.copy()]
        for _ in range(40):
            optimizer.step(params, gradient(params))
            path.append(params.copy())
        path = np.array(path)
        ax.plot(path[:, 0], path[:, 1], "o-", color=colour, markersize=2.5, linewidth=1, label=name)
    ax.plot(0, 0, "k*", markersize=9)
    ax.set_title("40 steps on L = 0.05 x² + 2.5 y² (learning rates in brackets)", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    fig.tight_layout()
    return fig


def grid(ax, values, origin, colour="white", fmt="{:g}", fontsize=9):
    """Draw ``values`` as a table of squares with its top-left corner at ``origin``."""
    left, top = origin
    for (row, column), value in np.ndenumerate(values):
        face = colour(row, column) if callable(colour) else colour
        ax.add_patch(
            Rectangle(
                (left + column, top - row - 1), 1, 1, facecolor=face, edgecolor="0.4", linewidth=0.8
            )
        )
        ax.text(
            left + column + 0.5,
            top - row - 0.5,
            fmt.format(value + 0.0),
            ha="center",
            va="center",
            fontsize=fontsize,
        )


@figure("conv-sliding-window")
def conv_sliding_window():
    image = np.arange(25).reshape(5, 5) % 7
    kernel = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]])
    out = np.array(
        [[np.sum(image[p : p + 3, q : q + 3] * kernel) for q in range(3)] for p in range(3)]
    )
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), dpi=DPI)
    for ax, (p, q) in zip(axes, ((0, 0), (1, 2)), strict=True):
        inside = lambda r, c, p=p, q=q: "#fdd49e" if p <= r < p + 3 and q <= c < q + 3 else "white"  # noqa: E731
        grid(ax, image, (0, 5), inside)
        ax.text(2.5, 5.4, "input x (5x5)", ha="center", fontsize=9)
        grid(ax, kernel, (6.5, 4), "#e0ecf4")
        ax.text(8, 4.4, "filter W (3x3)", ha="center", fontsize=9)
        chosen = lambda r, c, p=p, q=q: "#fc8d59" if (r, c) == (p, q) else "white"  # noqa: E731
        grid(ax, out, (11, 4), chosen)
        ax.text(12.5, 4.4, "output z (3x3)", ha="center", fontsize=9)
        ax.add_patch(
            FancyArrowPatch(
                (q + 3.1, 5 - p - 1.5),
                (11 + q + 0.3, 4 - p - 0.5),
                arrowstyle="->",
                mutation_scale=12,
                color="#d7301f",
            )
        )
        ax.set_title(
            f"window ({p}, {q}): z[{p},{q}] = sum of x[{p}:{p + 3}, {q}:{q + 3}] * W = {out[p, q]}",
            fontsize=9,
        )
        ax.set_xlim(-0.3, 14.3)
        ax.set_ylim(-0.3, 5.8)
        ax.set_aspect("equal")
        ax.axis("off")
    fig.tight_layout()
    return fig


@figure("maxpool-routing")
def maxpool_routing():
    image = np.array([[1, 3, 2, 0], [4, 2, 1, 5], [0, 1, 7, 7], [2, 2, 7, 1]], float)
    pool = MaxPool2D(2)
    pool.build((4, 4, 1), np.random.default_rng(0), np.float64)
    pooled = pool.forward(image.reshape(1, 4, 4, 1), training=True)[0, :, :, 0]
    upstream = np.array([[0.5, -1.0], [2.0, 0.3]])
    routed = pool.backward(upstream.reshape(1, 2, 2, 1))[0, :, :, 0]
    shades = ["#deebf7", "#fee0d2", "#e5f5e0", "#f2f0f7"]

    def window(r, c):
        return shades[(r // 2) * 2 + c // 2]

    fig, ax = plt.subplots(figsize=(10, 3.0), dpi=DPI)
    grid(ax, image, (0, 4), lambda r, c: "#fc8d59" if routed[r, c] else window(r, c))
    ax.text(2, 4.4, "input x: the winners in orange", ha="center", fontsize=9)
    grid(ax, pooled, (5.5, 3), lambda r, c: shades[r * 2 + c])
    ax.text(6.5, 3.4, "forward: y = max", ha="center", fontsize=9)
    grid(ax, upstream, (9, 3), lambda r, c: shades[r * 2 + c])
    ax.text(10, 3.4, "backward: dL/dy", ha="center", fontsize=9)
    grid(ax, routed, (12.5, 4), lambda r, c: "#fc8d59" if routed[r, c] else window(r, c))
    ax.text(14.5, 4.4, "dL/dx: each dL/dy to its winner", ha="center", fontsize=9)
    for start, end in (((4.1, 2), (5.4, 2)), ((7.6, 2), (8.9, 2)), ((11.1, 2), (12.4, 2))):
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="->", mutation_scale=12))
    ax.set_xlim(-0.3, 16.8)
    ax.set_ylim(-0.3, 4.8)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.tight_layout()
    return fig


@figure("backprop-231")
def backprop_231():
    fig, ax = plt.subplots(figsize=(10, 4.4), dpi=DPI)
    columns = {
        0: (0.5, 2, "X  (N, 2)"),
        1: (4.5, 3, r"$Z^1, A^1$  (N, 3)"),
        2: (8.5, 1, r"$Z^2, A^2$  (N, 1)"),
    }
    centres = {}
    for layer, (x, count, label) in columns.items():
        ys = np.linspace(3.4, 0.6, count) if count > 1 else np.array([2.0])
        centres[layer] = [(x, y) for y in ys]
        for cx, cy in centres[layer]:
            ax.add_patch(plt.Circle((cx, cy), 0.28, facecolor="#deebf7", edgecolor="0.3"))
        ax.text(x, 4.05, label, ha="center", fontsize=10)
    for left, right in ((0, 1), (1, 2)):
        for a in centres[left]:
            for b in centres[right]:
                ax.plot([a[0] + 0.28, b[0] - 0.28], [a[1], b[1]], color="0.7", linewidth=0.8)
    ax.text(2.5, 3.75, r"$W^1$ (2, 3)", ha="center", fontsize=9, color="0.3")
    ax.text(6.5, 3.75, r"$W^2$ (3, 1)", ha="center", fontsize=9, color="0.3")
    ax.text(10.2, 2.0, r"loss $L(A^2, Y)$", va="center", fontsize=10)
    red = "#cb181d"
    arrows = [((10.1, 1.5), (8.9, 1.1)), ((8.1, 1.0), (4.9, 0.3))]
    for start, end in arrows:
        ax.add_patch(
            FancyArrowPatch(
                start,
                end,
                arrowstyle="->",
                mutation_scale=14,
                color=red,
                connectionstyle="arc3,rad=-0.25",
            )
        )
    notes = [
        (9.6, 0.55, r"BP1: $\Delta^2 = \partial L / \partial A^2 \odot f'(Z^2)$   (N, 1)"),
        (6.6, -0.25, r"BP2: $\Delta^1 = (\Delta^2 W^{2\top}) \odot f'(Z^1)$   (N, 3)"),
        (6.6, 3.05, r"BP4: $\partial L / \partial W^2 = A^{1\top} \Delta^2$   (3, 1)"),
        (2.5, 3.05, r"BP4: $\partial L / \partial W^1 = X^\top \Delta^1$   (2, 3)"),
        (2.5, -0.25, r"BP3: $\partial L / \partial b^l$ = sum of $\Delta^l$'s rows"),
    ]
    for x, y, text in notes:
        ax.text(
            x,
            y,
            text,
            ha="center",
            fontsize=9,
            color=red,
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
        )
    ax.set_xlim(-0.5, 12)
    ax.set_ylim(-0.6, 4.4)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.tight_layout()
    return fig


@figure("dense-network")
def dense_network():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([0, 1, 1, 0])
    model = Sequential([Dense(3, "tanh"), Dense(1, "sigmoid")], seed=0)
    model.fit(
        X, y, loss="binary_crossentropy", optimizer="adam", epochs=300, batch_size=4, verbose=0
    )
    return plot.plot_network(model, figsize=(5, 3.4), dpi=DPI)


def digit_cnn():
    """The Digits with a CNN guide's network, trained the same way."""
    X, y = load_digits(as_images=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y, test_size=0.2, seed=0, stratify=True
    )
    model = Sequential(
        [
            Conv2D(8, 3, padding="same", activation="relu", input_shape=(8, 8, 1)),
            MaxPool2D(2),
            Flatten(),
            Dense(10, "softmax"),
        ],
        seed=0,
    )
    model.fit(
        X_train,
        y_train,
        loss="categorical_crossentropy",
        optimizer="adam",
        epochs=15,
        batch_size=32,
        validation_split=0.1,
        verbose=0,
    )
    return model, X_test


@figure("gpt-attention")
def gpt_attention():
    """The GPT guide's small network (2 blocks, width 32, context 32), trained 400 steps of 16
    rows on the plays with the guide's settings; block 1's heads on a line of a play."""
    from scratchnn import AdamW
    from scratchnn.datasets import Vocabulary, load_shakespeare

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
    from gpt import build_gpt

    text = load_shakespeare()
    vocabulary = Vocabulary().fit(text)
    ids = vocabulary.encode(text)
    context = 32
    starts = np.random.default_rng(0).integers(0, int(0.9 * len(ids)) - context, 400 * 16)
    rows = ids[starts[:, None] + np.arange(context + 1)]
    model = build_gpt(len(vocabulary), context, layers=2, heads=4, width=32, seed=0)
    model.fit(rows[:, :-1], rows[:, 1:], loss="categorical_crossentropy",
              optimizer=AdamW(3e-3, weight_decay=0.01, clipnorm=1.0),
              epochs=1, batch_size=16, shuffle=False, verbose=0)  # fmt: skip
    return plot.plot_attention(
        model,
        "ROMEO:\nBut soft, what light",
        layer="block1_attention",
        vocabulary=vocabulary,
        dpi=DPI,
    )


@figure("cnn-filters")
def cnn_filters():
    model, _ = digit_cnn()
    fig = plot.plot_filters(model, dpi=DPI)
    limit = float(np.abs(model.layers[0].params["W"]).max())
    fig.colorbar(
        ScalarMappable(Normalize(-limit, limit), "RdBu_r"), ax=fig.axes, shrink=0.8, label="weight"
    )
    return fig


@figure("cnn-feature-maps")
def cnn_feature_maps():
    model, X_test = digit_cnn()
    fig = plot.plot_feature_maps(model, X_test[0], dpi=DPI)
    rows: dict[float, list] = {}
    for axes in fig.axes:
        rows.setdefault(round(axes.get_position().y0, 3), []).append(axes)
    for row in rows.values():
        images = [axes.images[0] for axes in row]
        low = min(float(image.get_array().min()) for image in images)
        high = max(float(image.get_array().max()) for image in images)
        for image in images:
            image.set_clim(low, high or 1.0)
        fig.colorbar(images[0], ax=row, shrink=0.8)
    return fig


def sigmoid(z):
    return 0.5 * np.tanh(0.5 * z) + 0.5


@figure("tutorial-hidden-lines")
def tutorial_hidden_lines():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([[0], [1], [1], [0]], dtype=float)
    random = np.random.RandomState(1)  # the tutorial's seed 1, the one that fails
    W1, W2 = random.randn(2, 3), random.randn(3, 1)
    for _ in range(10_000):  # the tutorial's network: no biases, squared error, rate 1
        hidden = sigmoid(X @ W1)
        output = sigmoid(hidden @ W2)
        delta2 = (y - output) * output * (1 - output)
        delta1 = delta2 @ W2.T * hidden * (1 - hidden)
        W2 += hidden.T @ delta2
        W1 += X.T @ delta1
    fixed = NeuralNetwork(input_dim=2, hidden_dim=3, output_dim=1, seed=1)
    fixed.train(X, y, epochs=10_000)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6), dpi=DPI)
    line = np.linspace(-0.5, 1.5, 2)
    panels = (
        (axes[0], W1, np.zeros(3), "the tutorial (no biases): every line through (0, 0)"),
        (axes[1], fixed.weights1, fixed.bias1, "with biases (scratchnn): lines anywhere"),
    )
    for ax, weights, bias, title in panels:
        for unit, colour in zip(range(3), ("tab:blue", "tab:orange", "tab:green"), strict=True):
            w1, w2 = weights[:, unit]
            # the unit's line: w1 x1 + w2 x2 + b = 0, where its sigmoid is 0.5
            if abs(w2) > 1e-9:
                ax.plot(line, -(w1 * line + bias[unit]) / w2, color=colour, label=f"unit {unit}")
            else:
                ax.axvline(-bias[unit] / w1, color=colour, label=f"unit {unit}")
        for (x1, x2), target in zip(X, y[:, 0], strict=True):
            ax.plot(
                x1,
                x2,
                "o" if target else "s",
                color="black",
                markersize=9,
                markerfacecolor="white" if target else "black",
            )
        ax.set_xlim(-0.5, 1.5)
        ax.set_ylim(-0.5, 1.5)
        ax.set_aspect("equal")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("x1")
    axes[0].set_ylabel("x2")
    axes[1].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


@figure("regression-losses")
def regression_losses():
    r = np.linspace(-3, 3, 301)[:, None]
    zeros = np.zeros_like(r)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), dpi=DPI)
    for loss, colour in (
        (MeanSquaredError(), "tab:blue"),
        (MeanAbsoluteError(), "tab:orange"),
        (Huber(delta=1.0), "tab:green"),
    ):
        values = loss.per_sample(r, zeros)
        _, grad = loss.value_and_grad(r, zeros)
        label = type(loss).__name__
        axes[0].plot(r[:, 0], values, color=colour, label=label)
        axes[1].plot(r[:, 0], grad[:, 0] * len(r), color=colour, label=label)
    axes[0].set_title("the loss of one prediction, l(r)", fontsize=10)
    axes[1].set_title("its gradient, dl/dP", fontsize=10)
    for ax in axes:
        ax.axhline(0, color="0.85", linewidth=0.8)
        ax.set_xlabel("residual r = P - Y")
    axes[0].set_ylim(-0.3, 5)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


@figure("cross-entropy-gradients")
def cross_entropy_gradients():
    gaps = np.linspace(0, 80, 321)
    softmax, fused, two_step, probability = Softmax(), [], [], []
    for gap in gaps:
        logits = np.array([[0.0, gap]])  # the true class 0 is behind by `gap`
        p = softmax.forward(logits)
        _, grad_p = CategoricalCrossEntropy().value_and_grad(p, np.array([0]))
        two_step.append(abs(softmax.backward(grad_p, logits, p)[0, 0]))
        fused.append(
            abs(
                CategoricalCrossEntropy(from_logits=True).value_and_grad(logits, np.array([0]))[1][
                    0, 0
                ]
            )
        )
        probability.append(p[0, 0])
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=DPI)
    ax.semilogy(gaps, fused, color="tab:green", label="fused: p - y")
    ax.semilogy(
        gaps,
        two_step,
        color="tab:red",
        linestyle="--",
        label="two steps: -y/p (p clipped at 1e-7), then softmax's Jacobian",
    )
    ax.semilogy(gaps, probability, color="0.6", linewidth=0.8, label="p of the true class")
    ax.axvline(np.log(1e7), color="0.8", linewidth=0.8)
    ax.text(np.log(1e7) + 1, 1e-20, "p = 1e-7", fontsize=8, color="0.4")
    ax.set_xlabel("how far the true class's logit is behind (a confidently wrong prediction)")
    ax.set_ylabel("|dL/dz| for the true class")
    ax.set_ylim(1e-36, 10)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


@figure("gradcheck-epsilon")
def gradcheck_epsilon():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(6, 4)), rng.normal(size=(6, 2))
    model = Sequential([Dense(5, "tanh"), Dense(2)], seed=0)
    steps = np.logspace(-12, -1, 23)
    errors = [gradcheck(model, X, y, loss="mse", eps=float(step)).worst for step in steps]
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=DPI)
    ax.loglog(steps, errors, "o-", color="tab:blue", markersize=3)
    ax.axvline(1e-6, color="0.7", linewidth=0.8)
    ax.text(1.3e-6, max(errors) / 3, "the default, 1e-6", fontsize=8, color="0.3")
    ax.text(1e-11, min(errors) * 3, "round-off grows\nas eps shrinks", fontsize=8, color="0.3")
    ax.text(3e-4, min(errors) * 3, "truncation error\ngrows as eps²", fontsize=8, color="0.3")
    ax.set_xlabel("step eps of the central difference")
    ax.set_ylabel("worst relative error")
    ax.set_title("gradcheck on a 4-5-2 tanh network, float64", fontsize=10)
    fig.tight_layout()
    return fig


def main(names: list[str]) -> None:
    unknown = sorted(set(names) - set(FIGURES))
    if unknown:
        raise SystemExit(f"no figure named {unknown}; the figures are {sorted(FIGURES)}")
    for name in names or FIGURES:
        fig = FIGURES[name]()
        path = IMG / f"{name}.png"
        fig.savefig(path, dpi=DPI)
        plt.close(fig)
        print(f"{path.relative_to(IMG.parents[1])}: {path.stat().st_size // 1024} kB")


if __name__ == "__main__":
    main(sys.argv[1:])
