"""Scripts run from the repository root (`python -m tools.NAME`): benchmarks, soaks, GPU runs, reports."""
