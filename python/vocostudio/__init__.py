"""VoCo Studio in PyTorch: the studio's models, VoCo math, preprocessing, data loading and training loop, name for
name with src/ (voco/, model/, kernels/, preprocess/, persist/, data/, trainer.py, train.py), so that a studio run
(.voco) continues under torchrun (DDP) and comes back to the studio."""
__version__ = '0.1.0'
