"""The book's protocol in one place: the networks, the training and the sample sizes of every chapter,
in every profile.

:class:`Protocol` holds the MLP chapters' settings: the paper's where it states them, ours where it does
not (:data:`ORIGINS` says which). Each other chapter departs from it only where :data:`CHAPTERS` says (its
own evaluation sizes, the attention model's length), and the quick profile (CI) shrinks training and
samples as :data:`QUICK` says. A notebook's parameters default to ``None``, meaning "the protocol's";
:func:`resolve` fills them in, and a value given explicitly (Colab, papermill) wins. Every page records
the resolved protocol in its results file.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from eqlib.losses import TASKS
from eqlib.models import ACTIVATIONS, AttentionConfig, MLPConfig
from eqlib.checks import check_choice, check_int, check_number
from eqlib.train import OPTIMIZERS, TrainConfig


@dataclass(frozen=True)
class Protocol:
    hidden: tuple = (64, 256, 256)       # hidden widths; the first layer's 64 neurons are the filters
    first_init_scale: float = 0.01       # multiplies PyTorch's default init of the first layer
    epochs: int = 20
    equivariance_start: float = 0.5      # the equivariance loss is on for the second half
    equivariance_weight: float = 1.0
    optimizer: str = "adam"
    lr: float = 1e-3
    batch_size: int = 256
    weight_decay: float = 0.0
    train_size: int = 0                  # 0: all 50,000 training images
    seeds: tuple = (0, 1, 2)             # every number is over these seeds
    n_fit: int = 20_000                  # samples fitting the metric's linear map
    n_eval: int = 100_000                # samples for its median, primary reading (the paper: 100,000)
    n_eval_other: int = 20_000           # samples for the other readings' medians
    n_images: int = 20_000               # training images for the data metric of the labels

    def __post_init__(self):
        """Every value checked where it is made, so that a page's bad parameter stops it before anything runs,
        with a message naming the parameter, its value and what is allowed."""
        for k in ("epochs", "batch_size", "n_fit", "n_eval", "n_eval_other", "n_images"):
            check_int(k, getattr(self, k), minimum=1)
        check_int("train_size", self.train_size)
        for k in ("first_init_scale", "lr", "weight_decay", "equivariance_weight"):
            check_number(k, getattr(self, k))
        if not 0.0 <= self.equivariance_start <= 1.0:
            raise ValueError(f"parameter equivariance_start={self.equivariance_start!r} must lie in [0, 1]")
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        for k in ("hidden", "seeds"):
            v = getattr(self, k)
            if not isinstance(v, tuple) or not v or any(isinstance(x, bool) or not isinstance(x, int) or x < (k == "hidden")
                                                         for x in v):
                what = "positive integers" if k == "hidden" else "non-negative integers"
                raise ValueError(f"parameter {k}={list(v) if isinstance(v, tuple) else v!r} must be a non-empty list of {what}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"parameter seeds={list(self.seeds)!r} must be distinct")

    def train_kwargs(self) -> dict:
        """The :class:`eqlib.train.TrainConfig` settings of the protocol."""
        return {k: getattr(self, k) for k in ("epochs", "equivariance_start", "equivariance_weight", "optimizer",
                                               "lr", "batch_size", "weight_decay", "train_size")}


ORIGINS = {   # whose choice each setting is (eqlib.pages.report.deviations lists ours on the report page)
    "hidden": "the first layer's 64 neurons are the paper's; the widths after it are ours",
    "first_init_scale": "ours",
    "epochs": "ours",
    "equivariance_start": "the paper's: the loss on for the second half of training",
    "equivariance_weight": "ours",
    "optimizer": "ours", "lr": "ours", "batch_size": "ours", "weight_decay": "ours",
    "train_size": "ours: all 50,000 training images",
    "seeds": "ours",
    "n_fit": "ours",
    "n_eval": "the paper's: 100,000 noise samples",
    "n_eval_other": "ours, from the median's bootstrap standard error",
    "n_images": "ours",
}
# each chapter's departures from the protocol (absent: none)
MLP_PAGE_SEEDS = (0, 1, 2, 3, 4)      # the four MLP pages (and their summary): five seeds; the study keeps three
CHAPTERS = {
    "mlp": {"seeds": MLP_PAGE_SEEDS},
    "mlp_summary": {"seeds": MLP_PAGE_SEEDS},
    "protocol_study": {"n_images": 10_000, "n_eval": 20_000},
    "attention": {"epochs": 16, "n_images": 2000, "n_eval": 20_000},
    "activation": {"n_eval": 20_000},
    "activations_summary": {"n_eval": 20_000},
    "augmentation": {"n_eval": 20_000},
    "dihedral": {"n_images": 2000},
    "emergence": {"n_fit": 5000, "n_eval": 10_000},
    "merging": {"n_images": 5000},
}
# the quick profile (CI): a few epochs on a subset, two seeds, small samples; per chapter on top of QUICK_ALL
QUICK_ALL = {"epochs": 2, "train_size": 5000, "seeds": (0, 1)}
QUICK = {
    "mlp": {"n_eval": 5000, "n_eval_other": 2000, "n_fit": 5000, "n_images": 4000},
    "mlp_summary": {"n_eval": 5000, "n_eval_other": 2000, "n_fit": 5000, "n_images": 4000},
    "protocol_study": {"n_images": 2000, "n_fit": 2000, "n_eval": 2000},
    "attention": {"train_size": 3000, "n_images": 256, "n_eval": 2000, "n_fit": 2000},
    "activation": {"n_images": 2000, "n_fit": 2000, "n_eval": 2000},
    "activations_summary": {"n_images": 2000, "n_fit": 2000, "n_eval": 2000},
    "augmentation": {"n_images": 2000, "n_fit": 2000, "n_eval": 2000},
    "dihedral": {"n_images": 500},
    "emergence": {"n_fit": 1000, "n_eval": 1000},
    "merging": {"n_images": 1000},
}
PROFILES = ("full", "quick")


def resolve(chapter: str, profile: str = "full", **given) -> Protocol:
    """The protocol of ``chapter`` in ``profile``, with every parameter in ``given`` that is not ``None`` over it
    (lists become tuples). Unknown chapters, profiles and parameters are named in the error."""
    if chapter not in CHAPTERS:
        raise ValueError(f"unknown chapter {chapter!r}; allowed: {', '.join(CHAPTERS)}")
    if profile not in PROFILES:
        raise ValueError(f"parameter profile={profile!r} is not allowed; choose one of: {', '.join(map(repr, PROFILES))}")
    names = {f.name for f in fields(Protocol)}
    bad = sorted(set(given) - names)
    if bad:
        raise ValueError(f"unknown protocol parameters {bad}; allowed: {', '.join(sorted(names))}")
    quick = {**QUICK_ALL, **QUICK[chapter]} if profile == "quick" else {}
    over = {k: tuple(v) if isinstance(v, list) else v for k, v in given.items() if v is not None}
    return replace(Protocol(), **{**CHAPTERS[chapter], **quick, **over})


def record(p: Protocol) -> dict:
    """The protocol as a page records it (JSON-ready)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(p).items()}


