"""Numerical gradient checking: every hand-written gradient against finite differences.

For each parameter (and each input entry) ``theta``, the central difference

    (L(theta + eps) - L(theta - eps)) / (2 eps)

approximates ``dL/dtheta`` with error ``O(eps^2)``. Compared per array with the analytic gradient
``g`` as the relative error ``||g - g_num|| / max(||g||, ||g_num||)``, a correct backward pass in
float64 scores around 1e-8 or below; a wrong one scores near 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _validation as check
from .losses import Loss, get_loss
from .network import Network
from .training import TrainingStep


@dataclass
class GradcheckReport:
    """Relative error per checked array (``"layers[0].W"``, ..., ``"X"``) and the worst one."""

    errors: dict[str, float] = field(default_factory=dict)

    @property
    def worst(self) -> float:
        return max(self.errors.values(), default=0.0)

    @property
    def worst_name(self) -> str | None:
        return max(self.errors, key=self.errors.get) if self.errors else None

    def __repr__(self) -> str:
        return f"GradcheckReport(worst={self.worst:.2e} at {self.worst_name!r})"


# Central differences in float64 carry round-off of about 1e-16 |L| / eps ~ 1e-10: gradients
# whose norms are both below this floor are zero as far as the check can tell.
ZERO_FLOOR = 1e-7


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """``||a - n|| / max(||a||, ||n||)``; zero when both norms are below ``ZERO_FLOOR``."""
    scale = max(float(np.linalg.norm(analytic)), float(np.linalg.norm(numeric)))
    if scale < ZERO_FLOOR:
        return 0.0
    return float(np.linalg.norm(analytic - numeric)) / scale


def gradcheck(
    model: Network,
    X: Any,
    y: Any,
    loss: str | Loss = "mse",
    eps: float = 1e-6,
    training: bool = True,
    check_input: bool = True,
) -> GradcheckReport:
    """Compare the model's analytic gradients with central differences, in float64.

    The model is copied to float64 first (it is not changed, except that an unbuilt model is
    built). Gradients are those of the training step, the one ``fit`` takes: dropout masks and
    batch statistics are used, and the random generator and batch-norm statistics are reset
    before every evaluation so each one sees the same mask. (Inference records nothing for a
    backward pass, so ``training=False`` is refused.) The loss is the one ``fit`` would
    minimise: fused with a softmax or sigmoid head where it can be, plus the layers' penalties.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn import Sequential, gradcheck
    >>> from scratchnn.layers import Dense
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    >>> model = Sequential([Dense(4, "tanh"), Dense(2)], seed=0)
    >>> gradcheck(model, X, y, loss="mse").worst < 1e-6
    True
    """
    if not isinstance(model, Network):
        raise TypeError(f"model must be a Sequential, got {check.describe(model)}")
    if training is not True:
        raise ValueError(
            f"training must be True: gradients are those of the training pass, got {training!r}"
        )
    eps = check.check_positive_number(eps, "eps")
    X = model.check_inputs(X)
    if not model.built:
        model.build(X.shape[1:])
    several_in, several_out = model.n_inputs > 1, model.n_outputs > 1
    inputs = [np.asarray(x[:], dtype=np.float64) for x in (X.arrays if several_in else [X])]
    targets = list(y) if several_out and isinstance(y, (list, tuple)) else [y]
    if several_out and len(targets) != model.n_outputs:
        raise ValueError(
            f"y must hold one array per output ({model.n_outputs}), got {len(targets)}"
        )
    losses = list(loss) if isinstance(loss, (list, tuple)) else [loss] * len(targets)
    losses = [get_loss(one) for one in losses]
    net = model.copy(dtype="float64")
    net.set_input_gradient(check_input)
    prepared = []
    for index, (target, one, shape) in enumerate(
        zip(targets, losses, net.output_shapes, strict=True)
    ):
        name = "y" if len(targets) == 1 else f"y[{index}]"
        target = check.check_array(
            target, name, ndim=(1, 2) if len(shape) == 1 else (len(shape), len(shape) + 1)
        )
        if len(target) != len(inputs[0]):
            raise ValueError(f"X and {name} must have the same number of samples")
        prepared.append(
            one.prepare_targets(target, shape[0] if len(shape) == 1 else shape, np.float64)
        )
    y = prepared if several_out else prepared[0]
    step = TrainingStep(net, losses if several_out else losses[0])
    start = net.get_state()

    def evaluate(batch: list[np.ndarray]) -> tuple[float, Any]:
        # The same dropout mask and batch-norm statistics every time, with these weights.
        net.set_state(dict(start, params=net.params), checked=False)
        result = step.loss_and_gradients(batch if several_in else batch[0], y)
        grads = result.input_gradient
        return result.loss, grads if several_in else [grads]

    _, analytic_inputs = evaluate(inputs)
    analytic_params = net.grads.copy()
    report = GradcheckReport()

    numeric_params = np.empty_like(net.params)
    for i in range(net.params.size):
        original = net.params[i]
        net.params[i] = original + eps
        plus, _ = evaluate(inputs)
        net.params[i] = original - eps
        minus, _ = evaluate(inputs)
        net.params[i] = original
        numeric_params[i] = (plus - minus) / (2 * eps)

    offset = 0
    for index, layer in enumerate(net.layers):
        label = f"layers[{index}]" if not net.is_graph else layer.name
        for name, value in layer.params.items():
            rows = slice(offset, offset + value.size)
            report.errors[f"{label}.{name}"] = relative_error(
                analytic_params[rows], numeric_params[rows]
            )
            offset += value.size

    if check_input:
        for position, x in enumerate(inputs):
            numeric_input = np.empty_like(x)
            for i in np.ndindex(x.shape):
                shifted = [array.copy() for array in inputs]
                shifted[position][i] += eps
                plus, _ = evaluate(shifted)
                shifted[position][i] -= 2 * eps
                minus, _ = evaluate(shifted)
                numeric_input[i] = (plus - minus) / (2 * eps)
            name = "X" if not several_in else f"X[{net.input_names[position]!r}]"
            report.errors[name] = relative_error(analytic_inputs[position], numeric_input)
    return report
