"""Names of the activations, losses, schedules and optimizers, the integer
codes the backends use, and the schedules' learning rates.

The code of a name is its index in the tuple.  The compiled core imports
these tuples and LEAKY_SLOPE from here; its C enums (_declarations.pxi)
mirror the codes, and ``_core.ENUMS`` names each enum, so that a test
checks that the two agree.
"""

ACTIVATIONS = ("identity", "tanh", "sigmoid", "relu", "leaky_relu", "softmax", "exp")
HIDDEN_ACTIVATIONS = ACTIVATIONS[:5]  # softmax and exp are for the output layer only
LOSSES = ("squared", "cross_entropy", "poisson")
# The output activations each loss accepts where it is not "squared" (with
# them its delta^(L) is x^(L) - y).
LOSS_OUTPUTS = {"cross_entropy": ("sigmoid", "softmax"), "poisson": ("exp",)}
LEAKY_SLOPE = 0.01
# Learning-rate schedules the cores apply per update; "adaptive" works per epoch.
SCHEDULES = ("constant", "invscaling", "optimal")
OPTIMIZERS = ("sgd", "adam", "adagrad")


def scheduled_lr(schedule, lr, t, power_t, alpha):
    """The learning rate of update number t = 1, 2, ... of the schedule with
    code ``schedule``: lr; lr / t^power_t (invscaling); or
    lr / (1 + lr alpha (t - 1)) (optimal, Bottou's)."""
    if SCHEDULES[schedule] == "invscaling":
        return lr / t**power_t
    if SCHEDULES[schedule] == "optimal":
        return lr / (1 + lr * alpha * (t - 1))
    return lr
