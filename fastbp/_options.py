"""What a training call is asked to do, checked once (``Options``, frozen),
and how one pass runs it (``Plan``: threads, round, mode; also frozen).

The backends' ``train_pass`` takes both; the compiled core copies them into
its C struct in one function (``step_of`` in _core.pyx) and reads nothing
else of them.
"""

import dataclasses

import numpy as np

from . import _parallel
from . import _validation as check
from ._names import OPTIMIZERS, SCHEDULES, scheduled_lr


@dataclasses.dataclass(frozen=True)
class Options:
    """The update rule and the training options of one call, checked (see
    ``Network.fit``); made by ``Options.check``, never changed after.

    ``clip`` 0 means no clipping; ``average`` is the update averaging starts
    at (0: off); ``schedule`` is the code (index of SCHEDULES) of the
    per-update schedule, 0 for "adaptive" (whose lr changes between epochs:
    ``with_lr``).
    """

    lr: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    clip: float = 0.0
    lr_schedule: str = "constant"
    power_t: float = 0.25
    patience: int = 5
    tol: float = 1e-4
    average: int = 0
    batch_size: int = 1
    n_threads: int = 1
    parallel: object = None
    optimizer: str = "sgd"
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8

    @classmethod
    def check(
        cls,
        lr=0.01,
        momentum=0.0,
        nesterov=False,
        weight_decay=0.0,
        clip=None,
        lr_schedule="constant",
        power_t=0.25,
        patience=5,
        tol=1e-4,
        average=False,
        batch_size=1,
        n_threads=1,
        parallel=None,
        optimizer="sgd",
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
    ):
        """The options, each checked (a clear error naming the argument)."""
        lr = check.learning_rate(lr)
        momentum = check.real_in(momentum, "momentum", 0.0, 1.0)
        nesterov = check.boolean(nesterov, "nesterov")
        if nesterov and momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        optimizer = check.choice(optimizer, "optimizer", OPTIMIZERS)
        if optimizer != "sgd" and momentum:
            raise ValueError(
                f"momentum and nesterov are optimizer='sgd''s; got optimizer="
                f"{optimizer!r} with momentum={momentum}"
            )
        beta_1 = check.real_in(beta_1, "beta_1", 0.0, 1.0)
        beta_2 = check.real_in(beta_2, "beta_2", 0.0, 1.0)
        epsilon = check.positive_real(epsilon, "epsilon")
        weight_decay = check.real_in(weight_decay, "weight_decay", 0.0, None)
        clip = 0.0 if clip is None else check.positive_real(clip, "clip")
        lr_schedule = check.choice(lr_schedule, "lr_schedule", SCHEDULES + ("adaptive",))
        if lr_schedule == "optimal" and weight_decay == 0:
            raise ValueError("lr_schedule='optimal' needs weight_decay > 0 (its alpha)")
        power_t = check.real_in(power_t, "power_t", 0.0, None)
        patience = check.integer(patience, "patience", 1)
        tol = check.real_in(tol, "tol", 0.0, None)
        if isinstance(average, (bool, np.bool_)):
            average = int(average)  # True: from the first update
        else:
            average = check.integer(average, "average", 1)
        batch_size = check.integer(batch_size, "batch_size", 1, check.MAX_BATCH)
        n_threads = check.threads(n_threads)
        if parallel is not None:
            parallel = check.choice(parallel, "parallel", _parallel.MODES)
        options = cls(
            lr,
            momentum,
            nesterov,
            weight_decay,
            clip,
            lr_schedule,
            power_t,
            patience,
            tol,
            average,
            batch_size,
            n_threads,
            parallel,
            optimizer,
            beta_1,
            beta_2,
            epsilon,
        )
        if options.serial and n_threads > 1:
            what = "average" if average else f"optimizer={optimizer!r}"
            raise ValueError(
                f"{what} needs n_threads=1: its state (the running mean of the "
                "weights, or the moments) is kept per update, serially"
            )
        return options

    def with_lr(self, lr):
        """These options with another (checked) lr: the adaptive schedule's."""
        return dataclasses.replace(self, lr=lr)

    @property
    def schedule(self):
        """The code of the per-update schedule ("adaptive": constant within an epoch)."""
        return SCHEDULES.index(self.lr_schedule) if self.lr_schedule in SCHEDULES else 0

    @property
    def serial(self):
        """Averaged SGD and Adam keep a state per update: one thread (Adagrad's
        sums of squares add up over threads: see ``plan``)."""
        return bool(self.average) or self.optimizer == "adam"

    @property
    def dense_only(self):
        """The option set here that sparse inputs do not take yet, or None."""
        for name, used in (
            ("average", bool(self.average)),
            ("batch_size > 1", self.batch_size > 1),
            ("momentum with weight_decay", self.momentum > 0 and self.weight_decay > 0),
        ):
            if used:
                return name
        return None

    @property
    def needs_velocity(self):
        """The velocity is momentum's state: without momentum it is left alone."""
        return self.momentum > 0

    def lazy_rows(self, sparse):
        """Whether a pass on ``sparse`` X brings W^(1)'s rows up to date
        lazily (the compiled core: _lazy.pxi)."""
        return (
            bool(sparse)
            and self.optimizer == "sgd"
            and self.batch_size == 1
            and (self.momentum > 0 or self.weight_decay > 0)
        )

    def lr_of_update(self, t):
        """The learning rate of update number t (1, 2, ...) of the per-update schedules."""
        return scheduled_lr(self.schedule, self.lr, max(t, 1), self.power_t, self.weight_decay)

    def _serial_reason(self, sparse, mode):
        """Why a pass on ``sparse`` X or not in ``mode`` runs on one thread
        (None: it need not)."""
        if self.optimizer == "adagrad" and not sparse:
            return (
                "optimizer='adagrad' trains on several threads only on sparse X (the "
                "shards' or threads' sums of squares are added to the shared ones)"
            )
        if sparse and self.optimizer == "sgd" and (self.momentum or self.weight_decay):
            return (
                "momentum and weight_decay train on sparse X on one thread (the rows "
                "of W^(1) catch up on the updates they missed when an example reads "
                "them)"
            )
        return None

    def plan(
        self, backend, updates_done, examples, sparse, moments_from=0, n_weights=0, itemsize=8
    ):
        """The Plan of a pass over ``examples`` (0: unknown) after
        ``updates_done`` updates, on ``sparse`` X (CSR rows) or dense;
        ``moments_from``: the update the optimizer's moments started at;
        ``n_weights`` and ``itemsize``: the network's, which bound the
        copies' memory.  The schedule (serial, the copies' shards and their
        size, or Hogwild!) depends on the options and these alone; only
        ``threads``, how many run it, on the machine."""
        mode = self.parallel or "copies"
        reason = self._serial_reason(sparse, mode)
        if reason and self.n_threads > 1:
            raise ValueError(f"{reason}: give n_threads=1")
        asked = 1 if self.serial or reason else self.n_threads
        if asked != 1 and mode == "copies":
            if sparse:
                bounds = _parallel.sparse_copies_schedule(self, updates_done, examples)
            else:
                bounds = _parallel.copies_schedule(
                    self, updates_done, examples, n_weights, itemsize
                )
            threads = _parallel.threads_for_shards(backend, asked, bounds, n_weights)
            size = bounds[-1] if bounds else 0
        else:
            bounds, threads = (), _parallel.threads(backend, asked)
            size = _parallel.hogwild_round(self, threads, updates_done, examples) if sparse else 0
        return Plan(
            threads=threads,
            round=size,
            mode=mode,
            sparse=sparse,
            moments_from=moments_from,
            velocity=self.needs_velocity,
            bounds=bounds,
        )


