"""The limits of one gradient step for a linear model (paper, section 3).

The model is f(x) = theta^T x with theta of shape (D, K): D input features
(a bias is folded in as a constant feature of the real data), K outputs.
Distilled data are M inputs X (M, D) with targets Y (M, K), and the inner
loss is the quadratic

    l(X, Y; theta) = 1/(2M) ||X theta - Y||^2.

One gradient step of size lr from theta0 gives

    theta1 = theta0 - lr/M X^T (X theta0 - Y)
           = (I - lr/M X^T X) theta0 + lr/M X^T Y.

Let theta* be the optimum on the real data. Then:

* every theta0 lands on theta* iff I - lr/M X^T X = 0 and lr/M X^T Y =
  theta*. The first needs X^T X = (M/lr) I, i.e. rank X = D: M >= D.
  :func:`random_init_data` builds such data (orthogonal rows, Y = X theta*);
* with M < D the null space of X (dimension >= D - M) is left untouched by
  the step: for any Y and lr, ||theta1 - theta*|| >= ||P (theta0 - theta*)||
  with P the projector onto that null space (:func:`null_space_bound`).
  Over theta0 with i.i.d. zero-mean entries of variance s2 the least
  expected squared error is s2 K (D - M) plus the part of theta* outside the
  best M directions (:func:`min_random_init_error`);
* a single known theta0 needs only lr/M X^T (Y - X theta0) = theta* -
  theta0: a matrix of rank <= M, so M >= rank(theta* - theta0) <= min(D, K)
  points suffice; one point when K = 1 (:func:`fixed_init_data`,
  :func:`min_fixed_init_error`).

:func:`distill_linear` learns the same distilled data by gradient descent
with :func:`distill.distill`, so the closed form and the learned data can be
compared. Conventions: the package's ``mse`` loss averages over M*K entries
and its linear layer stores W = theta^T, so a package step size eta_pkg is
lr = 2 eta_pkg / K here (:func:`distilled_xy` converts).
"""

import math

import torch
from torch import nn
import torch.nn.functional as F

from .data import TensorData
from .distillation import Settings, distill
from .errors import DistillError
from .models import MODELS

MODEL_NAME = "linear_nobias"


class LinearNoBias(nn.Module):
    """f(x) = theta^T x without a bias: one weight W = theta^T of shape (K, D)."""

    def __init__(self, input_shape, num_outputs):
        super().__init__()
        self.fc = nn.Linear(math.prod(input_shape), num_outputs, bias=False)

    def forward(self, x):
        """theta^T x for a batch x (B, D) (flattened first); returns (B, K)."""
        return self.fc(x.flatten(1))  # (B, K)


def register_model():
    """Add :class:`LinearNoBias` to ``distill.models.MODELS`` as ``linear_nobias``.

    Needed before :func:`distill.distill` or ``Distilled.model`` builds it;
    calling it again does nothing.
    """
    MODELS.setdefault(MODEL_NAME, LinearNoBias)


def theta_of(params):
    """theta (D, K) from the weights of a :class:`LinearNoBias` (a dict)."""
    return params["fc.weight"].T


def params_of(theta):
    """The weight dict of a :class:`LinearNoBias` holding theta (D, K)."""
    return {"fc.weight": theta.T.contiguous()}


def least_squares(x, y, ridge=0.0):
    """The real-data optimum theta*, minimizing the ridge-regularized loss.

    theta* = argmin 1/(2N) ||x theta - y||^2 + ridge/2 ||theta||^2, i.e. the
    solution of (x^T x / N + ridge I) theta = x^T y / N.

    Args:
        x: inputs (N, D); y: targets (N, K).
        ridge: L2 penalty (0 gives ordinary least squares; x must then
            have rank D).

    Returns:
        theta* (D, K), in the dtype of ``x``.
    """
    n, d = x.shape
    gram = x.T @ x / n  # (D, D)
    if ridge:
        gram = gram + ridge * torch.eye(d, dtype=x.dtype, device=x.device)
    return torch.linalg.solve(gram, x.T @ y / n)  # (D, K)


def step_matrix(x, lr):
    """A = I - lr/M X^T X (D, D): the part of theta1 that depends on theta0."""
    m, d = x.shape
    return torch.eye(d, dtype=x.dtype, device=x.device) - lr / m * x.T @ x


def one_step(theta0, x, y, lr):
    """theta1 = theta0 - lr/M X^T (X theta0 - Y): one step on distilled data.

    Args:
        theta0: (D, K); x: distilled inputs (M, D); y: targets (M, K).
        lr: the step size (for the loss 1/(2M) ||X theta - Y||^2).
    """
    m = x.shape[0]
    return theta0 - lr / m * x.T @ (x @ theta0 - y)  # (D, K)


