"""Adaptive decoding with a learned temperature head (LPO, Dhuliawala et al. 2024)."""
