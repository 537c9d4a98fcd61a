"""Experiments: the study runner, tidy tables, figures."""
