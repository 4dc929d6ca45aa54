"""The outer loop: it learns, it is reproducible, it saves and resumes."""

import pytest
import torch

import distill
from distill import Distilled, Settings

TINY = Settings(iterations=6, batch_size=64, steps=2, epochs=2, lr=0.01)


def assert_same(a, b):
    torch.testing.assert_close(a.images, b.images, rtol=0, atol=0)
    torch.testing.assert_close(a.step_sizes, b.step_sizes, rtol=0, atol=0)
    torch.testing.assert_close(a.labels, b.labels, rtol=0, atol=0)
    assert a.history["loss"] == b.history["loss"]


def test_shapes_and_positive_step_sizes(mnist_small):
    result = distill.distill(mnist_small, TINY.replace(images_per_class=2))
    assert result.images.shape == (2, 20, 1, 28, 28)  # (S, C*K, C, H, W)
    assert result.labels.shape == (2, 20)
    assert result.labels[0].tolist() == list(range(10)) * 2
    assert result.step_sizes.shape == (2, 2)  # (E, S)
    assert (result.step_sizes > 0).all()
    assert result.iteration == TINY.iterations and result.complete


def test_same_seed_same_result_other_seed_differs(mnist_small):
    a = distill.distill(mnist_small, TINY)
    b = distill.distill(mnist_small, TINY)
    assert_same(a, b)
    c = distill.distill(mnist_small, TINY.replace(seed=1))
    assert not torch.equal(a.images, c.images)


def test_save_load_round_trip(mnist_small, tmp_path):
    result = distill.distill(mnist_small, TINY)
    path = tmp_path / "result.pt"
    result.save(path)
    loaded = Distilled.load(path)
    assert_same(result, loaded)
    assert loaded.settings == result.settings
    for k in result.theta0:
        assert torch.equal(result.theta0[k], loaded.theta0[k])

    record = torch.load(path, weights_only=True)
    assert record["format"] == "distill-result"
    assert record["library_version"] == distill.__version__
    for key in ("dataset", "model", "init", "steps", "epochs", "seed"):
        assert key in record["settings"]


def test_resume_after_interrupt_equals_uninterrupted(mnist_small, tmp_path):
    whole = distill.distill(mnist_small, TINY)

    path = tmp_path / "run.pt"

    def stop_at_four(iteration, total, loss):
        if iteration == 4:
            raise KeyboardInterrupt  # a kill between checkpoints

    with pytest.raises(KeyboardInterrupt):
        distill.distill(mnist_small, TINY, output=path, checkpoint_every=3,
                        progress=stop_at_four)
    saved = Distilled.load(path)
    assert saved.iteration == 3 and not saved.complete

    resumed = distill.distill(mnist_small, TINY, output=path, checkpoint_every=3)
    assert_same(whole, resumed)


def test_growing_batch_schedule():
    grow = Settings(batch_size=256, batch_size_double_every=2000,
                    batch_size_max=1024)
    sizes = [grow.batch_size_at(i) for i in (0, 1999, 2000, 3999, 4000, 10**6)]
    assert sizes == [256, 256, 512, 512, 1024, 1024]
    assert Settings(batch_size=300).batch_size_at(10**6) == 300
    odd = Settings(batch_size=100, batch_size_double_every=1, batch_size_max=1000)
    assert [odd.batch_size_at(i) for i in (0, 1, 2, 3, 4, 10**15)] == [
        100, 200, 400, 800, 1000, 1000]


@pytest.mark.parametrize("changes, message", [
    ({"batch_size_double_every": 10}, "batch_size_max .0. is not above"),
    ({"batch_size_double_every": 10, "batch_size_max": 64}, "not above"),
    ({"batch_size_max": 256}, "never grows.*--batch-size-double-every"),
    ({"batch_size_double_every": -1}, "--batch-size-double-every"),
])
def test_bad_batch_growth_is_named(changes, message):
    with pytest.raises(distill.DistillError, match=message):
        Settings(batch_size=64, **changes)


