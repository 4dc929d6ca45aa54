"""The quadratic toy: its models, the full-data fit and distilled fits."""

import pytest
import torch

import distill
from distill import linear, toy


@pytest.fixture(scope="module")
def data():
    return distill.quadratic_toy(seed=0)


def _test_mse(model, params, data):
    out = distill.forward(model, params, data.x_test)
    return distill.loss_function("mse")(out, data.y_test).item()


def test_models_are_registered_and_compute_the_quadratic():
    toy.register_models()
    toy.register_models()  # a second call changes nothing
    assert distill.MODELS["quadratic"] is toy.QuadraticModel
    model = distill.make_model("quadratic", (1,), 1)
    params = {"fc.weight": torch.tensor([[2.0, 3.0]]), "fc.bias": torch.tensor([1.0])}
    x = torch.tensor([[-1.0], [0.0], [0.5]])
    expected = 1.0 + 2.0 * x + 3.0 * x**2
    torch.testing.assert_close(toy.predict(model, params, x), expected)
    assert toy.quadratic_coefficients(params) == (1.0, 2.0, 3.0)
    mlp = distill.make_model("toy_mlp", (1,), 1)
    assert distill.count_parameters(mlp) == 32 + 32 + 32 + 1


def test_full_data_fit_is_the_least_squares_optimum(data):
    full = toy.fit_quadratic(data)
    a, b, c = toy.quadratic_coefficients(full)
    assert abs(a) < 0.02 and abs(b) < 0.02 and abs(c - 1) < 0.03
    phi = toy.features(data.x_train).double()
    expected = torch.linalg.lstsq(phi, data.y_train.double()).solution
    torch.testing.assert_close(toy.theta_of(full).double(), expected,
                               atol=1e-5, rtol=0)


def test_linear_view_matches_the_package_step(data):
    result = toy.distill_toy(data, 4, init="random", iterations=3)
    phi, y, lr = toy.linear_view(result)
    theta0 = distill.held_out_inits(result.model(), "xavier", 1, 0)[0]
    trained = result.train(theta0)
    expected = linear.one_step(toy.theta_of(theta0), phi, y, lr)
    torch.testing.assert_close(toy.theta_of(trained), expected, atol=1e-5, rtol=0)


def test_one_step_random_init_has_a_floor(data):
    """No points, targets or step size make one step serve every theta0."""
    theta_star = toy.theta_of(toy.fit_quadratic(data)).double()
    variances = toy.init_variances()
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):
        m = int(torch.randint(1, 12, (1,), generator=generator))
        x = 3 * torch.randn(m, 1, generator=generator, dtype=torch.float64)
        y = torch.randn(m, 1, generator=generator, dtype=torch.float64)
        lr = 10 ** (2 * torch.rand(1, generator=generator).item() - 1.5)
        error = linear.expected_random_init_error(
            toy.features(x), y, lr, theta_star, variances)
        assert error >= variances[0].item() / 2 - 1e-9


def test_distilled_fit_is_close_to_the_full_data_fit(data):
    """Fixed init, M = 10, one step: test MSE near the full-data fit's."""
    full_mse = _test_mse(distill.make_model("quadratic", (1,), 1),
                         toy.fit_quadratic(data), data)
    result = toy.distill_toy(data, 10, init="fixed", iterations=200)
    distilled_mse = distill.evaluate(result, data)["test_loss"]
    assert distilled_mse < full_mse + 1e-3
    before = distill.evaluate(result, data)["test_loss_before"]
    assert before > 0.1  # the step does the work, not theta0


def test_random_init_needs_more_than_one_step(data):
    full_mse = _test_mse(distill.make_model("quadratic", (1,), 1),
                         toy.fit_quadratic(data), data)
    one = toy.distill_toy(data, 10, init="random", iterations=150)
    three = toy.distill_toy(data, 10, init="random", steps=3, iterations=150)
    one_mse = distill.evaluate(one, data, models=20)["test_loss"]
    three_mse = distill.evaluate(three, data, models=20)["test_loss"]
    assert one_mse > 10 * full_mse
    assert three_mse < full_mse + 2e-3
