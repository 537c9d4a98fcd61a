"""Training: losses, the optimiser and delay bounds, checkpoints, the Trainer."""