def _orthonormal(rows, cols, generator, dtype):
    """A random (rows, cols) matrix with orthonormal columns (rows >= cols)."""
    a = torch.randn(rows, cols, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r))
    return q.to(dtype)


def _top_basis(theta, count, generator):
    """``count`` orthonormal rows (count, D) led by theta's top directions.

    The top left singular directions of theta come first; random directions
    orthogonal to them complete the set.
    """
    d = theta.shape[0]
    u, s, _ = torch.linalg.svd(theta.double(), full_matrices=False)
    rank = int((s > s.max() * d * torch.finfo(s.dtype).eps).sum()) if s.numel() else 0
    lead = u[:, : min(rank, count)]  # (D, r)
    extra = torch.randn(d, d, generator=generator, dtype=torch.float64)
    extra = extra - lead @ (lead.T @ extra)  # orthogonal to the lead
    q, r = torch.linalg.qr(torch.cat([lead, extra], dim=1))
    q = q * torch.sign(torch.diagonal(r))  # the lead columns keep their signs
    return q[:, :count].T  # (count, D)


def random_init_data(theta_star, m, lr, generator=None):
    """Distilled data that serve every theta0 as well as M points can.

    With M >= D: X = sqrt(M/lr) Q with Q (M, D) orthonormal columns, and
    Y = X theta*; then X^T X = (M/lr) I, so one step of size ``lr`` maps
    every theta0 exactly to theta*. With M < D the M rows span theta*'s top
    singular directions (then random ones), X^T X = (M/lr) P_U, and the
    error left is P theta0 on the null space: the least possible expected
    error (:func:`min_random_init_error`).

    Args:
        theta_star: the target weights (D, K).
        m: number of distilled points M.
        lr: the step size the data are built for.
        generator: for the random rotation (and completing directions).

    Returns:
        x (M, D), y (M, K) in the dtype of ``theta_star``.
    """
    d = theta_star.shape[0]
    generator = generator or torch.Generator().manual_seed(0)
    r = min(m, d)
    basis = _top_basis(theta_star, r, generator)  # (r, D) orthonormal rows
    q = _orthonormal(m, r, generator, torch.float64)  # (M, r)
    x = math.sqrt(m / lr) * q @ basis  # (M, D)
    x = x.to(theta_star.dtype)
    return x, x @ theta_star


def fixed_init_data(theta0, theta_star, m, lr):
    """Distilled data that take one known theta0 as close to theta* as M points can.

    With Delta = theta* - theta0 = U S V^T, point i is x_i = sqrt(M/lr) u_i
    with target y_i = x_i^T theta0 + sqrt(M/lr) s_i v_i, so the step adds
    sum_i s_i u_i v_i^T: exactly Delta when M >= rank(Delta) (one point
    when K = 1), its best rank-M approximation otherwise. Points beyond
    rank(Delta) are zeros with target 0 (they add nothing).

    Returns:
        x (M, D), y (M, K).
    """
    delta = theta_star - theta0  # (D, K)
    u, s, vh = torch.linalg.svd(delta, full_matrices=False)  # (D, r) (r,) (r, K)
    r = min(m, s.numel())
    scale = math.sqrt(m / lr)
    x = torch.zeros(m, delta.shape[0], dtype=delta.dtype, device=delta.device)
    y = torch.zeros(m, delta.shape[1], dtype=delta.dtype, device=delta.device)
    x[:r] = scale * u[:, :r].T
    y[:r] = x[:r] @ theta0 + scale * s[:r, None] * vh[:r]
    return x, y


def null_projector(x, tol=None):
    """Projector P (D, D) onto the null space of x (M, D): x P = 0."""
    _, s, vh = torch.linalg.svd(x, full_matrices=True)
    if tol is None:
        tol = max(x.shape) * torch.finfo(x.dtype).eps * (s.max() if s.numel() else 0)
    rank = int((s > tol).sum())
    v_null = vh[rank:].T  # (D, D - rank), empty when rank = D
    return v_null @ v_null.T  # (D, D)


def null_space_bound(theta0, theta_star, x):
    """||P (theta0 - theta*)||^2: no target Y and no step size do better.

    P projects onto the null space of the distilled inputs x (M, D). The
    step changes theta only inside the row space of x, so P theta1 = P
    theta0 and ||theta1 - theta*||^2 >= ||P (theta0 - theta*)||^2.
    """
    p = null_projector(x)
    return (p @ (theta0 - theta_star)).pow(2).sum().item()


