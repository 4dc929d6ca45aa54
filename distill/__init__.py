"""Dataset Distillation (Wang, Zhu, Torralba, Efros, 2018) in PyTorch.

The public names, used by the notebooks and the command line:

    data = load_dataset("mnist")                      # whole tensors
    result = distill(data, Settings(iterations=500))  # learn the images
    evaluate(result, data)["test_accuracy"]           # train and test
"""

from .version import __version__
from .errors import DistillError, DivergedError
from .data import TensorData, load_dataset, quadratic_toy, resolve_root
from .models import MODELS, INITS, make_model, sample_params, count_parameters
from .unroll import unroll, gradient_step, accuracy, forward, loss_function
from .distillation import Settings, Distilled, distill, INIT_MODES
from .evaluation import evaluate, evaluate_inits, held_out_inits, summarize
from .training import train_network, train_networks
from . import linear, toy  # closed-form linear analysis; 1-D toy models
from . import allocator
from .pool import make_pool, save_pool, load_pool
from .baselines import BASELINE_KINDS, run_baseline

# reuse freed CPU memory instead of faulting it back in every outer
# iteration; DISTILL_KEEP_FREED_MEMORY=0 opts out (see distill.allocator)
if allocator.enabled_by_environment():
    allocator.keep_freed_memory()
