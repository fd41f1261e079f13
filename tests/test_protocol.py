"""The protocol in one place: no notebook or profile types a protocol value, every chapter resolves in every
profile, and the chapters' configurations are the protocol's."""
import json
import sys
from dataclasses import asdict, fields
from pathlib import Path

import pytest

from eqlib import protocol, registry
from eqlib.protocol import mlp_configs
from eqlib.train import TrainConfig, cache_key
from conftest import synthetic_cifar

ROOT = Path(__file__).resolve().parent.parent
NAMES = {f.name for f in fields(protocol.Protocol)}
OTHER_NAMES = {f.name for profiles in protocol.OTHERS.values() for f in fields(profiles["full"])} | {"d4_weight"}
sys.path.insert(0, str(ROOT / "book"))
import build  # noqa: E402  (book/build.py: the chapters and the profiles)

NOTEBOOK_CHAPTER = {p.notebook: p.protocol for p in registry.PAGES if p.protocol}     # the registry's


def parameters(template: str) -> dict:
    nb = json.loads((ROOT / "notebooks" / template).read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    values = {}
    exec("".join(cell["source"]), {}, values)
    return values, "".join("".join(c["source"]) for c in nb["cells"])


@pytest.mark.parametrize("template, chapter", NOTEBOOK_CHAPTER.items())
def test_a_notebook_types_no_protocol_value_and_resolves_its_chapter(template, chapter):
    values, text = parameters(template)
    typed = {k: v for k, v in values.items() if k in NAMES | OTHER_NAMES and v is not None}
    assert not typed, f"{template} types protocol values {typed}; they belong in eqlib.protocol"
    assert f'protocol.resolve("{chapter}", profile' in text and "protocol=P" in text, \
        "the notebook resolves its chapter's protocol and records it in its provenance"


def test_no_profile_passes_a_protocol_value_and_every_template_is_covered():
    for profile, per_chapter in build.PROFILES.items():
        for chapter, params in per_chapter.items():
            assert not set(params) & NAMES, f"{profile} profile passes {set(params) & NAMES} to {chapter}"
    templates = {t for t, _, _ in build.CHAPTERS.values()}
    assert templates - set(NOTEBOOK_CHAPTER) == {"theory.ipynb", "report.ipynb", "cnn.ipynb"}, \
        "every chapter that trains MLPs or attention reads eqlib.protocol (the CNN page its CNNProtocol)"


@pytest.mark.parametrize("chapter", protocol.CHAPTERS)
def test_every_chapter_resolves_in_every_profile_to_the_protocol_and_its_stated_departures(chapter):
    full, quick = protocol.resolve(chapter, "full"), protocol.resolve(chapter, "quick")
    base = asdict(protocol.Protocol())
    differs = {k for k, v in asdict(full).items() if v != base[k]}
    assert differs == set(protocol.CHAPTERS[chapter]), "the full profile departs only where CHAPTERS says"
    assert quick.epochs < full.epochs and len(quick.seeds) < len(full.seeds) and quick.train_size > 0
    assert protocol.resolve(chapter, "quick", epochs=7, seeds=[3]).epochs == 7, "an explicit value wins"
    assert set(protocol.ORIGINS) == NAMES, "every setting says whose choice it is"


def test_the_mlp_chapters_configurations_are_the_protocols_so_cache_keys_match():
    p = protocol.resolve("mlp", "full")
    mc, tc = mlp_configs("autoencoder", "tanh")
    assert mc.widths[1:-1] == p.hidden and mc.init_scales[0] == p.first_init_scale
    assert tc == TrainConfig(task="autoencoder", **p.train_kwargs())
    data = synthetic_cifar(n_train=20, n_test=10)
    explicit = mlp_configs("autoencoder", "tanh", p.hidden, p.first_init_scale, **p.train_kwargs())
    assert cache_key(mc, tc, data) == cache_key(*explicit, data) == cache_key(*mlp_configs("autoencoder", "tanh",
                                                                                       protocol=p), data)
    q = protocol.resolve("mlp", "quick")
    assert mlp_configs("classifier", "gelu", protocol=q)[1] == TrainConfig(task="classifier", **q.train_kwargs()), \
        "a notebook passes its resolved protocol, one object, not its values again"


def test_unknown_chapters_profiles_and_parameters_are_named():
    with pytest.raises(ValueError, match="unknown chapter 'cnn'"):
        protocol.resolve("cnn")
    with pytest.raises(ValueError, match="profile='fast' is not allowed"):
        protocol.resolve("mlp", "fast")
    with pytest.raises(ValueError, match=r"unknown protocol parameters \['epoch'\]"):
        protocol.resolve("mlp", epoch=3)


@pytest.mark.parametrize("given, message", [
    ({"seeds": []}, r"seeds=\[\] must be a non-empty list of non-negative integers"),
    ({"seeds": [0, 0]}, r"seeds=\[0, 0\] must be distinct"),
    ({"seeds": [0, -1]}, r"seeds=\[0, -1\] must be a non-empty list of non-negative integers"),
    ({"hidden": [64, 0]}, r"hidden=\[64, 0\] must be a non-empty list of positive integers"),
    ({"epochs": 0}, r"epochs=0 must be an integer >= 1"),
    ({"n_eval": 0}, r"n_eval=0 must be an integer >= 1"),
    ({"train_size": -5}, r"train_size=-5 must be an integer >= 0"),
    ({"lr": float("nan")}, r"lr=nan must be a finite number"),
    ({"equivariance_start": 1.5}, r"equivariance_start=1.5 must lie in \[0, 1\]"),
    ({"optimizer": "sgd"}, r"optimizer='sgd' is not allowed; choose one of: 'adam', 'adamw'"),
])
def test_a_bad_protocol_value_is_refused_naming_the_parameter_its_value_and_what_is_allowed(given, message):
    with pytest.raises(ValueError, match=message):
        protocol.resolve("mlp", "full", **given)


def test_a_run_of_zero_epochs_is_refused_and_says_what_it_would_be():
    with pytest.raises(ValueError, match=r"epochs=0 is not allowed: a positive integer .*initial_model"):
        TrainConfig(task="autoencoder", epochs=0)
    assert TrainConfig(task="autoencoder", epochs=1).epochs == 1


@pytest.mark.parametrize("template", ["cnn.ipynb", "attention_heads.ipynb", "dihedral.ipynb", "protocol_study.ipynb"])
def test_the_other_networks_and_grids_are_the_protocols_too(template):
    """The CNN's protocol, the attention network, the D4 weight and the study's grid live in eqlib.protocol: a notebook
    leaves them at None (and a value typed there is caught above, OTHER_NAMES)."""
    values, text = parameters(template)
    mine = {k: v for k, v in values.items() if k in OTHER_NAMES}
    assert mine and all(v is None for v in mine.values()), f"{template}: {mine}"
    assert "resolve_other(" in text or "d4_weight(" in text or "cnn.protocol(" in text


def test_the_other_protocols_resolve_and_name_what_is_wrong():
    assert protocol.resolve_other("study", "quick").widths == ((64, 16, 64),)
    assert protocol.resolve_other("study", "full", widths=[[64, 8, 64]]).widths == ((64, 8, 64),), "nested lists"
    assert protocol.resolve_other("attention", "full").config().heads == 8 and protocol.d4_weight() == protocol.D4_WEIGHT
    with pytest.raises(ValueError, match=r"unknown attention parameters \['head'\]"):
        protocol.resolve_other("attention", "full", head=4)
    with pytest.raises(ValueError, match="unknown protocol 'resnet'"):
        protocol.resolve_other("resnet")
