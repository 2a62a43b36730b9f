"""The topology of a model: its nodes in the order they run, and the one traversal of each kind.

A model is a directed acyclic graph of layer calls (nodes). A :class:`Topology` orders them so
that each node comes after the nodes that make its inputs, gives every tensor a slot in a list,
and runs the passes over that list:

* :meth:`Topology.forward` runs the nodes in order, each reading its inputs' slots and writing
  its outputs' slots;
* :meth:`Topology.backward` runs them in reverse, each turning the gradient of its output into
  gradients of its inputs. Where one tensor feeds several nodes (a fork, a skip connection), the
  gradients that come back to it are *summed*: by the chain rule, ``dL/dx`` is the sum over
  every path from ``x`` to the loss (micrograd's ``+=``).

A chain (``Sequential``) is the special case with one slot per layer boundary. A layer called
twice (shared weights) appears as two nodes; the topology keeps one training record per node
and sums the gradients the calls give to the layer's weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .layers.base import Layer
from .layers.input import InputLayer
from .layers.symbolic import Node, SymbolicTensor

# Hostile or careless graphs are refused before anything runs: these bound what a model may hold.
MAX_NODES = 10_000


class GraphError(ValueError):
    """A graph that cannot be a model: a cycle, a missing input, a tensor of another graph."""


class Topology:
    """Nodes in run order, each with the slots of the tensors it reads and writes.

    Attributes
    ----------
    layers : list of Layer
        Each layer once, in the order of its first call (the order of ``params``).
    nodes : list of (Layer, sources, target)
        ``sources`` is a slot (an int) or, for a layer that ``takes_list``, a tuple of slots;
        ``target`` is a slot, or a tuple for a layer with several outputs.
    input_slots, output_slots : list of int
        Where the model's inputs go and where its outputs are read.
    """

    def __init__(
        self,
        layers: list[Layer],
        nodes: list[tuple[Layer, Any, Any]],
        input_slots: list[int],
        output_slots: list[int],
        slot_count: int,
    ) -> None:
        self.layers = layers
        self.nodes = nodes
        self.input_slots = input_slots
        self.output_slots = output_slots
        self.slot_count = slot_count
        self.is_chain = (
            len(input_slots) == 1
            and output_slots == [len(nodes)]
            and all(node[1] == i and node[2] == i + 1 for i, node in enumerate(nodes))
        )
        position = {id(layer): i for i, layer in enumerate(layers)}
        # Observers (diagnostics) hear of a node by its layer's position in ``layers``.
        self.layer_index = [position[id(layer)] for layer, _, _ in nodes]
        uses: dict[int, int] = {}
        for layer, _, _ in nodes:
            uses[id(layer)] = uses.get(id(layer), 0) + 1
        self.shared = {i for i, (layer, _, _) in enumerate(nodes) if uses[id(layer)] > 1}
        self._records: dict[int, Any] = {}  # per node of a shared layer: its training record
        # Padded sequences: a layer that starts a mask (Embedding(mask_zero=True)) makes the
        # traversal carry one per tensor; without one, nothing is looked up.
        self.masked = any(layer.makes_mask for layer in layers)
        self._needs_backward = [True] * len(nodes)
        self._needs_input_grad = [True] * len(nodes)
        self._training_values: list[Any] = []

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def chain(cls, layers: Sequence[Layer]) -> Topology:
        """Each layer's output is the next one's input: slot ``i`` feeds layer ``i``."""
        nodes = [(layer, i, i + 1) for i, layer in enumerate(layers)]
        return cls(list(layers), nodes, [0], [len(layers)], len(layers) + 1)

    @classmethod
    def from_tensors(
        cls, inputs: Sequence[SymbolicTensor], outputs: Sequence[SymbolicTensor]
    ) -> tuple[Topology, list[Node]]:
        """Order the nodes between ``inputs`` and ``outputs``; also returns them as ``Node``s.

        Raises :class:`GraphError` when an output needs a tensor that no input leads to, or an
        input is not an ``Input``.
        """
        for position, tensor in enumerate(inputs):
            if not isinstance(tensor.node.layer, InputLayer):
                raise GraphError(
                    f"inputs[{position}] must be a tensor made by Input(...), got "
                    f"{tensor!r}, the output of a layer"
                )
        input_nodes = {id(t.node): t for t in inputs}
        if len(input_nodes) != len(inputs):
            raise GraphError("inputs must not name the same Input twice")
        order: list[Node] = []
        state: dict[int, int] = {}  # 1: being visited, 2: done
        for output in outputs:  # iterative depth-first search: a 100,000-deep chain is fine
            stack: list[tuple[Node, int]] = [(output.node, 0)]
            while stack:
                node, next_input = stack.pop()
                key = id(node)
                if next_input == 0:
                    if state.get(key) == 2:
                        continue
                    if isinstance(node.layer, InputLayer) and key not in input_nodes:
                        raise GraphError(
                            f"the outputs depend on the input {node.outputs[0]!r}, which is not "
                            "among the model's inputs: add it to inputs=[...]"
                        )
                    state[key] = 1
                if next_input < len(node.inputs):
                    stack.append((node, next_input + 1))
                    parent = node.inputs[next_input].node
                    if state.get(id(parent)) == 1:
                        raise GraphError(f"the graph has a cycle through {parent!r}")
                    if state.get(id(parent)) != 2:
                        stack.append((parent, 0))
                    continue
                state[key] = 2
                if not isinstance(node.layer, InputLayer):
                    order.append(node)
                    if len(order) > MAX_NODES:
                        raise GraphError(f"a model may hold at most {MAX_NODES} layer calls")
        slots: dict[tuple[int, int], int] = {}
        for position, tensor in enumerate(inputs):
            slots[(id(tensor.node), 0)] = position
        nodes: list[tuple[Layer, Any, Any]] = []
        layers: list[Layer] = []
        seen_layers: set[int] = set()
        for node in order:
            sources = tuple(slots[(id(t.node), t.index)] for t in node.inputs)
            targets = []
            for tensor in node.outputs:
                slots[(id(node), tensor.index)] = len(slots)
                targets.append(slots[(id(node), tensor.index)])
            source = sources if node.layer.takes_list else sources[0]
            target = tuple(targets) if node.several_outputs else targets[0]
            nodes.append((node.layer, source, target))
            if id(node.layer) not in seen_layers:
                seen_layers.add(id(node.layer))
                layers.append(node.layer)
        output_slots = [slots[(id(t.node), t.index)] for t in outputs]
        return cls(layers, nodes, list(range(len(inputs))), output_slots, len(slots)), order

    def prepare(self, input_gradient: bool) -> None:
        """Decide, once the layers are built, which nodes need a backward pass at all.

        A node needs one when it has weights or something below it does (or the model's own
        inputs want a gradient); a node whose inputs need no gradient skips computing it (for
        the first Dense layer, a third of its matrix products).
        """
        wants = [False] * self.slot_count
        for slot in self.input_slots:
            wants[slot] = input_gradient
        for index, (layer, source, target) in enumerate(self.nodes):
            sources = source if isinstance(source, tuple) else (source,)
            needs_input = any(wants[s] for s in sources)
            self._needs_input_grad[index] = needs_input
            self._needs_backward[index] = needs_input or bool(layer.params)
            for slot in target if isinstance(target, tuple) else (target,):
                wants[slot] = self._needs_backward[index]
            if index not in self.shared:
                layer.needs_input_grad = needs_input
        self._records.clear()

    # -- the passes -----------------------------------------------------------------------------
    def chain_passes(self, fused: frozenset[int] = frozenset()) -> ChainPasses | None:
        """For a stack without shared layers, its two passes with each layer's method bound
        once (the last layer's logits variants where ``fused``); ``None`` for any other graph.

        A tiny network's step is bound by Python's calls, not its arithmetic: this keeps a stack
        as fast as the plain loops it had before graphs.
        """
        if not self.is_chain or self.shared or self.masked:
            return None
        layers = [layer for layer, _, _ in self.nodes]
        forwards = [
            layer.forward_logits if i in fused else layer.forward for i, layer in enumerate(layers)
        ]
        backwards = [
            layer.backward_logits if i in fused else layer.backward
            for i, layer in enumerate(layers)
        ]
        return ChainPasses(forwards, backwards[::-1])

    def forward(
        self,
        inputs: list[np.ndarray],
        training: bool,
        fused: frozenset[int] = frozenset(),
        observers: Sequence[Callable[[int, Layer, Any], None]] = (),
        output_masks: list | None = None,
    ) -> list[np.ndarray]:
        """Run every node in order; returns the model's outputs (logits at ``fused`` nodes).

        In a masked topology each tensor carries a mask of its real steps (``None``: every step
        is real): a node's input mask goes to a layer that ``uses_mask`` and through its
        ``compute_mask`` to its outputs; ``output_masks``, a list, receives the outputs' masks.

        Each observer is called as ``observe(i, layer, output)`` after each node, ``i`` the
        layer's position in :attr:`layers` (a shared layer's calls all report to it).

        Inference writes nothing on the topology or its layers. Training records what the
        backward pass needs: on each layer, and here for the calls of a shared layer.
        """
        values: list[Any] = [None] * self.slot_count
        masks: list[Any] | None = [None] * self.slot_count if self.masked else None
        for slot, value in zip(self.input_slots, inputs, strict=True):
            values[slot] = value
        for index, (layer, source, target) in enumerate(self.nodes):
            x = [values[s] for s in source] if isinstance(source, tuple) else values[source]
            shared = training and index in self.shared
            if shared:
                layer.load_record(self._records.get(index))
                layer.needs_input_grad = self._needs_input_grad[index]
            mask = None
            if masks is not None:
                mask = [masks[s] for s in source] if isinstance(source, tuple) else masks[source]
                if isinstance(mask, list) and all(m is None for m in mask):
                    mask = None
            if mask is not None and layer.uses_mask:
                y = layer.forward(x, training, mask=mask)
            elif index in fused:
                y = layer.forward_logits(x, training)
            else:
                y = layer.forward(x, training)
            if masks is not None:
                made = layer.compute_mask(x, mask)
                for slot, part in zip(
                    target if isinstance(target, tuple) else (target,),
                    made
                    if isinstance(target, tuple) and isinstance(made, list)
                    else [made] * (len(target) if isinstance(target, tuple) else 1),
                    strict=True,
                ):
                    masks[slot] = part
            if shared:
                self._records[index] = layer.save_record()
            if isinstance(target, tuple):
                for slot, value in zip(target, y, strict=True):
                    values[slot] = value
            else:
                values[target] = y
            for observe in observers:
                observe(self.layer_index[index], layer, y)
        if training:
            self._training_values = values
        if output_masks is not None and masks is not None:
            output_masks.extend(masks[s] for s in self.output_slots)
        return [values[s] for s in self.output_slots]

    def backward(
        self,
        output_grads: list[np.ndarray | None],
        fused: frozenset[int] = frozenset(),
        observers: Sequence[Callable[[int, Layer, Any], None]] = (),
    ) -> list[np.ndarray | None]:
        """Backpropagate the outputs' gradients through the last training forward.

        Fills every layer's ``grads`` (a shared layer's: the sum over its calls) and returns
        ``dL/d(input)`` per model input (``None`` where nothing was computed).

        Each observer is called as ``observe(i, layer, grad_input)`` after each node's backward,
        with what it returned (``dL/d(its input)``, a list for several inputs, ``None`` where
        nothing needed it); ``i`` as in :meth:`forward`.
        """
        chain = None if observers else self.chain_passes(fused)
        if chain is not None:
            return [chain.backward(output_grads[0])]
        grads: list[Any] = [None] * self.slot_count
        touched: set[int] = set()  # layers whose gradients this pass has written
        for slot, grad in zip(self.output_slots, output_grads, strict=True):
            if grad is not None:
                grads[slot] = grad if grads[slot] is None else grads[slot] + grad
        for index in range(len(self.nodes) - 1, -1, -1):
            layer, source, target = self.nodes[index]
            if not self._needs_backward[index]:
                continue
            if isinstance(target, tuple):
                outgoing = [grads[s] for s in target]
                if all(g is None for g in outgoing):
                    continue
                grad = [
                    np.zeros_like(self._training_values[s]) if g is None else g
                    for s, g in zip(target, outgoing, strict=True)
                ]
            else:
                grad = grads[target]
                if grad is None:  # no path from this node to the loss
                    continue
            if index in self.shared:
                grad_inputs = self._shared_backward(
                    index, layer, grad, index in fused, id(layer) in touched
                )
            else:
                grad_inputs = (
                    layer.backward_logits(grad) if index in fused else layer.backward(grad)
                )
            touched.add(id(layer))
            for observe in observers:
                observe(self.layer_index[index], layer, grad_inputs)
            if grad_inputs is None:
                continue
            if isinstance(source, tuple):
                pairs = zip(source, grad_inputs, strict=True)
            else:
                pairs = ((source, grad_inputs),)
            for slot, grad_input in pairs:
                if grad_input is None:
                    continue
                # A fork: the gradients of every path from this tensor add up (a new array, so
                # no layer's own buffer is changed).
                grads[slot] = grad_input if grads[slot] is None else grads[slot] + grad_input
        for layer in self.layers:  # weights no path to the loss passes through: no gradient
            if layer.grads and id(layer) not in touched:
                for value in layer.grads.values():
                    value[...] = 0
        return [grads[s] for s in self.input_slots]

    def _shared_backward(
        self, index: int, layer: Layer, grad: Any, fused: bool, add_to_earlier: bool
    ) -> Any:
        """Backward of one call of a shared layer: its gradients add to the other calls'."""
        earlier = {k: v.copy() for k, v in layer.grads.items()} if add_to_earlier else None
        layer.load_record(self._records.get(index))
        layer.needs_input_grad = self._needs_input_grad[index]
        grad_inputs = layer.backward_logits(grad) if fused else layer.backward(grad)
        self._records[index] = layer.save_record()
        if earlier:
            for key, value in earlier.items():
                layer.grads[key] += value
        return grad_inputs

    def __getstate__(self) -> dict[str, Any]:
        """Copies start without training records."""
        state = dict(self.__dict__)
        state["_records"] = {}
        state["_training_values"] = []
        return state


class ChainPasses:
    """The forward and backward pass of a stack: each layer's output is the next one's input.

    Made by :meth:`Topology.chain_passes`; the same calls :meth:`Topology.forward` and
    :meth:`Topology.backward` make for a chain, without slots to look up.
    """

    def __init__(self, forwards: list[Callable], backwards: list[Callable]) -> None:
        self.forwards = forwards
        self.backwards = backwards  # last layer first

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        for forward in self.forwards:
            x = forward(x, training)
        return x

    def backward(self, grad: np.ndarray) -> np.ndarray | None:
        for backward in self.backwards:
            if grad is None:  # below the first layer with weights: nothing needs a gradient
                return None
            grad = backward(grad)
        return grad
