"""Pools of trained networks: the theta0 of ``init="pretrained"``.

A pool file is a ``torch.save`` dict: ``format`` (``"distill-pool"``),
``dataset``, ``model``, ``train`` (weight dicts drawn from during
distillation) and ``test`` (held-out weight dicts used by evaluation).
"""

import os

import torch

from .errors import DistillError
from .training import train_networks

POOL_FORMAT = "distill-pool"


def make_pool(data, model_name, count, held_out, seed=0, progress=None, **train):
    """Train ``count + held_out`` networks; a dict ready for :func:`save_pool`.

    ``train`` keyword arguments go to :func:`distill.train_network`
    (``epochs``, ``lr``, ``batch_size``, ``initializer``).
    """
    if count <= 0 or held_out <= 0:
        raise DistillError(
            f"a pool needs at least one network to train on and one held out, "
            f"got count={count}, held_out={held_out}"
        )
    networks = train_networks(data, model_name, count + held_out, seed=seed,
                              progress=progress, **train)
    cpu = [{k: v.cpu() for k, v in n.items()} for n in networks]
    return {
        "format": POOL_FORMAT, "dataset": data.name, "model": model_name,
        "train": cpu[:count], "test": cpu[count:],
    }


def save_pool(pool, path):
    """Write a pool atomically."""
    temporary = os.fspath(path) + ".tmp"
    torch.save(pool, temporary)
    os.replace(temporary, path)


def load_pool(path, model_name=None):
    """Read a pool file; check it is one and, if given, of ``model_name``."""
    if not os.path.exists(path):
        raise DistillError(
            f"no pool file {path}; make one with `python -m distill pretrain`"
        )
    try:
        pool = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        raise DistillError(f"{path} is not a readable pool file") from None
    if not isinstance(pool, dict) or pool.get("format") != POOL_FORMAT:
        raise DistillError(
            f"{path} is not a pool of trained networks (format {POOL_FORMAT!r})"
        )
    if model_name is not None and pool["model"] != model_name:
        raise DistillError(
            f"{path} holds {pool['model']} networks, not {model_name}; pretrain "
            f"a pool of {model_name} networks"
        )
    return pool
