"""Synthetic labelled traffic, model training and evaluation (imports the core only)."""
