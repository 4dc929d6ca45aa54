"""The optimized outer iteration against the textbook computation.

``_Run.outer_step`` splits the chain rule in three, evaluates the real
batch in chunks, uses first-order LeNet kernels and can vmap over
initializations; ``benchmarks.reference`` back-propagates the real loss
through everything at once with the ordinary layers. Both must give the
same gradients up to float rounding.
"""

import pytest
import torch

from benchmarks.reference import reference_step
from distill.distillation import Settings, _Run


def _gradients(run):
    return [v.grad.detach().clone() for v in run.variables]


def _relative_error(a, b):
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("fields", [
    {"init": "fixed", "steps": 1, "epochs": 3, "batch_chunk": 0},
    {"init": "fixed", "steps": 2, "epochs": 2, "batch_chunk": 48},
    {"init": "fixed", "steps": 3, "epochs": 1, "checkpoint_unroll": True},
    {"init": "random", "steps": 2, "epochs": 1, "inits_per_iteration": 2,
     "batch_chunk": 64},
    {"init": "random", "steps": 2, "epochs": 1, "inits_per_iteration": 2,
     "vmap_inits": True},
], ids=["1x3", "2x2-chunks", "3x1-checkpoint", "random-2", "random-2-vmap"])
def test_outer_step_matches_the_textbook_gradient(mnist_small, fields):
    settings = Settings(batch_size=200, seed=3, **fields)
    fast = _Run(mnist_small, settings, None, torch.device("cpu"))
    slow = _Run(mnist_small, settings, None, torch.device("cpu"))

    loss_fast = fast.outer_step()
    loss_slow = reference_step(slow)

    assert loss_fast == pytest.approx(loss_slow, rel=1e-5)
    for name, a, b in zip(("step sizes", "images"), _gradients(fast),
                          _gradients(slow)):
        assert b.norm() > 0, name
        assert _relative_error(a, b) < 1e-4, name
    # the same Adam step from the same gradients: the same new images
    torch.testing.assert_close(fast.x, slow.x, rtol=0, atol=1e-3)