def unchanged(given, before):
    """Whether the arguments ``given`` (a tuple) are those of ``before``,
    whose checked Options can then be used again (an argument that does
    not compare, an array say, counts as changed)."""
    try:
        return bool(given == before)
    except (TypeError, ValueError):
        return False


@dataclasses.dataclass(frozen=True)
class Plan:
    """How one pass runs: ``threads``, ``round`` (the examples of a round
    of parallel="copies", or a thread's between exchanges with "hogwild" on
    sparse X; 0: none), ``mode`` ("copies" or "hogwild"), whether X is
    ``sparse`` (CSR rows), the update the optimizer's moments started at
    (``moments_from``: Adam's bias correction counts its own steps),
    whether the copies copy the ``velocity`` too, and where in a round the
    copies' shards start, then its end (``bounds``: 0, ..., round; (): no
    copies, the serial pass or Hogwild!)."""

    threads: int = 1
    round: int = 0
    mode: str = "copies"
    sparse: bool = False
    moments_from: int = 0
    velocity: bool = False
    bounds: tuple = ()

    def __post_init__(self):
        # the core reads the shards where the bounds say, unchecked
        if self.bounds and (
            len(self.bounds) < 2
            or self.bounds[0] != 0
            or self.bounds[-1] != self.round
            or min(_parallel.shard_sizes(self.bounds)) <= 0
        ):
            raise ValueError(
                f"a Plan's bounds must rise from 0 to its round ({self.round}), got {self.bounds}"
            )

    @property
    def shards(self):
        """The copies' shards a round (0: no copies)."""
        return max(0, len(self.bounds) - 1)