def test_run_draws_the_growing_batch_and_resumes_across_a_doubling(
        mnist_small, tmp_path, monkeypatch):
    grow = TINY.replace(batch_size=16, batch_size_double_every=2,
                        batch_size_max=48)
    sizes = []
    draw = distill.distillation._Run.draw_batch

    def recording(run):
        x_real, y_real, thetas = draw(run)
        sizes.append(len(x_real))
        return x_real, y_real, thetas

    monkeypatch.setattr(distill.distillation._Run, "draw_batch", recording)
    whole = distill.distill(mnist_small, grow)
    assert sizes == [16, 16, 32, 32, 48, 48]

    path = tmp_path / "run.pt"
    distill.distill(mnist_small, grow.replace(iterations=3), output=path)
    resumed = distill.distill(mnist_small, grow, output=path)
    assert_same(whole, resumed)


def test_longer_run_continues_a_finished_one(mnist_small, tmp_path):
    path = tmp_path / "run.pt"
    distill.distill(mnist_small, TINY.replace(iterations=3), output=path)
    continued = distill.distill(mnist_small, TINY, output=path)
    assert_same(distill.distill(mnist_small, TINY), continued)


def test_finished_run_is_reloaded_not_recomputed(mnist_small, tmp_path):
    path = tmp_path / "run.pt"
    first = distill.distill(mnist_small, TINY, output=path)
    calls = []
    again = distill.distill(mnist_small, TINY, output=path,
                            progress=lambda *a: calls.append(a))
    assert calls == []
    assert_same(first, again)


def test_other_settings_do_not_overwrite(mnist_small, tmp_path):
    path = tmp_path / "run.pt"
    distill.distill(mnist_small, TINY, output=path)
    before = path.read_bytes()
    with pytest.raises(distill.DistillError, match="other settings.*steps"):
        distill.distill(mnist_small, TINY.replace(steps=3), output=path)
    assert path.read_bytes() == before


def test_divergence_is_reported_and_keeps_checkpoint(mnist_small, tmp_path):
    path = tmp_path / "run.pt"
    distill.distill(mnist_small, TINY.replace(iterations=2), output=path)
    before = path.read_bytes()
    exploding = TINY.replace(iterations=2, step_size_init=1e30)
    other = tmp_path / "explode.pt"
    with pytest.raises(distill.DivergedError, match="diverged.*--step-size-init"):
        distill.distill(mnist_small, exploding, output=other)
    assert path.read_bytes() == before


def test_random_and_pretrained_modes_run(mnist_small):
    random = distill.distill(mnist_small, TINY.replace(init="random",
                                                       inits_per_iteration=2))
    assert random.theta0 is None
    summary = distill.evaluate(random, mnist_small, models=3)
    assert summary["models"] == 3 and 0 <= summary["test_accuracy"] <= 1

    pool = distill.make_pool(mnist_small, "lenet", count=2, held_out=2,
                                  epochs=1, batch_size=500)
    adapted = distill.distill(mnist_small, TINY.replace(init="pretrained"),
                              pretrained=pool["train"])
    summary = distill.evaluate(adapted, mnist_small, pretrained=pool["test"])
    assert summary["models"] == 2
    assert summary["test_accuracy_before"] > 0.5  # the pool is trained


def test_distilled_beats_random_real_images(mnist):
    """Ten learned images beat ten real ones with tuned step sizes, clearly.

    Both get the same procedure (1 step, fixed init, learned step size);
    only the distilled run may change its images.
    """
    settings = Settings(iterations=150, batch_size=256, lr=0.02)
    distilled = distill.distill(mnist, settings)
    real = distill.distill(mnist, settings.replace(image_init="real",
                                                   learn_images=False))
    ours = distill.evaluate(distilled, mnist)["test_accuracy"]
    theirs = distill.evaluate(real, mnist)["test_accuracy"]
    assert ours > theirs + 0.15, (ours, theirs)
