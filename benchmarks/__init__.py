"""Benchmarks of the distillation's outer loop (``python -m benchmarks.bench``)."""
