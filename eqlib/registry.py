"""The book's pages, one row each: the registry that the build, the table of contents, the report, the Colab
notebooks and the tests read, so that adding a page is its notebook, its module and one row here.

A row names the page (its chapter name, the file name of its executed notebook), the template notebook it is
made from and the parameters it is made with, its title, the part of the book it sits in (and the page it is a
section of), the pages whose results it reads, its module in :mod:`eqlib.pages`, the sentence its header opens
with, and the claims of the reproduction report it decides. Nothing here imports a page module.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Page:
    name: str                       # the chapter: its executed notebook is book/generated/<name>.ipynb
    notebook: str                   # the template in notebooks/
    shows: str                      # what the page shows, one sentence (its header's first line)
    part: str                       # the part of the book (_toc.yml's caption)
    module: str                     # its module, eqlib.pages.<module>
    params: dict = field(default_factory=dict)   # the page's own parameters (the template's defaults elsewhere)
    title: str | None = None        # the page's title where it is not the template's
    parent: str | None = None       # the page (or book/*.md) it is a section of in the table of contents
    inputs: tuple = ()              # the pages whose results files it reads (it executes after them)
    quick: dict = field(default_factory=dict)    # parameters of the quick profile besides profile="quick"
    claims: tuple = ()              # the report's claims this page decides (eqlib.pages.report.CLAIMS)
    protocol: str | None = None     # the protocol its notebook resolves (eqlib.protocol.CHAPTERS), if it trains


PARTS = ("Reproduction report", "Theory", "MLPs on CIFAR-10", "Attention", "Beyond the paper")
_MLP = ("mlp_tanh_autoencoder", "mlp_gelu_autoencoder", "mlp_tanh_classifier", "mlp_gelu_classifier")
_ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "identity", "square")
_ACT_TITLES = {"relu": "ReLU", "leaky_relu": "Leaky ReLU", "sigmoid": "Sigmoid", "identity": "The identity",
               "square": "x²"}


def _mlp(task: str, act: str, claims=()) -> Page:
    name = {"tanh": "Tanh", "gelu": "GELU"}[act]
    return Page(f"mlp_{act}_{task}", "mlp_filters.ipynb",
                f"the {name} {task}'s 64 first-layer filters, how the mirror acts on them, the paper's metric and the "
                "negated copies, over five seeds beside the weight-0 controls and the networks at initialisation",
                "MLPs on CIFAR-10", "mlp_filters", {"task": task, "first_activation": act}, f"{name} {task}",
                parent="book/mlp_overview", claims=claims, protocol="mlp")


PAGES = (     # in the order they execute: a page after the pages it reads, the report last
    Page("theory", "theory.ipynb", "the theorem's proof run step by step on exact networks, with counter-examples "
         "where identifiability fails", "Theory", "theory", claims=("theorem",)),
    _mlp("autoencoder", "tanh", ("tanh",)),
    _mlp("autoencoder", "gelu", ("gelu", "bypass")),
    _mlp("classifier", "tanh"),
    _mlp("classifier", "gelu"),
    Page("protocol_study", "protocol_study.ipynb", "whether the paper's Tanh–GELU contrast depends on our protocol: "
         "each of our choices varied alone, judged by criteria fixed before the results", "MLPs on CIFAR-10",
         "protocol_study", protocol="protocol_study"),
    Page("mlp_summary", "mlp_summary.ipynb", "the four MLP configurations beside the paper's table, under every "
         "reading of its metric", "MLPs on CIFAR-10", "mlp_summary", inputs=_MLP + ("protocol_study",),
         claims=("table", "table_autoencoder", "table_classifier"), protocol="mlp_summary"),
    Page("gallery", "gallery.ipynb", "every MLP network's 64 first-layer filters, each beside its mirror and its "
         "matched partner, framed by label: pick the task, the first activation, the seed and the network (equivariant, "
         "weight-0 control, at initialisation)", "MLPs on CIFAR-10", "gallery", inputs=_MLP, protocol="mlp"),
    Page("attention", "attention_heads.ipynb", "an attention autoencoder's heads and how the mirror permutes them, "
         "beside the control and the network at initialisation", "Attention", "attention_heads", claims=("attention",),
         protocol="attention"),
    *(Page(f"activation_{a}", "activation.ipynb", f"the {_ACT_TITLES[a] if a != 'square' else 'x²'} autoencoder's "
           "first layer fitted inside the group its activation predicts", "Beyond the paper", "activation",
           {"activation": a}, f"{_ACT_TITLES[a]} against its predicted group", parent="activations_summary",
           protocol="activation")
      for a in _ACTIVATIONS),
    Page("activations_summary", "activations_summary.ipynb", "every first activation against the group the theory "
         "predicts for it, side by side", "Beyond the paper", "activations_summary",
         inputs=tuple(f"activation_{a}" for a in _ACTIVATIONS), protocol="activations_summary"),
    Page("cnn", "cnn.ipynb", "a small CNN trained to be mirror invariant, read layer by layer against its nulls",
         "Beyond the paper", "cnn", claims=("cnn",)),
    Page("dihedral", "dihedral.ipynb", "an MLP trained to be equivariant to the 8 symmetries of the square, and whether "
         "its fitted actions compose as the group does", "Beyond the paper", "dihedral", claims=("dihedral",),
         protocol="dihedral"),
    Page("augmentation", "augmentation.ipynb", "networks made mirror-equivariant by augmentation instead of the loss, "
         "against the loss's", "Beyond the paper", "augmentation", claims=("augmentation",), protocol="augmentation"),
    Page("emergence", "emergence.ipynb", "when the layerwise structure appears, epoch by epoch", "Beyond the paper",
         "emergence", protocol="emergence"),
    Page("merging", "merging.ipynb", "a network merged with its mirrored self and with another seed, before and "
         "after aligning their neurons", "Beyond the paper", "merging", protocol="merging"),
    Page("report", "report.ipynb", "the paper's claims, our evidence for each and a verdict computed by rules stated "
         "on the page", "Reproduction report", "report"),
)
PAGES_BY_NAME = {p.name: p for p in PAGES}
REPORT_INPUTS = tuple(p.name for p in PAGES if p.name != "report")


ROOT_PAGE = "book/intro"                                        # the book's first page
BOOK_PAGES = {"MLPs on CIFAR-10": ("book/mlp_overview",), "Reproducing": ("book/reproduce", "book/bibliography")}
PART_ORDER = ("Reproduction report", "Theory", "MLPs on CIFAR-10", "Attention", "Beyond the paper", "Reproducing")


def toc() -> dict:
    """The book's table of contents (Jupyter Book's ``_toc.yml``), from the rows: the parts in :data:`PART_ORDER`, in
    each part its pages in the rows' order (a page's sections under it, a book page of :data:`BOOK_PAGES` before the
    pages that are its sections), the report first in the book although it executes last."""
    parts = []
    for caption in PART_ORDER:
        entries = []
        tops = [p.name for p in PAGES if p.part == caption and p.parent is None]
        for md in BOOK_PAGES.get(caption, ()):
            children = [f"book/generated/{p.name}" for p in PAGES if p.parent == md]
            entries.append({"file": md, **({"sections": [{"file": c} for c in children]} if children else {})})
        for name in tops:
            children = [f"book/generated/{p.name}" for p in PAGES if p.parent == name]
            entry = {"file": f"book/generated/{name}"}
            if children:
                entry["sections"] = [{"file": c} for c in children]
            entries.append(entry)
        if entries:
            parts.append({"caption": caption, "chapters": entries})
    return {"format": "jb-book", "root": ROOT_PAGE, "parts": parts}


def page(name: str) -> Page:
    """The row of page ``name``; an unknown name is named in the error with the allowed ones."""
    if name not in PAGES_BY_NAME:
        raise ValueError(f"unknown page {name!r}; allowed: {', '.join(PAGES_BY_NAME)}")
    return PAGES_BY_NAME[name]


def inputs(name: str) -> tuple:
    """The pages whose results page ``name`` reads (the report reads every other page's)."""
    return REPORT_INPUTS if name == "report" else page(name).inputs


def claim_pages() -> dict:
    """``{claim: page}`` for every claim of the report."""
    return {c: p.name for p in PAGES for c in p.claims}
