"""The malloc setting: applied at import, opt-out works, and it does its job:
an outer iteration no longer faults its memory back in from the kernel."""

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import distill
from distill import allocator
from distill.distillation import Settings, _Run

REPO = Path(__file__).resolve().parents[1]
GLIBC = allocator._libc() is not None
needs_glibc = pytest.mark.skipif(not GLIBC, reason="mallopt needs Linux glibc")


def _applied_in_fresh_process(**env):
    code = "import distill; print(distill.allocator.is_applied())"
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
        env={**os.environ, **env}, check=True,
    )
    return completed.stdout.strip()


@needs_glibc
def test_applied_on_import_unless_opted_out():
    assert _applied_in_fresh_process() == "True"
    assert _applied_in_fresh_process(**{allocator.ENV: "0"}) == "False"


@needs_glibc
def test_keep_freed_memory_is_idempotent():
    assert allocator.keep_freed_memory()
    assert allocator.keep_freed_memory()
    assert allocator.is_applied()


def test_environment_switch():
    for value, expected in (("0", False), ("no", False), ("1", True),
                            (" True ", True)):
        os.environ[allocator.ENV] = value
        try:
            assert allocator.enabled_by_environment() is expected, value
        finally:
            del os.environ[allocator.ENV]
    assert allocator.enabled_by_environment()


@needs_glibc
def test_outer_steps_do_not_fault_memory_back_in(mnist):
    # a real batch of 1024 at once: megabytes of activations per iteration
    # that the system's malloc hands back to the kernel and faults in anew
    # (about 15,000 page faults per iteration here without the setting)
    settings = Settings(batch_size=1024, batch_chunk=0, iterations=10)
    run = _Run(mnist, settings, None, torch.device("cpu"))
    for _ in range(3):  # the heap grows to its working size
        run.outer_step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(4):
        run.outer_step()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults / 4 < 200, f"{faults / 4:.0f} page faults per outer iteration"


_SAME_RUN = """
import torch, distill
torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
data = distill.TensorData(
    "mnist", torch.randn(2048, 1, 28, 28, generator=g),
    torch.randint(10, (2048,), generator=g), torch.randn(16, 1, 28, 28),
    torch.zeros(16, dtype=torch.long), num_classes=10,
)
result = distill.distill(data, distill.Settings(iterations=3, batch_size=1024,
                                                batch_chunk=0))
print(repr(result.images.double().sum().item()),
      repr(result.step_sizes.double().sum().item()))
"""


def test_result_is_the_same_either_way():
    """The setting changes where memory comes from, never the numbers."""
    outputs = []
    for value in ("1", "0"):
        completed = subprocess.run(
            [sys.executable, "-c", _SAME_RUN], cwd=REPO, check=True,
            capture_output=True, text=True,
            env={**os.environ, allocator.ENV: value},
        )
        outputs.append(completed.stdout.strip())
    assert outputs[0] == outputs[1]
    assert outputs[0]
