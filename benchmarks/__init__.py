"""Benchmark tasks, loaders, the sweep runner, reports, and speed benchmarks."""
