"""Scaling laws for precision (Kumar et al. 2024, arXiv 2411.04330)."""
