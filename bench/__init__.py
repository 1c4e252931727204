"""Benchmarks; run with `make bench` or `python bench/<name>.py`."""
