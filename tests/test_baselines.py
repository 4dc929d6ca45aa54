"""Baselines: real images, class averages, k-means, kNN, on tiny data."""

import pytest
import torch

from distill import Settings, TensorData
from distill import baselines
from distill.errors import DistillError

CLASSES = 10


def blob_data(per_class=30, test_per_class=10, seed=0, noise=0.3):
    """Ten well-separated classes of 1x28x28 images: a template plus noise."""
    generator = torch.Generator().manual_seed(seed)
    templates = torch.randn(CLASSES, 1, 28, 28, generator=generator)

    def draw(count):
        labels = torch.arange(CLASSES).repeat_interleave(count)
        x = templates[labels] + noise * torch.randn(
            len(labels), 1, 28, 28, generator=generator
        )
        order = torch.randperm(len(labels), generator=generator)
        return x[order], labels[order]

    x_train, y_train = draw(per_class)
    x_test, y_test = draw(test_per_class)
    return TensorData("mnist", x_train, y_train, x_test, y_test,
                      num_classes=CLASSES)


TINY = Settings(iterations=3, batch_size=32, steps=2, epochs=2,
                images_per_class=1, lr=0.05)


@pytest.fixture(scope="module")
def data():
    return blob_data()


def test_random_real_images_are_training_images_of_their_class(data):
    x, y = baselines.random_real_images(data, TINY)
    assert x.shape == (2, 10, 1, 28, 28) and y.shape == (2, 10)
    assert y[0].tolist() == list(range(CLASSES))
    flat = data.x_train.flatten(1)
    for image, label in zip(x.flatten(0, 1), y.flatten()):
        match = (flat == image.flatten()).all(1).nonzero().squeeze(1)
        assert len(match) == 1 and data.y_train[match].item() == label.item()
    # the same seed gives the same images; images are distinct
    again, _ = baselines.random_real_images(data, TINY)
    assert torch.equal(x, again)
    assert len(torch.unique(x.flatten(0, 1).flatten(1), dim=0)) == 20


def test_average_images_are_class_means_in_every_slot(data):
    settings = TINY.replace(images_per_class=2)
    x, y = baselines.average_images(data, settings)
    assert x.shape == (2, 20, 1, 28, 28)
    for step in range(2):
        for slot in range(20):
            label = y[step, slot].item()
            mean = data.x_train[data.y_train == label].mean(0)
            torch.testing.assert_close(x[step, slot], mean, rtol=0, atol=1e-5)


def test_kmeans_recovers_separated_blobs_and_is_deterministic():
    generator = torch.Generator().manual_seed(1)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = centres.repeat_interleave(50, 0) + 0.1 * torch.randn(
        150, 2, generator=generator
    )
    found, assignments = baselines.kmeans(points, 3, seed=0)
    for centre in centres:
        distance = (found - centre).norm(dim=1).min()
        assert distance < 0.1
    assert len(torch.unique(assignments)) == 3
    again, again_assignments = baselines.kmeans(points, 3, seed=0)
    assert torch.equal(found, again) and torch.equal(assignments, again_assignments)


def test_kmeans_images_are_per_class_and_deterministic(data):
    settings = TINY.replace(steps=3)
    x, y = baselines.kmeans_images(data, settings)
    assert x.shape == (3, 10, 1, 28, 28)
    again, _ = baselines.kmeans_images(data, settings)
    assert torch.equal(x, again)
    # every centroid is nearer its own class's mean than any other class's
    means = torch.stack([
        data.x_train[data.y_train == c].mean(0) for c in range(CLASSES)
    ]).flatten(1)
    for image, label in zip(x.flatten(0, 1), y.flatten()):
        distances = (means - image.flatten()).norm(dim=1)
        assert distances.argmin().item() == label.item()
    # one centroid per class is the class mean
    one, _ = baselines.kmeans_images(data, TINY.replace(steps=1))
    torch.testing.assert_close(one[0].flatten(1), means, rtol=0, atol=1e-5)


def test_kmeans_rejects_more_clusters_than_points():
    with pytest.raises(DistillError, match="k-means needs"):
        baselines.kmeans(torch.randn(3, 2), 4)


