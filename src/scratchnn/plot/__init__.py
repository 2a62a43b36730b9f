"""Pictures of data, training and networks, drawn with matplotlib (``pip install scratchnn[plot]``).

Each function returns a :class:`matplotlib.figure.Figure` and, given ``path``, also saves it as a
PNG of ``figsize * dpi`` pixels. Figures are built without ``pyplot``, so no window opens and no
global figure state is kept; matplotlib is imported only when a function here is called.
"""

from .attention import attention_weights, plot_attention
from .classification import (
    confusion_matrix,
    decision_grid,
    plot_confusion_matrix,
    plot_decision_boundary,
)
from .conv import feature_maps, filter_images, plot_feature_maps, plot_filters
from .curves import plot_learning_curves
from .diagnostics import (
    plot_activation_histograms,
    plot_dead_units,
    plot_gradient_norms,
    plot_time_gradients,
    plot_update_ratios,
)
from .histograms import layer_activations, plot_weight_histograms
from .network import NEGATIVE, POSITIVE, plot_network, shown_neurons

__all__ = [
    "NEGATIVE",
    "POSITIVE",
    "attention_weights",
    "confusion_matrix",
    "decision_grid",
    "feature_maps",
    "filter_images",
    "layer_activations",
    "plot_attention",
    "plot_activation_histograms",
    "plot_confusion_matrix",
    "plot_dead_units",
    "plot_decision_boundary",
    "plot_feature_maps",
    "plot_filters",
    "plot_gradient_norms",
    "plot_learning_curves",
    "plot_network",
    "plot_time_gradients",
    "plot_update_ratios",
    "plot_weight_histograms",
    "shown_neurons",
]
