"""The closed-form analysis of one step for a linear model (distill.linear)."""

import pytest
import torch

import distill
from distill import linear

D, K = 4, 1


def _problem(d=D, k=K, seed=0):
    """A float64 optimum theta* (D, K) from noise-free synthetic data."""
    data, _ = linear.synthetic_regression(d=d, k=k, theta_std=0.5, seed=seed)
    theta_star = linear.least_squares(data.x_train.double(), data.y_train.double())
    return data, theta_star


def _draws(count, d=D, k=K, seed=1):
    generator = torch.Generator().manual_seed(seed)
    std = linear.xavier_variance(d, k) ** 0.5
    return [std * torch.randn(d, k, generator=generator, dtype=torch.float64)
            for _ in range(count)]


def test_least_squares_matches_lstsq_and_ridge_formula():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(50, 5, generator=generator, dtype=torch.float64)
    y = torch.randn(50, 2, generator=generator, dtype=torch.float64)
    expected = torch.linalg.lstsq(x, y).solution
    torch.testing.assert_close(linear.least_squares(x, y), expected)
    ridge = linear.least_squares(x, y, ridge=0.3)
    gradient = x.T @ (x @ ridge - y) / 50 + 0.3 * ridge
    assert gradient.abs().max() < 1e-12


def test_one_step_is_the_package_gradient_step():
    """lr here is 2 eta / K for the package's mean-over-entries mse."""
    generator = torch.Generator().manual_seed(0)
    m, d, k, eta = 5, 3, 2, 0.1
    x = torch.randn(m, d, generator=generator)
    y = torch.randn(m, k, generator=generator)
    theta0 = torch.randn(d, k, generator=generator)
    linear.register_model()
    model = distill.make_model("linear_nobias", (d,), k)
    params = {n: p.requires_grad_() for n, p in linear.params_of(theta0).items()}
    stepped = distill.gradient_step(
        model, params, x, y, eta, distill.loss_function("mse"), create_graph=False
    )
    expected = linear.one_step(theta0, x, y, 2 * eta / k)
    torch.testing.assert_close(linear.theta_of(stepped), expected)


def test_m_equal_d_reaches_the_optimum_from_every_init():
    _, theta_star = _problem()
    lr = 0.5
    x, y = linear.random_init_data(theta_star, D, lr)
    torch.testing.assert_close(x.T @ x, D / lr * torch.eye(D, dtype=x.dtype))
    for theta0 in _draws(5):
        theta1 = linear.one_step(theta0, x, y, lr)
        assert linear.param_error(theta1, theta_star) < 1e-10
    # more points than dimensions work too
    x, y = linear.random_init_data(theta_star, D + 3, lr)
    for theta0 in _draws(3, seed=2):
        assert linear.param_error(linear.one_step(theta0, x, y, lr), theta_star) < 1e-10


def test_below_d_no_data_can():
    """M = D - 1: whatever X, Y and lr, the null space of X is untouched."""
    _, theta_star = _problem()
    m = D - 1
    generator = torch.Generator().manual_seed(3)
    var = linear.xavier_variance(D, K)
    least = linear.min_random_init_error(D, m, var, theta_star)
    assert least == pytest.approx(var * K * (D - m))  # rank theta* = 1 <= M
    for trial in range(10):
        x = torch.randn(m, D, generator=generator, dtype=torch.float64)
        y = torch.randn(m, K, generator=generator, dtype=torch.float64)
        lr = 0.1 + torch.rand(1, generator=generator).item()
        # I - lr/M X^T X keeps at least D - M eigenvalues equal to 1
        eigenvalues = torch.linalg.eigvalsh(linear.step_matrix(x, lr))
        assert ((eigenvalues - 1).abs() < 1e-9).sum() >= D - m
        for theta0 in _draws(4, seed=10 + trial):
            error = linear.param_error(linear.one_step(theta0, x, y, lr), theta_star)
            bound = linear.null_space_bound(theta0, theta_star, x)
            assert bound > 1e-6
            assert error >= bound - 1e-12
        expected = linear.expected_random_init_error(x, y, lr, theta_star, var)
        assert expected >= least - 1e-12
    # the closed-form construction attains the least expected error
    x, y = linear.random_init_data(theta_star, m, 0.7)
    attained = linear.expected_random_init_error(x, y, 0.7, theta_star, var)
    assert attained == pytest.approx(least, rel=1e-9)


