"""The analysis cache: a change to a page's presentation reruns no analysis, a change to the analysis
code reruns it, and cached values are the computed ones."""
import shutil
from pathlib import Path

import pytest
import torch

from eqlib import memo
from eqlib.analysis import analyze_mlp, mlp_metric
from eqlib.models import MLP, MLPConfig
from conftest import synthetic_cifar


@pytest.fixture
def sources(tmp_path, monkeypatch):
    """A copy of eqlib's sources that the cache keys read, and an empty cache."""
    src = tmp_path / "eqlib"
    shutil.copytree(Path(memo.__file__).parent, src, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(memo, "SOURCE_DIR", src)
    monkeypatch.setenv("EQLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EQLIB_ANALYSIS_CACHE", raising=False)
    return src


def models(n=2):
    torch.manual_seed(0)
    return {"equivariant": [MLP(MLPConfig((3072, 6, 4, 3072), ("tanh", "gelu"))) for _ in range(n)]}


def run(ms, data):
    x = data.tensors()[0][:200]
    a = [analyze_mlp(m, "autoencoder", x, x[:100], n_function=50) for m in ms["equivariant"]]
    return a, mlp_metric(ms, data, readings=["gaussian"], n_fit=300, n_eval=300)


def counts(before):
    return {k: memo.STATS[k] - before[k] for k in memo.STATS}


def test_a_change_to_plots_reruns_nothing_and_a_change_to_metric_reruns_the_analyses(sources):
    data, ms = synthetic_cifar(n_train=300, n_test=100), models()
    before = dict(memo.STATS)
    a1, m1 = run(ms, data)
    assert counts(before) == {"hits": 0, "misses": 4}, "first run: two analyses and two models' metric computed"
    (sources / "plots.py").write_text((sources / "plots.py").read_text() + "\nPLANTED = 'a change to a figure'\n")
    before = dict(memo.STATS)
    a2, m2 = run(ms, data)
    assert counts(before) == {"hits": 4, "misses": 0}, "a figure changed: every analysis comes from the cache"
    assert m2 == m1 and [x["explained"] for x in a2] == [x["explained"] for x in a1]
    (sources / "metric.py").write_text((sources / "metric.py").read_text() + "\nPLANTED = 'a change to the metric'\n")
    before = dict(memo.STATS)
    a3, m3 = run(ms, data)
    assert counts(before) == {"hits": 0, "misses": 4}, "the metric's code changed: the analyses rerun"
    assert m3 == m1, "and give the same values"


def test_a_docstring_or_a_comment_is_not_code(sources):
    """Rewording a docstring or a comment of the metric, or reflowing its lines, keeps every entry; a change
    to one number in its code does not."""
    data, ms = synthetic_cifar(n_train=300, n_test=100), models()
    m1 = run(ms, data)[1]
    text = (sources / "metric.py").read_text()
    doc = text.split('"""', 2)[1]
    reworded = text.replace(doc, doc + " Reworded.", 1) + "\n# a comment\n\n\n"
    (sources / "metric.py").write_text(reworded)
    before = dict(memo.STATS)
    assert run(ms, data)[1] == m1 and counts(before) == {"hits": 4, "misses": 0}, "docstring and comment: all hits"
    (sources / "metric.py").write_text(reworded + "PLANTED = 0.5\n")
    run(ms, data)
    (sources / "metric.py").write_text(reworded + "PLANTED = 0.6\n")     # one digit, same length, same second
    before = dict(memo.STATS)
    run(ms, data)
    assert counts(before) == {"hits": 0, "misses": 4}, "one number of the metric's code changed: every entry reruns"
    assert memo.code_digest(sources / "metric.py") != memo.code_digest(sources / "plots.py")
    f = sources / "memo_probe.py"
    f.write_text('def f():\n    f"{1}"\n    return 1\n')
    first = memo.code_digest(f)
    f.write_text('def f():\n    f"{2}"\n    return 1\n')
    assert memo.code_digest(f) != first, "an f-string first in a body is code, not a docstring"


def test_a_change_outside_a_functions_import_closure_reruns_nothing(sources):
    """The key holds the sources of the modules the function's module imports, transitively (the training
    loop is not among the analysis's): a refactor of ``train.py`` keeps every analysis entry."""
    assert memo.closure("analysis") == ("analysis", "atomic", "data", "losses", "metric", "models", "symmetry")
    assert "train" not in memo.closure("beyond") and "analysis" in memo.closure("beyond")
    data, ms = synthetic_cifar(n_train=300, n_test=100), models()
    run(ms, data)
    (sources / "train.py").write_text((sources / "train.py").read_text() + "\nPLANTED = 'a change to the loop'\n")
    before = dict(memo.STATS)
    run(ms, data)
    assert counts(before) == {"hits": 4, "misses": 0}, "the training loop changed: no analysis reruns"
    (sources / "symmetry.py").write_text((sources / "symmetry.py").read_text() + "\nPLANTED = 'the matching'\n")
    before = dict(memo.STATS)
    run(ms, data)
    assert counts(before) == {"hits": 0, "misses": 4}, "a module in the closure changed: both rerun"


def test_only_the_missing_models_are_measured_and_their_values_match_a_shared_call(sources, monkeypatch):
    data, ms = synthetic_cifar(n_train=300, n_test=100), models(3)
    kw = dict(readings=["gaussian"], n_fit=300, n_eval=300)
    first = mlp_metric({"equivariant": ms["equivariant"][:1]}, data, **kw)
    before = dict(memo.STATS)
    both = mlp_metric(ms, data, **kw)
    assert counts(before) == {"hits": 1, "misses": 2}
    assert both["gaussian"]["equivariant"]["first_layer"]["mirror"][0] == first["gaussian"]["equivariant"]["first_layer"]["mirror"][0]
    monkeypatch.setenv("EQLIB_ANALYSIS_CACHE", "0")
    direct = mlp_metric(ms, data, **kw)
    assert direct == both, "the assembled result is the shared call's, model by model"


def test_a_damaged_entry_is_recomputed_and_bad_arguments_are_named(sources, tmp_path):
    data, ms = synthetic_cifar(n_train=300, n_test=100), models(1)
    run(ms, data)
    for f in (tmp_path / "cache" / "analysis").glob("analyze_mlp-*.pkl"):
        f.write_bytes(f.read_bytes()[:20])                  # a torn write
    before = dict(memo.STATS)
    run(ms, data)
    assert counts(before) == {"hits": 1, "misses": 1}, "the damaged analysis is recomputed, the metric reused"
    assert not list((tmp_path / "cache" / "analysis").glob("*.tmp")), "no temporary file is left behind"
    with pytest.raises(TypeError, match="cannot fingerprint a object"):
        memo.fingerprint(object())
    assert memo.fingerprint(tmp_path) == f"path:{tmp_path}", "a cache folder is an argument like any other"


def test_a_function_names_the_modules_it_depends_on(sources, monkeypatch):
    calls = []

    @memo.memo(modules=("plots",))
    def figure_data(x):
        calls.append(x)
        return x * 2

    assert figure_data(3) == 6 and figure_data(3) == 6 and calls == [3], "the second call is a hit"
    (sources / "metric.py").write_text((sources / "metric.py").read_text() + "\nPLANTED = 'not this function'\n")
    assert figure_data(3) == 6 and calls == [3], "a module it does not depend on changes nothing"
    (sources / "plots.py").write_text((sources / "plots.py").read_text() + "\nPLANTED = 'its code'\n")
    assert figure_data(3) == 6 and calls == [3, 3], "its own module changed: recomputed"
