"""Depth versus width at fixed parameter budgets (Petty et al. 2024)."""