def _init_spread(a, init_var):
    """sum_j init_var_j ||a[:, j]||^2: E ||a theta0||^2 per output column."""
    var = torch.as_tensor(init_var, dtype=a.dtype, device=a.device)
    return (a.pow(2).sum(0) * var).sum().item()  # var: () or (D,)


def expected_random_init_error(x, y, lr, theta_star, init_var):
    """E ||theta1 - theta*||^2 over theta0 with independent zero-mean entries.

    theta1 = A theta0 + c with A = I - lr/M X^T X and c = lr/M X^T Y, so the
    expectation is exactly K sum_j v_j ||A e_j||^2 + ||c - theta*||^2 (no
    sampling), which is init_var * K * ||A||_F^2 for a common variance.

    Args:
        x: distilled inputs (M, D); y: targets (M, K).
        lr: the step size; theta_star: (D, K).
        init_var: the variance of every entry of theta0, or one per input
            feature, shape (D,) (e.g. 0 for a bias that starts at zero).
    """
    m, k = x.shape[0], theta_star.shape[1]
    a = step_matrix(x, lr)  # (D, D)
    c = lr / m * x.T @ y  # (D, K)
    return k * _init_spread(a, init_var) + (c - theta_star).pow(2).sum().item()


def expected_test_error(x, y, lr, data, init_var):
    """E over random theta0 of the test mean squared error after the step.

    With theta1 = A theta0 + c and test inputs X_t (N, D), targets Y_t (N, K):
    E mse = sum_j v_j ||X_t A e_j||^2 / N + mse(X_t c, Y_t), exactly.
    ``init_var`` as in :func:`expected_random_init_error`.
    """
    m = x.shape[0]
    x_test = data.x_test.to(x.dtype)  # (N, D)
    a = step_matrix(x, lr)
    c = lr / m * x.T @ y  # (D, K)
    return _init_spread(x_test @ a, init_var) / len(x_test) + test_error(c, data)


def min_random_init_error(d, m, init_var, theta_star):
    """Least expected ||theta1 - theta*||^2 over random theta0 with M points.

    For theta0 with i.i.d. zero-mean entries of variance ``init_var``:
    E||theta1 - theta*||^2 = init_var K ||A||_F^2 + ||b||^2 with A = I - lr/M
    X^T X (at least D - M eigenvalues equal to 1) and b = lr/M X^T Y - theta*
    (its part outside the row space of X is fixed). The minimum over X, Y
    and lr is

        init_var * K * max(D - M, 0) + sum_{i > M} sigma_i(theta*)^2,

    zero exactly when M >= D; :func:`random_init_data` attains it.
    """
    k = theta_star.shape[1]
    s = torch.linalg.svdvals(theta_star.double())
    tail = s[m:].pow(2).sum().item()
    return init_var * k * max(d - m, 0) + tail


def min_fixed_init_error(theta0, theta_star, m):
    """Least ||theta1 - theta*||^2 from one known theta0 with M points.

    The step lr/M X^T (Y - X theta0) has rank <= M, so the best is the
    Eckart-Young tail sum_{i > M} sigma_i(theta* - theta0)^2: zero once
    M >= rank(theta* - theta0), one point when K = 1.
    """
    s = torch.linalg.svdvals((theta_star - theta0).double())
    return s[m:].pow(2).sum().item()


def xavier_variance(d, k):
    """Variance of a Xavier-normal entry of a (K, D) weight: 2 / (D + K)."""
    return 2.0 / (d + k)


def synthetic_regression(d=4, k=1, n_train=2000, n_test=2000, noise=0.0,
                         theta_std=1.0, seed=0):
    """Linear data: x ~ N(0, I_D), y = x theta_true + noise, as a TensorData.

    ``theta_true`` (D, K) has normal entries of standard deviation
    ``theta_std``. Returns the data (regression, ``num_classes`` 0) and
    ``theta_true``.
    """
    generator = torch.Generator().manual_seed(seed)
    theta_true = theta_std * torch.randn(d, k, generator=generator)

    def sample(n):
        x = torch.randn(n, d, generator=generator)  # (n, D)
        y = x @ theta_true + noise * torch.randn(n, k, generator=generator)
        return x, y

    x_train, y_train = sample(n_train)
    x_test, y_test = sample(n_test)
    data = TensorData(
        "linear-synthetic", x_train=x_train, y_train=y_train, x_test=x_test,
        y_test=y_test, num_classes=0,
    )
    return data, theta_true


