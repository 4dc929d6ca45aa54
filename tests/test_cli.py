"""The command line: JSON on stdout, exit status 2 with a message on bad input."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from distill import Distilled
from distill.cli import main

FAST = ["--batch-size", "32", "--quiet"]


def run_cli(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_run_then_evaluate_prints_one_json_line(root, tmp_path, capsys):
    out_file = str(tmp_path / "out.pt")
    status, out, err = run_cli(
        capsys, "run", "--iterations", "3", "--output", out_file,
        "--data-root", root, *FAST,
    )
    assert status == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert 0 <= summary["test_accuracy"] <= 1
    assert summary["iterations"] == 3 and summary["images"] == 10

    status, out, err = run_cli(capsys, "evaluate", out_file, "--data-root", root,
                               "--quiet")
    assert status == 0, err
    assert json.loads(out)["test_accuracy"] == summary["test_accuracy"]


def test_random_init_reports_std(root, tmp_path, capsys):
    out_file = str(tmp_path / "out.pt")
    status, out, err = run_cli(
        capsys, "run", "--init", "random", "--iterations", "2", "--output",
        out_file, "--data-root", root, "--eval-models", "3", *FAST,
    )
    assert status == 0, err
    summary = json.loads(out)
    assert summary["models"] == 3 and "test_accuracy_std" in summary


@pytest.mark.parametrize("argv,message", [
    (["--dataset", "svhn"], "unknown data set 'svhn'"),
    (["--model", "resnet"], "unknown model 'resnet'"),
    (["--init", "sometimes"], "unknown init mode 'sometimes'"),
    (["--images-per-class", "0"], "images_per_class must be a positive integer"),
    (["--steps", "-2"], "steps must be a positive integer"),
    (["--iterations", "0"], "iterations must be a positive integer"),
    (["--lr", "-1"], "lr must be a positive number"),
    (["--init", "pretrained"], "needs --pretrained-pool"),
])
def test_bad_run_flags(root, tmp_path, capsys, argv, message):
    out_file = tmp_path / "out.pt"
    status, out, err = run_cli(capsys, "run", "--output", str(out_file),
                               "--data-root", root, *FAST, *argv)
    assert status == 2
    assert message in err and err.startswith("error: ")
    assert "Traceback" not in err and out == ""
    assert not out_file.exists()


def test_missing_data_set_without_download(tmp_path, capsys):
    status, _, err = run_cli(capsys, "run", "--output", str(tmp_path / "o.pt"),
                             "--data-root", str(tmp_path / "empty"), *FAST)
    assert status == 2
    assert "MNIST not found" in err and "--data-root" in err


def test_corrupt_and_foreign_files(tmp_path, capsys):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    status, _, err = run_cli(capsys, "evaluate", str(corrupt))
    assert status == 2 and "not a readable distill result" in err

    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    status, _, err = run_cli(capsys, "evaluate", str(foreign))
    assert status == 2 and "not a distill result" in err

    # A run never overwrites a file that is not its own.
    status, _, err = run_cli(capsys, "run", "--output", str(foreign), *FAST)
    assert status == 2 and "not a distill result" in err
    assert torch.load(foreign)["weights"].shape == (3,)


def test_divergence_exits_2_and_keeps_checkpoint(root, tmp_path, capsys):
    out_file = str(tmp_path / "out.pt")
    status, _, err = run_cli(capsys, "run", "--output", out_file, "--iterations",
                             "3", "--step-size-init", "1e30", "--data-root",
                             root, *FAST)
    assert status == 2 and "diverged" in err


def test_kill_and_resume_gives_the_uninterrupted_result(root, tmp_path):
    """SIGINT a real process mid-run; a second run finishes the same way."""
    argv = [sys.executable, "-m", "distill", "run", "--iterations", "40",
            "--checkpoint-every", "5", "--data-root", root, *FAST]
    env = dict(os.environ, TQDM_DISABLE="1", OMP_NUM_THREADS="1")

    whole = tmp_path / "whole.pt"
    subprocess.run(argv + ["--output", str(whole)], env=env, check=True,
                   capture_output=True)

    path = tmp_path / "killed.pt"
    process = subprocess.Popen(argv + ["--output", str(path)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not path.exists() and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    if process.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert process.returncode == 130, err.decode()
    assert b"interrupted" in err and b"Traceback" not in err
    stopped = Distilled.load(path)
    assert 0 < stopped.iteration < 40

    subprocess.run(argv + ["--output", str(path)], env=env, check=True,
                   capture_output=True)
    a, b = Distilled.load(whole), Distilled.load(path)
    assert b.iteration == 40
    assert torch.equal(a.images, b.images)
    assert torch.equal(a.step_sizes, b.step_sizes)