def mlp_configs(task="autoencoder", first_activation="tanh", hidden=None, first_init_scale=None, protocol=None,
                **train) -> tuple:
    """``(MLPConfig, TrainConfig)`` of an MLP chapter: a resolved ``protocol``'s settings (:func:`resolve`), else the
    default protocol's (:class:`Protocol`), with any setting given over them; both validate their values, and the
    chapter's own parameters are named in the message when they are wrong."""
    check_choice("task", task, list(TASKS))
    check_choice("first_activation", first_activation, list(ACTIVATIONS))
    for k in ("epochs", "train_size"):
        if k in train:
            check_int(k, train[k])
    base = Protocol() if protocol is None else protocol
    hidden = base.hidden if hidden is None else hidden
    first_init_scale = base.first_init_scale if first_init_scale is None else first_init_scale
    return (MLPConfig.paper(task, first_activation, hidden=hidden, first_init_scale=first_init_scale),
            TrainConfig(task=task, **{**base.train_kwargs(), **train}))


# --------------------------------------------------------------------------- the other chapters' networks and grids
@dataclass(frozen=True)
class AttentionNetwork:
    """The attention chapter's network: a stride-``patch`` convolution into ``dim``-dimensional tokens, one query with
    ``heads`` heads, an MLP decoder of width ``decoder_hidden``."""
    patch: int = 2                        # a 16 x 16 grid of 256 tokens
    dim: int = 64
    heads: int = 8
    decoder_hidden: int = 512

    def config(self) -> AttentionConfig:
        return AttentionConfig(patch=self.patch, dim=self.dim, heads=self.heads, decoder_hidden=self.decoder_hidden)


