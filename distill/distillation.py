"""Dataset distillation: learn synthetic data and step sizes (the outer loop).

One outer iteration (see ``shared/paper.md``, "The algorithm"):

1. draw a batch of real examples and one or more initial weights theta0;
2. train each theta0 on the distilled data with the learned step sizes,
   keeping the graph (:func:`distill.unroll.unroll`);
3. measure the loss of the trained weights on the real batch;
4. back-propagate that loss to the distilled inputs and the step sizes and
   take one Adam step on them.

:func:`distill` runs the loop and returns a :class:`Distilled`; with an
``output`` path it checkpoints to that file and resumes from it.
"""

import dataclasses
import math
import os
import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .version import __version__
from .errors import DistillError, DivergedError
from .models import INITS, make_model, sample_params
from .unroll import (
    LOSSES, loss_and_grad, loss_function, unroll, unroll_batch,
)

INIT_MODES = ("fixed", "random", "pretrained")
IMAGE_INITS = ("noise", "real")
FILE_FORMAT = "distill-result"
FILE_FORMAT_VERSION = 1

# Settings that change how the hypergradient is computed (memory, speed,
# float rounding), not what it is: a run may be resumed with other values.
HOW_NOT_WHAT = ("checkpoint_unroll", "vmap_inits", "batch_chunk")


