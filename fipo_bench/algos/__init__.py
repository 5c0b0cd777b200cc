"""Pure tensor math of the GRPO / DAPO / FIPO objective. No I/O, no package imports."""
