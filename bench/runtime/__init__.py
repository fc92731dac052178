"""Task runtime benchmark (issue 4): ``python -m bench.runtime [--quick]``."""
