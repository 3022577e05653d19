"""Tülu 3 supervised fine-tuning at small scale: seed x chat template, data ablation, soups."""