def test_nearest_neighbour_on_all_training_points_is_exact():
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 5.0], [5.0, 5.0]])
    y = torch.tensor([0, 1, 2, 1])
    assert baselines.nearest_neighbour_accuracy(x, y, x, y) == 1.0
    queries = torch.tensor([[0.2, 0.1], [0.9, 0.2], [4.0, 4.0], [0.0, 4.0]])
    assert baselines.nearest_neighbour_accuracy(
        x, y, queries, torch.tensor([0, 1, 1, 0])
    ) == 0.75
    with pytest.raises(DistillError, match="do not match"):
        baselines.nearest_neighbour_accuracy(x, y[:3], x, y)


@pytest.mark.parametrize("kind", baselines.BASELINE_KINDS)
def test_every_baseline_runs_and_returns_fractions(data, kind):
    settings = TINY.replace(init="random")
    distilled, summary = baselines.run_baseline(kind, data, settings,
                                                eval_models=2)
    assert 0.0 <= summary["test_accuracy"] <= 1.0
    if kind in baselines.NEAREST_NEIGHBOUR_KINDS:
        assert distilled is None and summary["test_accuracy_std"] is None
        assert summary["models"] == 0
        # the classes are well separated: nearest neighbour is near perfect
        assert summary["test_accuracy"] > 0.9
    else:
        assert summary["models"] == 2 and summary["test_accuracy_std"] >= 0.0
        assert distilled.step_sizes.shape == (2, 2)
        assert (distilled.step_sizes > 0).all()
        assert distilled.iteration == settings.iterations


def test_step_size_baselines_keep_their_images_and_learn_step_sizes(data):
    images, labels = baselines.average_images(data, TINY)
    result = baselines.learn_step_sizes(
        data, TINY.replace(image_init="real"), images, labels
    )
    assert torch.equal(result.images, images)
    assert torch.equal(result.labels, labels)
    assert not torch.allclose(result.step_sizes, torch.full((2, 2), 0.02))
    assert result.settings.learn_images is False


def test_optimized_real_starts_from_the_random_real_images(data):
    start, _ = baselines.random_real_images(data, TINY)
    tiny_lr = TINY.replace(iterations=1, lr=1e-6)
    result = baselines.train_baseline("optimized_real", data, tiny_lr)
    assert result.settings.image_init == "real"
    torch.testing.assert_close(result.images, start, rtol=0, atol=1e-4)


def test_bad_inputs_are_reported(data):
    with pytest.raises(DistillError, match="unknown baseline"):
        baselines.run_baseline("median", data, TINY)
    with pytest.raises(DistillError, match="training images per class"):
        baselines.run_baseline("random_real", data, TINY.replace(steps=100))
    images, labels = baselines.average_images(data, TINY)
    with pytest.raises(DistillError, match="shape"):
        baselines.learn_step_sizes(data, TINY.replace(steps=3), images, labels)


def test_attack_helpers(data):
    relabelled = baselines.relabel(data, 0, 1)
    assert not (relabelled.y_train == 0).any()
    assert torch.equal(relabelled.y_test, data.y_test)
    labels = baselines.attack_labels(TINY, CLASSES, 0, 1)
    assert labels[0].tolist() == [1, 1, *range(2, CLASSES)]
    with pytest.raises(DistillError, match="must differ"):
        baselines.relabel(data, 2, 2)
    with pytest.raises(DistillError, match="class must be"):
        baselines.relabel(data, 0, 10)

    images, _ = baselines.random_real_images(data, TINY)
    result = baselines.learn_step_sizes(
        relabelled, TINY.replace(image_init="noise"), images, labels
    )
    network = result.model()
    from distill.models import sample_params

    networks = [sample_params(network, "xavier", torch.Generator().manual_seed(s))
                for s in range(2)]
    summary = baselines.evaluate_attack(result, data, networks, 0, 1)
    for key in ("attack_success", "other_accuracy", "test_accuracy"):
        assert 0.0 <= summary[key] <= 1.0
        assert 0.0 <= summary[f"{key}_before"] <= 1.0
    assert summary["models"] == 2
