"""Memory options of the unroll give the gradients they promise.

Checkpointed steps recompute themselves in the backward pass and must give
the plain unroll's gradient; truncation to N >= all steps is the full
gradient, and to fewer steps the gradient through those steps only; the
vmap-batched initializations equal a loop over them; the chunked real loss
equals the whole batch's. Everything here is float64 on tiny models.
"""

import pytest
import torch
import torch.nn.functional as F

import distill
from distill import Settings
from distill.distillation import _Run, batch_chunk_for
from distill.unroll import loss_and_grad, unroll, unroll_batch


def mlp_problem(steps, epochs, seed=0, regression=False):
    """A 2-layer MLP on 4-dimensional inputs, 3 classes (or 1 output)."""
    g = torch.Generator().manual_seed(seed)
    outputs = 1 if regression else 3
    model = distill.models.MLP((4,), outputs, hidden=(5,)).double()
    theta0 = {}
    for k, v in distill.sample_params(model, "xavier", g).items():
        if k.endswith("bias"):  # non-zero biases exercise every term
            v = 0.1 * torch.randn(v.shape, generator=g)
        theta0[k] = v.double()
    x = torch.randn(steps, 3, 4, generator=g, dtype=torch.float64)  # (S, m, D)
    if regression:
        y = torch.randn(steps, 3, 1, generator=g, dtype=torch.float64)
        y_real = torch.randn(16, 1, generator=g, dtype=torch.float64)
    else:
        y = torch.arange(3).expand(steps, 3)  # (S, m)
        y_real = torch.randint(3, (16,), generator=g)
    raw = torch.randn(epochs, steps, generator=g, dtype=torch.float64)  # (E, S)
    x_real = torch.randn(16, 4, generator=g, dtype=torch.float64)
    return model, theta0, x, y, raw, x_real, y_real


def conv_problem(steps, epochs, seed=0):
    """LeNet in float64 on three 28x28 images per step."""
    g = torch.Generator().manual_seed(seed)
    model = distill.make_model("lenet", (1, 28, 28), 10).double()
    theta0 = {k: v.double()
              for k, v in distill.sample_params(model, "xavier", g).items()}
    x = torch.randn(steps, 3, 1, 28, 28, generator=g, dtype=torch.float64)
    y = torch.tensor([1, 4, 7]).expand(steps, 3)
    raw = torch.full((epochs, steps), -3.0, dtype=torch.float64)
    x_real = torch.randn(8, 1, 28, 28, generator=g, dtype=torch.float64)
    y_real = torch.randint(10, (8,), generator=g)
    return model, theta0, x, y, raw, x_real, y_real


def hypergradient(problem, wrt=("x", "raw", "theta0"), **options):
    """d real loss / d (x, raw, theta0) through ``unroll(**options)``."""
    model, theta0, x, y, raw, x_real, y_real = problem
    loss_fn = F.cross_entropy if y.dtype == torch.long else F.mse_loss
    leaves = {
        "x": x.clone().requires_grad_(),
        "raw": raw.clone().requires_grad_(),
        "y": y.clone().requires_grad_() if y.is_floating_point() else y,
    }
    theta = {k: v.clone().requires_grad_("theta0" in wrt) for k, v in theta0.items()}
    final = unroll(model, theta, leaves["x"], leaves["y"], F.softplus(leaves["raw"]),
                   loss_fn, **options)
    loss = loss_fn(distill.forward(model, final, x_real), y_real)
    inputs = [leaves[k] for k in wrt if k != "theta0"]
    if "theta0" in wrt:
        inputs += list(theta.values())
    return torch.autograd.grad(loss, inputs, allow_unused=True)


def assert_all_close(a, b, **tolerance):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        if u is None or v is None:
            assert u is None and v is None
        else:
            torch.testing.assert_close(u, v, **tolerance)