def pca_regression(data, d, whiten=True, fit_size=10000):
    """A classification data set as linear regression on D features.

    Inputs are flattened and projected on the top D - 1 principal
    directions (found on the first ``fit_size`` training inputs, for
    speed), plus a constant feature 1 that plays the bias; targets are
    one-hot (N, C). With ``whiten`` the D - 1 projections are decorrelated
    and scaled on the whole training set, so the features' second moment
    there is exactly I_D.

    Returns:
        A regression :class:`TensorData` with x (N, D) and y (N, C).
    """
    if d < 2:
        raise DistillError(f"d counts the constant feature too; need d >= 2, got {d}")
    if data.num_classes == 0:
        raise DistillError(f"{data.name} is not a classification data set")
    x_train = data.x_train.cpu().flatten(1)  # (N, P) pixels
    mean = x_train.mean(0)  # (P,)
    sample = x_train[:fit_size] - mean
    cov = (sample.T @ sample / len(sample)).double()  # (P, P)
    _, vectors = torch.linalg.eigh(cov)  # ascending eigenvalues
    top = vectors[:, -(d - 1):].flip(1).float()  # (P, D-1), largest first

    def project(x):
        return ((x.cpu().flatten(1) - mean) @ top).double()  # (N, D-1)

    z_train = project(data.x_train)
    whitening = torch.eye(d - 1, dtype=torch.float64)
    if whiten:
        values, basis = torch.linalg.eigh(z_train.T @ z_train / len(z_train))
        whitening = basis @ torch.diag(values.clamp_min(1e-12).rsqrt()) @ basis.T

    def features(z):
        ones = torch.ones(len(z), 1, dtype=z.dtype)
        return torch.cat([z @ whitening, ones], dim=1).float()  # (N, D)

    def one_hot(y):
        return F.one_hot(y.cpu(), data.num_classes).float()  # (N, C)

    return TensorData(
        f"{data.name}-pca{d}", x_train=features(z_train),
        y_train=one_hot(data.y_train), x_test=features(project(data.x_test)),
        y_test=one_hot(data.y_test), num_classes=0,
    )


def distill_linear(data, m, init="random", iterations=500, lr=0.01,
                   step_size_init=None, batch_size=1024, inits_per_iteration=1,
                   lr_decay_every=0, seed=0, progress=None):
    """Learn M distilled points for the linear model with :func:`distill.distill`.

    One step, one epoch, targets learned too (``learn_labels``), starting
    from M random real points; the step size starts at lr = 1 (package
    step K/2) unless ``step_size_init`` (a package step) is given.

    Args:
        data: a regression TensorData with x (N, D) and y (N, K).
        m: number of distilled points M.
        init: ``random`` (fresh Xavier theta0 each draw) or ``fixed``.
        iterations, lr, batch_size, inits_per_iteration, lr_decay_every:
            the outer loop's settings (see :class:`distill.Settings`).
        seed: seeds the run (and the fixed theta0).
        progress: optional callback ``progress(iteration, total, loss)``.

    Returns:
        The :class:`distill.Distilled` result (model ``linear_nobias``).
    """
    register_model()
    k = data.y_train.shape[1]
    settings = Settings(
        dataset=data.name, model=MODEL_NAME, init=init, initializer="xavier",
        images_per_class=m, steps=1, epochs=1, iterations=iterations,
        batch_size=min(batch_size, len(data.x_train)),
        inits_per_iteration=inits_per_iteration, lr=lr,
        lr_decay_every=lr_decay_every,
        step_size_init=step_size_init or k / 2, image_init="real",
        learn_labels=True, seed=seed,
        batch_chunk=0,  # as the committed figures were made (float rounding)
    )
    return distill(data, settings, progress=progress)


def distilled_xy(result):
    """x (M, D), y (M, K) and lr of a one-step result of :func:`distill_linear`.

    lr is in this module's convention (loss 1/(2M) ||X theta - Y||^2).
    """
    x = result.images[0].flatten(1)  # (M, D)
    y = result.labels[0]  # (M, K)
    lr = 2.0 * result.step_sizes[0, 0].item() / y.shape[1]
    return x, y, lr


def param_error(theta, theta_star):
    """||theta - theta*||_F^2."""
    return (theta - theta_star).pow(2).sum().item()


@torch.no_grad()
def test_error(theta, data):
    """Mean squared error of f(x) = theta^T x on the test set (mean over entries)."""
    out = data.x_test.to(theta.dtype) @ theta  # (N, K)
    return F.mse_loss(out, data.y_test.to(theta.dtype)).item()