@dataclass(frozen=True)
class Settings:
    """Everything that defines a distillation run; stored with its result.

    Attributes:
        dataset: data set name (for the record and for loading).
        model: model name, see :data:`distill.models.MODELS`.
        init: how theta0 is drawn each iteration: ``fixed`` (one theta0 from
            the seed), ``random`` (fresh draws from ``initializer``) or
            ``pretrained`` (draws from a pool of trained weights).
        initializer: the distribution of theta0 (``xavier`` by default).
        images_per_class: distilled inputs per class and per step (for
            regression: distilled points per step).
        steps: S, inner gradient steps, each with its own distilled batch.
        epochs: E, passes over the S steps, each with its own step sizes.
        iterations: outer iterations T.
        batch_size: real examples per outer iteration (the first
            iterations' when the batch grows).
        batch_size_double_every: iterations between doublings of the real
            batch (0: never). A batch that grows as the run goes on gives
            fast, noisy iterations at first and a steadier gradient later,
            as a decaying step size does; see :meth:`batch_size_at`.
        batch_size_max: the largest real batch the doublings reach (0 when
            the batch does not grow).
        inits_per_iteration: theta0 draws per iteration (random/pretrained).
        lr: Adam's step size on the distilled data and step sizes.
        betas: Adam's betas.
        lr_decay_every: iterations between decays of ``lr`` (0: never).
        lr_decay_factor: factor applied at each decay.
        step_size_init: initial learned step size eta0.
        image_init: ``noise`` (standard normal) or ``real`` (random real
            examples of each class, the "optimized real images" variant).
        learn_images: learn the inputs; False learns the step sizes only
            (how baselines get the same training procedure).
        learn_labels: learn the targets too (regression only).
        seed: seeds every random draw of the run.
        checkpoint_unroll: store no activations of the inner steps: keep
            the weights at the start of about sqrt(T) segments of the T
            back-propagated steps and recompute them in the backward pass
            (the same gradient up to float rounding; the unroll takes two
            more passes without a graph; see :func:`distill.unroll.unroll`).
        truncate: 0 back-propagates through all ``steps * epochs`` inner
            steps; N > 0 through the last N only (truncated back-propagation:
            less time and memory, a biased gradient, and no gradient for
            the images and step sizes of the earlier steps).
        vmap_inits: run the ``inits_per_iteration`` initializations together
            under ``torch.func.vmap`` (fewer, larger operations; holds all
            their graphs at once); False runs them one after another.
        batch_chunk: 0 evaluates the real-data loss on the whole batch at
            once; N > 0 in chunks of N examples (memory of one chunk's
            activations); None (the default) chooses by device, see
            :func:`batch_chunk_for`.
    """

    dataset: str = "mnist"
    model: str = "lenet"
    init: str = "fixed"
    initializer: str = "xavier"
    images_per_class: int = 1
    steps: int = 1
    epochs: int = 1
    iterations: int = 500
    batch_size: int = 1024
    batch_size_double_every: int = 0
    batch_size_max: int = 0
    inits_per_iteration: int = 1
    lr: float = 0.01
    betas: tuple = (0.5, 0.999)
    lr_decay_every: int = 0
    lr_decay_factor: float = 0.5
    step_size_init: float = 0.02
    image_init: str = "noise"
    learn_images: bool = True
    learn_labels: bool = False
    seed: int = 0
    checkpoint_unroll: bool = False
    truncate: int = 0
    vmap_inits: bool = False
    batch_chunk: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        self.validate()

    def validate(self):
        """Raise :class:`DistillError` naming the first bad setting."""
        if self.init not in INIT_MODES:
            raise DistillError(
                f"unknown init mode {self.init!r}; choose one of "
                f"{', '.join(INIT_MODES)}"
            )
        if self.initializer not in INITS:
            raise DistillError(
                f"unknown initializer {self.initializer!r}; choose one of "
                f"{', '.join(INITS)}"
            )
        if self.image_init not in IMAGE_INITS:
            raise DistillError(
                f"unknown image init {self.image_init!r}; choose one of "
                f"{', '.join(IMAGE_INITS)}"
            )
        positive = (
            "images_per_class", "steps", "epochs", "iterations", "batch_size",
            "inits_per_iteration",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                flag = "--" + name.replace("_", "-")
                raise DistillError(
                    f"{name} must be a positive integer, got {value!r}; "
                    f"set {flag} to 1 or more"
                )
        for name in ("lr", "step_size_init", "lr_decay_factor"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value > 0
                    and math.isfinite(value)):
                flag = "--" + name.replace("_", "-")
                raise DistillError(
                    f"{name} must be a positive number, got {value!r}; fix {flag}"
                )
        if self.lr_decay_every < 0:
            raise DistillError(
                "lr_decay_every must be 0 (never) or a positive number of "
                f"iterations, got {self.lr_decay_every}"
            )
        zero_means = {
            "truncate": "every step", "batch_chunk": "the whole batch",
            "batch_size_double_every": "never", "batch_size_max": "a fixed batch",
        }
        for name, meaning in zero_means.items():
            value = getattr(self, name)
            if name == "batch_chunk" and value is None:
                continue  # chosen by device
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                flag = "--" + name.replace("_", "-")
                raise DistillError(
                    f"{name} must be 0 ({meaning}) or a positive integer, "
                    f"got {value!r}; fix {flag}"
                )
        for name in ("checkpoint_unroll", "vmap_inits"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                flag = "--" + name.replace("_", "-")
                raise DistillError(
                    f"{name} must be true or false, got {value!r}; set {flag} "
                    "yes or no"
                )
        self._validate_batch_growth()

    def _validate_batch_growth(self):
        """The growth settings against each other (each is checked alone first)."""
        growing = self.batch_size_double_every > 0
        if growing and self.batch_size_max <= self.batch_size:
            raise DistillError(
                f"the real batch doubles every {self.batch_size_double_every} "
                f"iterations but batch_size_max ({self.batch_size_max}) is not "
                f"above batch_size ({self.batch_size}); set --batch-size-max "
                "to the largest batch, or --batch-size-double-every 0"
            )
        if not growing and self.batch_size_max:
            raise DistillError(
                f"batch_size_max ({self.batch_size_max}) is set but the batch "
                "never grows; set --batch-size-double-every too, or "
                "--batch-size-max 0"
            )

    def batch_size_at(self, iteration):
        """Real examples at outer iteration ``iteration`` (counted from 0).

        ``batch_size`` doubled every ``batch_size_double_every`` iterations,
        capped at ``batch_size_max``; ``batch_size`` throughout when the
        batch does not grow.
        """
        every = self.batch_size_double_every
        if not every:
            return self.batch_size
        # more doublings than this would pass batch_size_max anyway
        most = (self.batch_size_max // self.batch_size).bit_length()
        doublings = min(iteration // every, most)
        return min(self.batch_size * 2**doublings, self.batch_size_max)

    def replace(self, **changes):
        """A copy with some settings changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        data = dataclasses.asdict(self)
        data["betas"] = list(self.betas)
        return data

    @classmethod
    def from_dict(cls, data):
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# Chunk of the real batch when Settings.batch_chunk is None, by device type.
# On a 2-core CPU at a real batch of 1024 (benchmarks/bench.py), chunks of
# 128 take 0.047 s instead of 0.054 s per MNIST 1x1 iteration and 2.8 s
# instead of 4.4 s per CIFAR-10 10x3 one, with one chunk's activations in
# memory (1.7 GB instead of 2.8 GB); on one thread they gain nothing, and a
# GPU is fastest with the whole batch.
AUTO_BATCH_CHUNK = {"cpu": 128}


def batch_chunk_for(settings, device):
    """The real-batch chunk a run of ``settings`` uses on ``device``.

    ``settings.batch_chunk`` when it is set; otherwise 128 on the CPU and 0
    (the whole batch) elsewhere. Chunking changes the float rounding of the
    gradient, not its value.
    """
    if settings.batch_chunk is not None:
        return settings.batch_chunk
    return AUTO_BATCH_CHUNK.get(torch.device(device).type, 0)


@dataclass
class Distilled:
    """Learned synthetic data, its step sizes and the settings that made it.

    Attributes:
        images: (S, m, *input_shape), the inputs of each step.
        labels: (S, m) class indices (or (S, m, k) regression targets).
        step_sizes: (E, S), positive, epoch e and step s.
        settings: the :class:`Settings` of the run.
        theta0: the fixed initial weights (``init == "fixed"``), else None.
        history: per-iteration ``loss`` and the ``seconds`` spent so far.
        iteration: outer iterations completed.
    """

    images: torch.Tensor
    labels: torch.Tensor
    step_sizes: torch.Tensor
    settings: Settings
    theta0: dict = None
    history: dict = field(default_factory=lambda: {"loss": [], "seconds": 0.0})
    iteration: int = 0

    @property
    def complete(self):
        return self.iteration >= self.settings.iterations

    @property
    def num_images(self):
        """Distilled inputs in all, over all steps."""
        return self.images.shape[0] * self.images.shape[1]

    def model(self, input_shape=None, num_outputs=None):
        """A fresh network of the settings' architecture for this data."""
        shape = input_shape or tuple(self.images.shape[2:])
        outputs = num_outputs or _num_outputs(self.labels)
        return make_model(self.settings.model, shape, outputs)

    def train(self, params, model=None):
        """Train ``params`` (a dict theta0) with the learned steps; no graph.

        Returns the trained weights. ``model`` defaults to :meth:`model`.
        """
        model = model or self.model()
        device = self.images.device
        params = {k: v.to(device) for k, v in params.items()}
        loss_fn = loss_function(_loss_name(self.labels))
        return unroll(
            model, params, self.images, self.labels, self.step_sizes, loss_fn,
            create_graph=False,
        )

    def to(self, device):
        """The same result with its tensors on ``device``."""
        theta0 = None
        if self.theta0 is not None:
            theta0 = {k: v.to(device) for k, v in self.theta0.items()}
        return dataclasses.replace(
            self, images=self.images.to(device), labels=self.labels.to(device),
            step_sizes=self.step_sizes.to(device), theta0=theta0,
        )

    def save(self, path):
        """Write one ``.pt`` file (see :func:`save_file` for its layout)."""
        save_file(path, self._record())

    def _record(self, state=None):
        cpu = self.to("cpu")
        return {
            "format": FILE_FORMAT,
            "format_version": FILE_FORMAT_VERSION,
            "library_version": __version__,
            "settings": self.settings.to_dict(),
            "iteration": self.iteration,
            "complete": self.complete,
            "images": cpu.images,
            "labels": cpu.labels,
            "step_sizes": cpu.step_sizes,
            "theta0": cpu.theta0,
            "history": self.history,
            "state": state,
        }

    @classmethod
    def load(cls, path, device="cpu"):
        """Read a file written by :meth:`save` or by a run's checkpoints."""
        return cls._from_record(load_file(path)).to(device)

    @classmethod
    def _from_record(cls, record):
        return cls(
            images=record["images"], labels=record["labels"],
            step_sizes=record["step_sizes"],
            settings=Settings.from_dict(record["settings"]),
            theta0=record["theta0"], history=record["history"],
            iteration=record["iteration"],
        )


def save_file(path, record):
    """Write ``record`` to ``path`` atomically (a temporary file, then rename).

    The file is a ``torch.save`` dict with the keys ``format``
    (``"distill-result"``), ``format_version``, ``library_version``,
    ``settings`` (a dict: dataset, model, init, steps, epochs, seed, ...),
    ``iteration``, ``complete``, ``images``, ``labels``, ``step_sizes``,
    ``theta0``, ``history`` and ``state`` (what resuming needs: raw
    variables, optimizer and random-generator states). It loads with
    ``torch.load(path, weights_only=True)``.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise DistillError(
            f"cannot write {path}: folder {folder} does not exist; create it "
            "or choose another output path"
        )
    temporary = path + ".tmp"
    torch.save(record, temporary)
    os.replace(temporary, path)


def load_file(path):
    """Read and check a result file; :class:`DistillError` if it is not one."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DistillError(f"no such file: {path}")
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise DistillError(
            f"{path} is not a readable distill result ({type(error).__name__}); "
            "it may be truncated or from another program. Re-run the "
            "distillation with another --output, or restore the file."
        ) from None
    if not isinstance(record, dict) or record.get("format") != FILE_FORMAT:
        raise DistillError(
            f"{path} is a PyTorch file but not a distill result (no "
            f"format={FILE_FORMAT!r}); choose another path"
        )
    if record.get("format_version", 0) > FILE_FORMAT_VERSION:
        raise DistillError(
            f"{path} was written by a newer distill "
            f"({record.get('library_version')}); upgrade to read it"
        )
    return record


def _num_outputs(labels):
    return int(labels.max()) + 1 if labels.dtype == torch.long else labels.shape[-1]


def _loss_name(labels):
    return "cross_entropy" if labels.dtype == torch.long else "mse"


def initial_step_sizes_raw(settings, device):
    """The unconstrained variable whose softplus is eta0, shape (E, S)."""
    eta0 = torch.tensor(settings.step_size_init, dtype=torch.float64)
    raw = torch.log(torch.expm1(eta0)).item()  # inverse softplus
    return torch.full((settings.epochs, settings.steps), raw, device=device)


def initial_data(data, settings, generator):
    """Starting inputs (S, m, *shape) and targets for the distilled data.

    Classification: labels are ``0..C-1`` repeated ``images_per_class``
    times in each step; inputs are noise or real examples of those labels.
    Regression: inputs and targets start as random real points.
    """
    S, K = settings.steps, settings.images_per_class
    if data.num_classes == 0:
        index = torch.randint(len(data.x_train), (S * K,), generator=generator)
        index = index.to(data.device)
        x = data.x_train[index].reshape(S, K, *data.input_shape)
        y = data.y_train[index].reshape(S, K, *data.y_train.shape[1:])
        return x.clone(), y.clone()

    C = data.num_classes
    labels = torch.arange(C).repeat(K)  # (m,) = (C*K,)
    labels = labels.expand(S, -1).contiguous()  # (S, m)
    if settings.image_init == "noise":
        x = torch.randn(S, C * K, *data.input_shape, generator=generator)
        return x.to(data.device), labels.to(data.device)

    x = torch.empty(S, C * K, *data.input_shape, device=data.device)
    y_train = data.y_train.cpu()
    for c in range(C):
        members = torch.nonzero(y_train == c).squeeze(1)
        pick = members[torch.randperm(len(members), generator=generator)[: S * K]]
        pick = pick.to(data.device)
        x[:, labels[0] == c] = data.x_train[pick].reshape(S, K, *data.input_shape)
    return x, labels.to(data.device)


class _Run:
    """The mutable state of one distillation run: variables and optimizer."""

    def __init__(self, data, settings, pretrained, device):
        self.data = data
        self.settings = settings
        self.pretrained = pretrained
        self.device = device
        self.generator = torch.Generator().manual_seed(settings.seed)
        self.batch_chunk = batch_chunk_for(settings, device)

        outputs = data.num_classes or data.y_train.shape[-1]
        self.model = make_model(settings.model, data.input_shape, outputs).to(device)
        self.loss_fn = loss_function(
            "cross_entropy" if data.num_classes else "mse"
        )

        self.theta0 = None
        if settings.init == "fixed":
            self.theta0 = sample_params(
                self.model, settings.initializer, self.generator
            )
            self.theta0 = {k: v.to(device) for k, v in self.theta0.items()}

        x, y = initial_data(data, settings, self.generator)
        self.x = x.to(device).requires_grad_(settings.learn_images)
        learn_labels = settings.learn_labels and data.num_classes == 0
        self.y = y.to(device).requires_grad_(learn_labels)
        self.step_sizes_raw = initial_step_sizes_raw(settings, device)
        self.step_sizes_raw.requires_grad_()

        self.variables = [self.step_sizes_raw]
        if settings.learn_images:
            self.variables.append(self.x)
        if learn_labels:
            self.variables.append(self.y)
        self.optimizer = torch.optim.Adam(
            self.variables, lr=settings.lr, betas=settings.betas
        )
        self.iteration = 0
        self.history = {"loss": [], "seconds": 0.0}

    def outer_lr(self):
        """Adam's step size at this iteration: ``lr`` times the decays so far."""
        every = self.settings.lr_decay_every
        decays = self.iteration // every if every else 0
        return self.settings.lr * self.settings.lr_decay_factor**decays

    def step_sizes(self):
        return F.softplus(self.step_sizes_raw)

    def draw_theta0(self):
        """One theta0, detached: the inner steps make their own leaves."""
        if self.settings.init == "fixed":
            theta0 = self.theta0
        elif self.settings.init == "random":
            theta0 = sample_params(
                self.model, self.settings.initializer, self.generator
            )
        else:
            pick = torch.randint(len(self.pretrained), (1,), generator=self.generator)
            theta0 = self.pretrained[pick.item()]
        return {k: v.detach().to(self.device) for k, v in theta0.items()}

    def outer_step(self):
        """One outer iteration; returns the real-data loss before the update.

        The hypergradient is computed in three exact pieces (the chain
        rule): the unrolled steps with their graph; the first-order gradient
        v of the real loss with respect to the trained weights (no graph,
        optionally in chunks); one backward pass of v through the unrolled
        graph. The step sizes' softplus is evaluated once per iteration. With
        the real batch whole (``batch_chunk=0``) and no checkpointing the
        result is bit for bit that of back-propagating the real loss through
        everything at once.
        """
        settings = self.settings
        x_real, y_real, thetas = self.draw_batch()
        count = len(thetas)

        eta = self.step_sizes()  # (E, S), a function of step_sizes_raw
        eta_leaf = eta.detach().requires_grad_()
        # what the unrolled graph is differentiated for: eta instead of raw
        targets = [eta_leaf] + self.variables[1:]
        options = {
            "checkpoint": settings.checkpoint_unroll,
            "truncate": settings.truncate,
        }

        def real_loss(out, target):
            # the mean over initializations, term by term
            return self.loss_fn(out, target) / count

        def backward(final, v):
            """Gradient of <final, v> for the variables; zeros where unused."""
            grads = torch.autograd.grad(
                tuple(final.values()), targets, tuple(v.values()),
                allow_unused=True,
            )
            grads = [torch.zeros_like(t) if g is None else g
                     for t, g in zip(targets, grads)]
            # chain the step sizes' gradient through softplus: d eta / d raw
            (grads[0],) = torch.autograd.grad(
                eta, self.step_sizes_raw, grads[0], retain_graph=True
            )
            return grads

        losses = []
        if count > 1 and settings.vmap_inits:
            # theta0 of every init stacked: each tensor (B, *shape)
            stacked = {k: torch.stack([t[k] for t in thetas]) for k in thetas[0]}
            final = unroll_batch(self.model, stacked, self.x, self.y, eta_leaf,
                                 self.loss_fn, **options)
            vs = []
            for b in range(count):
                loss, v = loss_and_grad(
                    self.model, {k: w[b] for k, w in final.items()}, x_real,
                    y_real, real_loss, self.batch_chunk,
                )
                losses.append(loss)
                vs.append(v)
            v = {k: torch.stack([g[k] for g in vs]) for k in final}  # (B, ...)
            grads = backward(final, v)
        else:
            grads = [torch.zeros_like(t) for t in self.variables]
            for theta0 in thetas:
                final = unroll(self.model, theta0, self.x, self.y, eta_leaf,
                               self.loss_fn, **options)
                loss, v = loss_and_grad(self.model, final, x_real, y_real,
                                        real_loss, self.batch_chunk)
                losses.append(loss)
                for g, d in zip(grads, backward(final, v)):
                    g += d

        # one synchronization: the losses and whether every gradient is finite
        finite = torch.stack([torch.isfinite(g).all() for g in grads]).all()
        *losses, finite = torch.stack(losses + [finite.to(losses[0])]).tolist()
        total = sum(losses)
        if not (finite and math.isfinite(total)):
            raise FloatingPointError(total)

        return self.take_step(grads, total)

    def draw_batch(self):
        """The real batch and the theta0 draws of one iteration, in that order.

        Returns ``(x_real, y_real, thetas)``: (n, *input_shape), (n,) and a
        list of ``inits_per_iteration`` weight dicts.
        """
        data, settings = self.data, self.settings
        index = torch.randint(
            len(data.x_train), (settings.batch_size_at(self.iteration),),
            generator=self.generator,
        ).to(data.device)
        thetas = [self.draw_theta0() for _ in range(settings.inits_per_iteration)]
        return data.x_train[index], data.y_train[index], thetas

    def take_step(self, grads, loss):
        """One Adam step from ``grads`` (one per variable); records ``loss``."""
        self.optimizer.zero_grad(set_to_none=True)
        for v, g in zip(self.variables, grads):
            v.grad = g
        for group in self.optimizer.param_groups:
            group["lr"] = self.outer_lr()
        self.optimizer.step()
        self.iteration += 1
        self.history["loss"].append(loss)
        return loss

    def result(self):
        with torch.no_grad():
            step_sizes = self.step_sizes().detach().clone()
        return Distilled(
            images=self.x.detach().clone(), labels=self.y.detach().clone(),
            step_sizes=step_sizes, settings=self.settings,
            theta0=self.theta0, history=self.history, iteration=self.iteration,
        )

    def state(self):
        return {
            "images_raw": self.x.detach().cpu(),
            "labels_raw": self.y.detach().cpu(),
            "step_sizes_raw": self.step_sizes_raw.detach().cpu(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
        }

    def restore(self, record):
        state = record["state"]
        with torch.no_grad():
            self.x.copy_(state["images_raw"])
            self.y.copy_(state["labels_raw"])
            self.step_sizes_raw.copy_(state["step_sizes_raw"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        if record["theta0"] is not None:
            self.theta0 = {k: v.to(self.device) for k, v in record["theta0"].items()}
        self.iteration = record["iteration"]
        self.history = record["history"]

    def save(self, path):
        save_file(path, self.result()._record(self.state()))


def settings_differences(record, settings):
    """How a saved run's settings differ from ``settings`` where it matters.

    Fields that a resumed run may change (``iterations`` and how the
    computation is carried out) are ignored. Returns a list of
    ``"field: old -> new"`` strings, empty when the run can be resumed.
    """
    before = Settings.from_dict(record["settings"]).to_dict()
    now = settings.to_dict()
    free = ("iterations",) + HOW_NOT_WHAT
    return [f"{k}: {before.get(k)!r} -> {now[k]!r}"
            for k in now if k not in free and before.get(k) != now[k]]


def _resumable(path, settings):
    """The record at ``path`` if it is a run of the same settings, else raise."""
    record = load_file(path)
    if record.get("state") is None:
        raise DistillError(
            f"{path} holds a saved result without a resume state; choose "
            "another --output or remove the file to start afresh"
        )
    differ = settings_differences(record, settings)
    if differ:
        listed = ", ".join(differ)
        raise DistillError(
            f"{path} holds a run with other settings ({listed}); to keep it, "
            "choose another --output; to start afresh, remove the file"
        )
    return record


@contextmanager
def _deferred_interrupts():
    """Turn SIGINT/SIGTERM into a flag checked between iterations.

    A second Ctrl-C interrupts at once. Outside the main thread (where
    handlers cannot be installed) interrupts are left as they are.
    """
    requested = []

    def handler(signum, frame):
        if requested:
            raise KeyboardInterrupt
        requested.append(signum)

    previous = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
    except ValueError:
        pass
    try:
        yield requested
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def distill(data, settings=None, *, pretrained=None, output=None,
            checkpoint_every=None, device=None, progress=None, **changes):
    """Distill ``data`` into a few synthetic examples and step sizes.

    Args:
        data: a :class:`distill.data.TensorData` (on the compute device).
        settings: a :class:`Settings`; keyword ``changes`` override fields
            (``distill(data, steps=10, epochs=3)`` works without one).
        pretrained: for ``init="pretrained"``, a list of weight dicts
            (trained networks) to draw theta0 from.
        output: a ``.pt`` path. The run is saved there every
            ``checkpoint_every`` iterations, at the end, and when it is
            interrupted (Ctrl-C or SIGTERM); if the file already holds a run
            with the same settings, the run resumes from it (a larger
            ``iterations`` continues a finished run).
        checkpoint_every: iterations between checkpoints (default: 10% of
            the run, at least 1).
        device: the compute device; default the device of ``data``.
        progress: optional callback ``progress(iteration, total, loss)``
            called after each iteration.

    Returns:
        A :class:`Distilled` holding the images, labels and step sizes.

    Raises:
        DistillError: bad settings, a foreign or mismatched ``output``.
        DivergedError: a non-finite loss; the last checkpoint is kept.
        KeyboardInterrupt: after saving the progress to ``output``.
    """
    settings = (settings or Settings()).replace(**changes)
    device = torch.device(device) if device is not None else data.device
    data = data.to(device)
    if settings.init == "pretrained" and not pretrained:
        raise DistillError(
            "init mode 'pretrained' needs a pool of trained networks; pass "
            "pretrained=[...] (see distill.train_networks) or --pretrained-pool"
        )
    if data.num_classes == 0 and settings.image_init == "noise":
        settings = settings.replace(image_init="real")

    run = _Run(data, settings, pretrained, device)
    if output is not None and os.path.exists(output):
        record = _resumable(output, settings)
        run.restore(record)
    if checkpoint_every is None:
        checkpoint_every = max(1, settings.iterations // 10)
    if checkpoint_every <= 0:
        raise DistillError(
            f"checkpoint_every must be positive, got {checkpoint_every}"
        )

    started = time.perf_counter()
    seconds_before = run.history["seconds"]
    with _deferred_interrupts() as interrupted:
        while run.iteration < settings.iterations:
            try:
                loss = run.outer_step()
            except FloatingPointError:
                where = f"; the last checkpoint is kept in {output}" if output else ""
                raise DivergedError(
                    f"the distillation diverged at iteration {run.iteration + 1}: "
                    "the real-data loss or its gradient is not finite. Lower "
                    f"--lr ({settings.lr}) or --step-size-init "
                    f"({settings.step_size_init}){where}"
                ) from None
            run.history["seconds"] = seconds_before + time.perf_counter() - started
            if progress is not None:
                progress(run.iteration, settings.iterations, loss)

            done = run.iteration >= settings.iterations
            if output is not None and (
                done or interrupted or run.iteration % checkpoint_every == 0
            ):
                run.save(output)
            if interrupted:
                raise KeyboardInterrupt(
                    f"stopped after iteration {run.iteration}"
                    + (f"; saved to {output}" if output else "")
                )

    if output is not None and not os.path.exists(output):
        run.save(output)
    return run.result()
