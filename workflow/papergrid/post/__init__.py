"""Tülu 3 preference tuning and RL with verifiable rewards, from the SFT experiment's models."""
