"""fipo-bench: train, evaluate and inspect GRPO / DAPO / FIPO reasoning runs."""

__version__ = "0.1.0"
