"""Training, export and evaluation (PyTorch).  Run as ``python -m hls_translate.training COMMAND``."""
