"""Named experiments: valid settings, a smoke run that writes its JSON, CLI."""

import json

import pytest
import torch

import distill.cli
import distill.data
from distill import Settings, TensorData
from distill.baselines import BASELINE_KINDS
from distill.cli import main
from distill.experiments import (
    EXPERIMENTS, SCALES, PoolSpec, get_experiment, run_experiment, source_data,
    usps_like,
)
from distill.errors import DistillError

CLASSES = 10


def fake_mnist(per_class=40, test_per_class=10, seed=0):
    """A small MNIST look-alike: one noisy template per class, normalized."""
    generator = torch.Generator().manual_seed(seed)
    templates = torch.randn(CLASSES, 1, 28, 28, generator=generator)

    def draw(count):
        labels = torch.arange(CLASSES).repeat(count)
        x = templates[labels] + 0.5 * torch.randn(
            len(labels), 1, 28, 28, generator=generator
        )
        return x, labels

    x_train, y_train = draw(per_class)
    x_test, y_test = draw(test_per_class)
    return TensorData("mnist", x_train, y_train, x_test, y_test,
                      num_classes=CLASSES, mean=(0.1307,), std=(0.3081,),
                      class_names=tuple(str(c) for c in range(CLASSES)))


@pytest.fixture
def fake_data(monkeypatch):
    """Make every ``load_dataset("mnist")`` return the small fake set."""
    data = fake_mnist()

    def load(name, root=None, device="cpu", download=None):
        if name != "mnist":
            raise DistillError(f"the fake loader only has mnist, not {name}")
        return data

    monkeypatch.setattr(distill.data, "load_dataset", load)
    monkeypatch.setattr(distill.cli, "load_dataset", load)
    return data


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_row_has_valid_settings_at_every_scale(name):
    experiment = get_experiment(name)
    assert experiment.name == name
    for scale in SCALES:
        settings = experiment.at(scale)
        assert isinstance(settings, Settings)
        assert settings.dataset in ("mnist", "cifar10")
        assert experiment.eval_models[scale] > 0
        assert experiment.baseline_iterations[scale] > 0
        assert set(experiment.baselines[scale]) <= set(BASELINE_KINDS)
        tuning = experiment.baseline_settings(scale)
        assert tuning.learn_images is False
        assert (tuning.steps, tuning.epochs) == (settings.steps, settings.epochs)
        if settings.init == "pretrained":
            assert isinstance(experiment.pool[scale], PoolSpec)
            assert experiment.pool[scale].held_out >= experiment.eval_models[scale]
    paper = experiment.at("paper")
    assert paper.batch_size == 1024 and paper.lr == 0.01
    assert paper.betas == (0.5, 0.999)
    smoke, cpu = experiment.at("smoke"), experiment.at("cpu")
    assert smoke.iterations <= 5 and smoke.iterations <= cpu.iterations
    assert cpu.iterations < paper.iterations
    if experiment.paper_accuracy is not None:
        assert 0.0 < experiment.paper_accuracy < 1.0
    assert experiment.notes


def test_rows_of_the_paper():
    rows = {name: get_experiment(name).at("paper") for name in EXPERIMENTS}
    assert (rows["mnist_fixed"].steps, rows["mnist_fixed"].epochs) == (1, 3)
    for name in ("mnist_random", "cifar10_fixed", "cifar10_random",
                 "mnist_adaptation"):
        assert (rows[name].steps, rows[name].epochs) == (10, 3)
        assert rows[name].steps * rows[name].images_per_class * CLASSES == 100
    assert rows["mnist_random"].init == "random"
    assert rows["cifar10_fixed"].step_size_init == 0.001
    assert get_experiment("mnist_adaptation").source_transform == "usps_like"
    assert get_experiment("mnist_malicious").attack == (0, 1)
    assert rows["mnist_malicious"].steps * rows["mnist_malicious"].epochs == 1


def test_unknown_names_and_scales_are_reported():
    with pytest.raises(DistillError, match="unknown experiment"):
        get_experiment("mnist_huge")
    with pytest.raises(DistillError, match="unknown scale"):
        get_experiment("mnist_fixed").at("gpu")


def test_usps_like_source_fills_the_frame(fake_data):
    real = fake_mnist()
    changed = usps_like(real.x_train, real.mean, real.std)
    assert changed.shape == real.x_train.shape
    pixels = changed * real.std[0] + real.mean[0]
    assert pixels.min() >= -1e-6 and pixels.max() <= 1 + 1e-6
    source = source_data(real, "usps_like")
    assert torch.equal(source.y_train, real.y_train)
    with pytest.raises(DistillError, match="unknown source transform"):
        source_data(real, "svhn")