D4_WEIGHT = 30.0       # the D4 page's loss weight: at 10 one seed failed the page's own precondition (its page says so)


@dataclass(frozen=True)
class StudyGrid:
    """The protocol study's grid: each of our choices varied alone (the default cell is the MLP chapters' own)."""
    widths: tuple = ((64, 32, 64), (64, 16, 64))     # the bottleneck moves past the first layer
    weights: tuple = (0.3, 3.0, 10.0)                 # equivariance weights (the default is 1)
    init_scales: tuple = (1.0,)                       # first-layer init scales (the default is 0.01)
    lengths: tuple = (40,)                            # training lengths (the default is 20)
    decay_setting: bool = True                        # a decoupled weight decay shrinking an unused direction by e^-1
    classifier_factors: tuple = ("default", "weight", "init")   # the factors run for the classifier too
    stage2: bool = True                               # one combined setting, by the rule stated before its run


@dataclass(frozen=True)
class CNNProtocol:
    """The convolutional page's protocol: the network, the training and the sample sizes."""
    channels: tuple = (16, 32, 32)
    pools: tuple = (True, True, False)       # 32 -> 16 -> 8
    activations: tuple = ("tanh", "relu")
    epochs: int = 10                          # the second half: loss, flips or neither
    train_size: int = 12_000
    equivariance_weight: float = 30.0         # the smallest of 1, 3, 10, 30 that made every seed invariant (page)
    lr: float = 1e-3
    batch_size: int = 256
    seeds: tuple = (0, 1, 2)
    n_fit: int = 256                          # training images fitting the activation matching and the free map
    n_eval: int = 1000                        # test images for e_l
    n_merge: int = 2000                       # test images along the merge path
    n_test: int = 10_000                      # test images for the accuracy and invariance error after each epoch
    alphas: tuple = (0.0, 0.25, 0.5, 0.75, 1.0)


# each protocol's profiles: the full one and the quick one (CI)
OTHERS = {
    "attention": {"full": AttentionNetwork(), "quick": AttentionNetwork()},
    "study": {"full": StudyGrid(), "quick": StudyGrid(widths=((64, 16, 64),), weights=(3.0,), init_scales=(1.0,),
                                                      lengths=(4,), classifier_factors=("default", "weight"))},
    "cnn": {"full": CNNProtocol(), "quick": CNNProtocol(epochs=2, train_size=2000, seeds=(0, 1), n_fit=64, n_eval=200,
                                                       n_merge=500, n_test=1000)},
}


def resolve_other(name: str, profile: str = "full", **given):
    """The protocol ``name`` of :data:`OTHERS` (``"attention"``, ``"study"``, ``"cnn"``) in ``profile``, with every
    value given that is not ``None`` over it (lists become tuples, nested ones too)."""
    if name not in OTHERS:
        raise ValueError(f"unknown protocol {name!r}; allowed: {', '.join(OTHERS)}")
    if profile not in PROFILES:
        raise ValueError(f"parameter profile={profile!r} is not allowed; choose one of: {', '.join(map(repr, PROFILES))}")
    base = OTHERS[name][profile]
    names = {f.name for f in fields(base)}
    bad = sorted(set(given) - names)
    if bad:
        raise ValueError(f"unknown {name} parameters {bad}; allowed: {', '.join(sorted(names))}")
    tup = lambda v: tuple(tup(x) for x in v) if isinstance(v, (list, tuple)) else v
    return replace(base, **{k: tup(v) for k, v in given.items() if v is not None})


def d4_weight(given=None) -> float:
    """The D4 page's loss weight: :data:`D4_WEIGHT` unless given."""
    return D4_WEIGHT if given is None else float(given)
