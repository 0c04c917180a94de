"""Benchmarks of issue 7: `python -m bench --size smoke|full` (see bench/run.py)."""