@pytest.mark.parametrize("steps,epochs", [(1, 1), (2, 3), (3, 1), (5, 2)])
def test_checkpointed_unroll_equals_plain(steps, epochs):
    problem = mlp_problem(steps, epochs)
    plain = hypergradient(problem)
    checkpointed = hypergradient(problem, checkpoint=True)
    assert_all_close(plain, checkpointed, rtol=1e-10, atol=1e-12)


def test_checkpointed_and_truncated_equals_truncated():
    problem = mlp_problem(5, 2)  # 10 steps, the last 5 tracked
    wrt = ("x", "raw")
    assert_all_close(hypergradient(problem, wrt, truncate=5),
                     hypergradient(problem, wrt, truncate=5, checkpoint=True),
                     rtol=1e-10, atol=1e-12)


def test_checkpoint_without_graph_is_plain_training():
    model, theta0, x, y, raw, _, _ = mlp_problem(3, 2)
    eta = F.softplus(raw)
    a = unroll(model, theta0, x, y, eta, F.cross_entropy, create_graph=False)
    b = unroll(model, theta0, x, y, eta, F.cross_entropy, create_graph=False,
               checkpoint=True, truncate=2)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)


def test_checkpointed_unroll_equals_plain_on_a_convnet():
    problem = conv_problem(2, 2)
    plain = hypergradient(problem)
    checkpointed = hypergradient(problem, checkpoint=True)
    assert_all_close(plain, checkpointed, rtol=1e-9, atol=1e-12)


def test_checkpointed_regression_labels():
    problem = mlp_problem(2, 2, regression=True)
    wrt = ("x", "y", "raw", "theta0")
    assert_all_close(hypergradient(problem, wrt),
                     hypergradient(problem, wrt, checkpoint=True),
                     rtol=1e-10, atol=1e-12)