def test_expected_error_matches_sampling():
    _, theta_star = _problem()
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(3, D, generator=generator, dtype=torch.float64)
    y = torch.randn(3, K, generator=generator, dtype=torch.float64)
    var = linear.xavier_variance(D, K)
    theta0 = var ** 0.5 * torch.randn(20000, D, K, generator=generator,
                                      dtype=torch.float64)
    theta1 = theta0 - 0.4 / 3 * x.T @ (x @ theta0 - y)  # (n, D, K)
    sampled = (theta1 - theta_star).pow(2).sum((1, 2)).mean().item()
    exact = linear.expected_random_init_error(x, y, 0.4, theta_star, var)
    assert sampled == pytest.approx(exact, rel=0.03)


def test_fixed_init_needs_rank_of_the_change():
    _, theta_star = _problem()
    theta0 = _draws(1)[0]
    x, y = linear.fixed_init_data(theta0, theta_star, 1, 0.3)
    assert linear.param_error(linear.one_step(theta0, x, y, 0.3), theta_star) < 1e-20
    # three outputs: the change has rank 3, two points leave the Eckart-Young tail
    _, theta_star3 = _problem(k=3)
    theta0 = _draws(1, k=3)[0]
    for m in (2, 3):
        x, y = linear.fixed_init_data(theta0, theta_star3, m, 0.3)
        error = linear.param_error(linear.one_step(theta0, x, y, 0.3), theta_star3)
        least = linear.min_fixed_init_error(theta0, theta_star3, m)
        assert error == pytest.approx(least, abs=1e-12)
    assert linear.min_fixed_init_error(theta0, theta_star3, 2) > 1e-3


def test_learned_data_agree_with_the_closed_form():
    """distill.distill, random init: ~theta* at M = D, the bound at M < D."""
    data, theta_star = _problem()
    var = linear.xavier_variance(D, K)
    spread = var * D * K + theta_star.pow(2).sum().item()

    result = linear.distill_linear(data, D, init="random", iterations=300,
                                   lr=0.1, lr_decay_every=75, batch_size=512)
    x, y, lr = linear.distilled_xy(result)
    x, y = x.double(), y.double()
    for theta0 in _draws(3):
        theta1 = linear.one_step(theta0, x, y, lr)
        assert linear.param_error(theta1, theta_star) < 1e-3 * spread
    assert linear.expected_random_init_error(x, y, lr, theta_star, var) < 1e-3 * spread

    result = linear.distill_linear(data, D - 1, init="random", iterations=300,
                                   lr=0.1, lr_decay_every=75, batch_size=512)
    x, y, lr = linear.distilled_xy(result)
    x, y = x.double(), y.double()
    least = linear.min_random_init_error(D, D - 1, var, theta_star)
    learned = linear.expected_random_init_error(x, y, lr, theta_star, var)
    assert learned >= least * (1 - 1e-4)
    assert learned > 0.05 * spread
    assert learned < 1.5 * least  # and the optimization gets near the bound


def test_pca_regression_whitens_and_adds_the_constant():
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(300, 1, 4, 4, generator=generator)
    labels = torch.randint(3, (300,), generator=generator)
    data = distill.TensorData("fake", images, labels, images[:50], labels[:50],
                              num_classes=3)
    features = linear.pca_regression(data, 5)
    x = features.x_train.double()
    assert x.shape == (300, 5) and features.y_train.shape == (300, 3)
    torch.testing.assert_close(x.T @ x / 300, torch.eye(5, dtype=x.dtype),
                               atol=1e-5, rtol=0)
    assert (features.x_test[:, -1] == 1).all()
    assert features.num_classes == 0
