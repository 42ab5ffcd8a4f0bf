"""Benchmarks of issue 2's numbers; run with ``python -m benchmarks.<name>`` (see README)."""