def test_checkpointed_hypergradient_matches_finite_differences():
    model, theta0, x, y, raw, x_real, y_real = mlp_problem(2, 3)  # segments

    def outer_loss(x, raw):
        theta = unroll(model, theta0, x, y, F.softplus(raw), F.cross_entropy,
                       checkpoint=True)
        return F.cross_entropy(distill.forward(model, theta, x_real), y_real)

    inputs = (x.requires_grad_(), raw.requires_grad_())
    assert torch.autograd.gradcheck(outer_loss, inputs, eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("checkpoint", [False, True])
def test_truncation_to_all_steps_is_the_full_gradient(checkpoint):
    problem = mlp_problem(3, 2)
    full = hypergradient(problem)
    for truncate in (6, 7, 100):
        assert_all_close(
            full, hypergradient(problem, truncate=truncate, checkpoint=checkpoint),
            rtol=1e-10, atol=1e-12,
        )


@pytest.mark.parametrize("checkpoint", [False, True])
def test_truncated_gradient_flows_through_the_last_steps_only(checkpoint):
    model, theta0, x, y, raw, x_real, y_real = problem = mlp_problem(2, 2)
    # S=2, E=2: 4 steps; truncate=1 keeps step (e=1, s=1) only
    gx, graw, *gtheta = hypergradient(problem, truncate=1, checkpoint=checkpoint)
    assert all(g is None for g in gtheta)  # theta0 is before the cut
    assert torch.all(gx[0] == 0) and torch.any(gx[1] != 0)
    assert torch.all(graw.flatten()[:3] == 0) and graw[1, 1] != 0

    # The same as one tracked step from the untracked weights after three:
    # epoch 0 (both steps), then step 0 of epoch 1, all without a graph.
    eta = F.softplus(raw)  # (E, S) = (2, 2)
    before = unroll(model, theta0, x, y, eta[:1], F.cross_entropy,
                    create_graph=False)
    before = unroll(model, before, x[:1], y[:1], eta[1:, :1], F.cross_entropy,
                    create_graph=False)
    x1 = x[1:].clone().requires_grad_()
    raw11 = raw[1:, 1:].clone().requires_grad_()
    last = unroll(model, before, x1, y[1:], F.softplus(raw11), F.cross_entropy)
    loss = F.cross_entropy(distill.forward(model, last, x_real), y_real)
    expected_x, expected_raw = torch.autograd.grad(loss, (x1, raw11))
    torch.testing.assert_close(gx[1:], expected_x)
    torch.testing.assert_close(graw[1:, 1:], expected_raw)


def test_truncation_must_not_be_negative():
    model, theta0, x, y, raw, _, _ = mlp_problem(1, 1)
    with pytest.raises(ValueError, match="truncate"):
        unroll(model, theta0, x, y, F.softplus(raw), F.cross_entropy, truncate=-1)


@pytest.mark.parametrize("make,checkpoint", [
    (mlp_problem, False), (mlp_problem, True), (conv_problem, False),
])
def test_vmap_batched_inits_equal_the_loop(make, checkpoint):
    model, _, x, y, raw, x_real, y_real = make(2, 2)
    thetas = [make(2, 2, seed=seed)[1] for seed in (1, 2, 3)]
    x = x.requires_grad_()
    raw = raw.requires_grad_()
    eta = F.softplus(raw)

    looped_loss = 0.0
    for theta0 in thetas:
        final = unroll(model, theta0, x, y, eta, F.cross_entropy,
                       checkpoint=checkpoint)
        out = distill.forward(model, final, x_real)
        looped_loss = looped_loss + F.cross_entropy(out, y_real)
    looped = torch.autograd.grad(looped_loss, (x, raw))

    stacked = {k: torch.stack([t[k] for t in thetas]) for k in thetas[0]}
    eta = F.softplus(raw)
    finals = unroll_batch(model, stacked, x, y, eta, F.cross_entropy,
                          checkpoint=checkpoint)
    batched_loss = 0.0
    for b, theta0 in enumerate(thetas):
        final = {k: w[b] for k, w in finals.items()}
        alone = unroll(model, theta0, x, y, eta, F.cross_entropy,
                       create_graph=False)
        for k in final:
            torch.testing.assert_close(final[k].detach(), alone[k])
        out = distill.forward(model, final, x_real)
        batched_loss = batched_loss + F.cross_entropy(out, y_real)
    batched = torch.autograd.grad(batched_loss, (x, raw))
    assert_all_close(looped, batched, rtol=1e-9, atol=1e-12)


def test_batched_unroll_without_graph():
    model, _, x, y, raw, _, _ = mlp_problem(2, 1)
    thetas = [mlp_problem(2, 1, seed=seed)[1] for seed in (1, 2)]
    stacked = {k: torch.stack([t[k] for t in thetas]) for k in thetas[0]}
    eta = F.softplus(raw)
    finals = unroll_batch(model, stacked, x, y, eta, F.cross_entropy,
                          create_graph=False)
    for b, theta0 in enumerate(thetas):
        alone = unroll(model, theta0, x, y, eta, F.cross_entropy,
                       create_graph=False)
        for k in alone:
            assert not finals[k].requires_grad
            torch.testing.assert_close(finals[k][b], alone[k])


@pytest.mark.parametrize("chunk", [0, 5, 16, 100])
def test_chunked_real_loss_equals_the_whole_batch(chunk):
    model, theta0, _, _, _, x_real, y_real = mlp_problem(1, 1)
    theta = {k: v.clone().requires_grad_() for k, v in theta0.items()}
    loss = F.cross_entropy(distill.forward(model, theta, x_real), y_real)
    grads = torch.autograd.grad(loss, tuple(theta.values()))
    chunked_loss, chunked = loss_and_grad(model, theta0, x_real, y_real,
                                          F.cross_entropy, chunk)
    torch.testing.assert_close(chunked_loss, loss.detach())
    assert_all_close(grads, tuple(chunked.values()))


def test_checkpointed_result_cannot_be_differentiated_twice():
    model, theta0, x, y, raw, x_real, y_real = mlp_problem(1, 1)
    x = x.requires_grad_()
    final = unroll(model, theta0, x, y, F.softplus(raw), F.cross_entropy,
                   checkpoint=True)
    loss = F.cross_entropy(distill.forward(model, final, x_real), y_real)
    (gx,) = torch.autograd.grad(loss, x, create_graph=True)
    with pytest.raises(RuntimeError):
        torch.autograd.grad(gx.sum(), x)


# The outer loop with the options on.

TINY = Settings(iterations=3, batch_size=64, steps=2, epochs=2)


def one_step_gradients(data, settings):
    run = _Run(data, settings, None, data.device)
    run.outer_step()
    return [v.grad.clone() for v in run.variables]


@pytest.mark.parametrize("changes", [
    {"checkpoint_unroll": True},
    {"batch_chunk": 16},
    {"truncate": 4},
    {"checkpoint_unroll": True, "truncate": 9, "batch_chunk": 10},
])
def test_outer_step_options_keep_the_gradient(mnist_small, changes):
    plain = one_step_gradients(mnist_small, TINY)
    other = one_step_gradients(mnist_small, TINY.replace(**changes))
    assert_all_close(plain, other, rtol=1e-4, atol=1e-7)


def test_outer_step_vmap_inits_keep_the_gradient(mnist_small):
    settings = TINY.replace(init="random", inits_per_iteration=3)
    looped = one_step_gradients(mnist_small, settings)
    batched = one_step_gradients(mnist_small, settings.replace(vmap_inits=True))
    assert_all_close(looped, batched, rtol=1e-4, atol=1e-7)


def test_default_chunk_is_chosen_by_device(mnist_small):
    auto = TINY.replace(batch_size=300)
    assert auto.batch_chunk is None
    assert batch_chunk_for(auto, "cpu") == 128
    assert batch_chunk_for(auto, "cuda") == 0
    assert batch_chunk_for(auto.replace(batch_chunk=0), "cpu") == 0
    assert batch_chunk_for(auto.replace(batch_chunk=50), "cuda") == 50

    # on the CPU the default evaluates 300 real examples as 128 + 128 + 44
    chunked = one_step_gradients(mnist_small, auto)
    whole = one_step_gradients(mnist_small, auto.replace(batch_chunk=0))
    assert_all_close(chunked, whole, rtol=1e-4, atol=1e-7)
    assert _Run(mnist_small, auto, None, mnist_small.device).batch_chunk == 128


def test_truncated_run_learns_only_the_last_steps(mnist_small):
    grads = one_step_gradients(mnist_small, TINY.replace(truncate=1))
    raw, images = grads
    assert torch.all(raw.flatten()[:-1] == 0) and raw[-1, -1] != 0
    assert torch.all(images[0] == 0) and torch.any(images[1] != 0)


@pytest.mark.parametrize("changes,message", [
    ({"truncate": -1}, "truncate must be 0 \\(every step\\)"),
    ({"truncate": 2.5}, "truncate must be 0 \\(every step\\)"),
    ({"batch_chunk": -8}, "batch_chunk must be 0 \\(the whole batch\\)"),
    ({"checkpoint_unroll": "yes"}, "checkpoint_unroll must be true or false"),
    ({"vmap_inits": 1}, "vmap_inits must be true or false"),
])
def test_bad_memory_settings(changes, message):
    with pytest.raises(distill.DistillError, match=message):
        Settings(**changes)


def test_old_settings_load_with_defaults():
    old = Settings().to_dict()
    for key in ("checkpoint_unroll", "truncate", "vmap_inits", "batch_chunk"):
        del old[key]
    old["a_key_from_the_future"] = 1
    settings = Settings.from_dict(old)
    assert settings == Settings()
    assert not settings.checkpoint_unroll and settings.truncate == 0


def test_resume_with_checkpointing_switched_on(mnist_small, tmp_path):
    path = tmp_path / "run.pt"
    distill.distill(mnist_small, TINY.replace(iterations=2), output=path)
    resumed = distill.distill(mnist_small, TINY.replace(checkpoint_unroll=True),
                              output=path)
    assert resumed.iteration == 3
    with pytest.raises(distill.DistillError, match="other settings.*truncate"):
        distill.distill(mnist_small, TINY.replace(truncate=1), output=path)
