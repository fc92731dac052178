"""Benchmark of issue 5 (jobs that are never lost): ``python -m bench.jobs``."""
