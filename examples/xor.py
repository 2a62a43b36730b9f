"""The tutorial's final listing, run on scratchnn: only the class definition became an import.

Run: python examples/xor.py
"""

import numpy as np

from scratchnn import NeuralNetwork

# A 2-3-1 network, as in the tutorial.
nn = NeuralNetwork(input_dim=2, hidden_dim=3, output_dim=1)

# The four XOR cases, as integer arrays.
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
y = np.array([[0], [1], [1], [0]])

nn.train(X, y, epochs=10000)

output = nn.forward(X)
print(output)
