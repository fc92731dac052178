"""Benchmark of change detection (issue 3): ``python -m bench.detection``."""
