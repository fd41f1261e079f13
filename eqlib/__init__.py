"""eqlib: the code behind the book "Identifiable equivariant networks are layerwise equivariant".

One module per idea: ``data`` (CIFAR-10, the mirror), ``models`` (MLP, attention
autoencoder), ``losses``, ``train`` (train-or-load), ``symmetry`` (matching and metrics),
``theory`` (exact constructions), ``plots`` and ``report``.
"""
__version__ = "0.1.0"