@pytest.mark.parametrize("name", ["mnist_fixed", "mnist_malicious"])
def test_smoke_run_writes_the_json_with_all_fields(fake_data, tmp_path, name):
    runs, results = tmp_path / "runs", tmp_path / "results"
    distilled, record = run_experiment(name, "smoke", runs_dir=str(runs),
                                       results_dir=str(results))
    path = results / f"{name}-smoke.json"
    assert json.loads(path.read_text()) == record
    for key in ("experiment", "title", "scale", "settings", "test_accuracy",
                "test_accuracy_std", "test_accuracy_before", "models",
                "iterations", "seconds", "seconds_total", "device",
                "paper_accuracy", "paper_std", "baselines", "notes"):
        assert key in record, key
    assert 0.0 <= record["test_accuracy"] <= 1.0
    experiment = get_experiment(name)
    assert set(record["baselines"]) == set(experiment.baselines["smoke"])
    for kind, baseline in record["baselines"].items():
        assert 0.0 <= baseline["test_accuracy"] <= 1.0, kind
        assert "test_accuracy_std" in baseline
    if name == "mnist_malicious":
        assert record["attack"] == {"source": 0, "target": 1}
        assert 0.0 <= record["attack_success"] <= 1.0
        assert record["pool"]["train"] == experiment.pool["smoke"].count
        assert any(p.name.startswith("pool-") for p in runs.iterdir())

    # a second call reloads everything and writes the same numbers
    _, again = run_experiment(name, "smoke", runs_dir=str(runs),
                              results_dir=str(results))
    assert again["test_accuracy"] == record["test_accuracy"]
    assert {k: v["test_accuracy"] for k, v in again["baselines"].items()} == {
        k: v["test_accuracy"] for k, v in record["baselines"].items()
    }


def test_a_stale_run_is_set_aside_not_deleted(fake_data, tmp_path):
    runs, results = tmp_path / "runs", tmp_path / "results"
    run_experiment("mnist_fixed", "smoke", runs_dir=str(runs),
                   results_dir=str(results), lr=0.02)
    old = torch.load(runs / "mnist_fixed-smoke.pt", weights_only=True)

    # the same row with another Adam rate: the old run moves aside
    with pytest.warns(UserWarning, match="lr: 0.02 -> 0.01"):
        _, record = run_experiment("mnist_fixed", "smoke", runs_dir=str(runs),
                                   results_dir=str(results), lr=0.01)
    assert record["settings"]["lr"] == 0.01
    kept = torch.load(runs / "mnist_fixed-smoke.stale.pt", weights_only=True)
    assert torch.equal(kept["images"], old["images"])


def test_cli_experiment_prints_one_json_line(fake_data, tmp_path, capsys):
    status = main([
        "experiment", "mnist_fixed", "--scale", "smoke", "--device", "cpu",
        "--quiet", "--runs-dir", str(tmp_path / "runs"),
        "--results-dir", str(tmp_path / "results"),
    ])
    assert status == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert out["experiment"] == "mnist_fixed" and out["scale"] == "smoke"
    assert set(out["baselines"]) == set(BASELINE_KINDS)
    assert (tmp_path / "results" / "mnist_fixed-smoke.json").exists()


def test_cli_baseline_prints_one_json_line(fake_data, capsys):
    status = main([
        "baseline", "--dataset", "mnist", "--kind", "average", "--steps", "2",
        "--iterations", "2", "--batch-size", "32", "--device", "cpu", "--quiet",
    ])
    assert status == 0
    out = json.loads(capsys.readouterr().out.strip())
    assert out["kind"] == "average" and out["images"] == 20
    assert 0.0 <= out["test_accuracy"] <= 1.0


def test_cli_lists_the_experiments(capsys):
    assert main(["experiment", "--list"]) == 0
    listed = capsys.readouterr().out
    for name in EXPERIMENTS:
        assert name in listed


@pytest.mark.parametrize("argv, message", [
    (["experiment"], "name an experiment"),
    (["experiment", "mnist_huge", "--quiet"], "unknown experiment"),
    (["baseline", "--kind", "median", "--quiet"], "unknown baseline"),
    (["baseline", "--kind", "average", "--steps", "0", "--quiet"],
     "steps must be a positive integer"),
    (["baseline", "--kind", "average", "--eval-models", "0", "--quiet"],
     "--eval-models must be positive"),
    (["baseline", "--kind", "random_real", "--init", "pretrained", "--quiet",
      "--device", "cpu"], "--pretrained-pool"),
    (["baseline", "--kind", "average", "--output", "x.json", "--quiet"],
     "should be a .pt file"),
])
def test_cli_bad_input_exits_2_with_a_message(fake_data, capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err


def test_cli_bad_scale_exits_2(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["experiment", "mnist_fixed", "--scale", "huge"])
    assert stop.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
