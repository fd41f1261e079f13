"""eqlib: the code behind the book "Identifiable equivariant networks are layerwise equivariant".

Split by idea below and by page above. Below: ``data`` (CIFAR-10, the mirror), ``models`` (MLP,
attention autoencoder, CNN), ``losses``, ``train`` (train-or-load), ``symmetry`` (matching), ``metric``
(the paper's metric), ``analysis``, ``beyond``, ``conv``, ``theory`` (exact constructions), ``groups``,
``memo`` (the analysis cache), ``atomic``, ``precision``, ``protocol``, ``paper``, ``verdicts``, ``tables``,
``plots`` and ``report``. Above: ``eqlib.pages``, one module per page of the book.
"""
__version__ = "0.1.0"
