"""Names of the activations and losses, and the integer codes the backends use.

The code of a name is its index in the tuple.  ``fastbp/_core.pyx`` mirrors
these tuples in C enums; a test checks that the two agree.
"""

ACTIVATIONS = ("identity", "tanh", "sigmoid", "relu", "leaky_relu", "softmax")
HIDDEN_ACTIVATIONS = ACTIVATIONS[:-1]  # softmax is for the output layer only
LOSSES = ("squared", "cross_entropy")
# Output activations that cross-entropy accepts (its delta^(L) is x^(L) - y).
CROSS_ENTROPY_OUTPUTS = ("sigmoid", "softmax")
LEAKY_SLOPE = 0.01
# Learning-rate schedules the cores apply per update; "adaptive" works per epoch.
SCHEDULES = ("constant", "invscaling", "optimal")
