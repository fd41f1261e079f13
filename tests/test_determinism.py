"""Same seed, same machine, same numbers: a chapter trained twice from empty caches gives the same
results file (its digest), apart from its timings. In a file of its own, the suite's longest test, so
that make test's workers (pytest-xdist, a file per worker) run it beside the others."""
import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "book"))
import build  # noqa: E402  (book/build.py)
from eqlib.results import VOLATILE  # noqa: E402
from conftest import cache_with_data  # noqa: E402


@pytest.mark.skipif(not os.environ.get("EQLIB_DATA"), reason="needs CIFAR-10 (EQLIB_DATA)")
def test_same_seed_same_results_file(tmp_path, monkeypatch):
    """Run the MLP chapter twice from empty model caches: the results files agree in
    everything but their timings (the digest says so)."""
    import papermill as pm
    digests, results = [], []
    monkeypatch.setenv("MKL_DYNAMIC", "FALSE")       # as book/build.py runs its kernels
    for k in range(2):
        monkeypatch.setenv("EQLIB_CACHE", str(cache_with_data(tmp_path / f"cache{k}")))   # no network, no analysis
        out = tmp_path / f"r{k}.json"
        pm.execute_notebook(str(ROOT / "notebooks" / "mlp_filters.ipynb"), str(tmp_path / f"o{k}.ipynb"),
                            parameters={"profile": "quick", "epochs": 2, "train_size": 1000, "n_eval": 2000,
                                        "n_eval_other": 1000, "n_fit": 2000, "n_images": 4000, "seeds": [0, 1],
                                        "live_widgets": False,
                                        "results_path": str(out)},
                            kernel_name=build.KERNEL, progress_bar=False, cwd=str(tmp_path))
        r = json.loads(out.read_text())
        assert not any(v for kind in r["loaded_from_cache"].values() for v in kind.values()), \
            "each run trains from scratch"
        digests.append(r["digest"])
        results.append(r)

    def differences(a, b, path=""):
        if isinstance(a, dict):
            return [d for k in a if k not in VOLATILE for d in differences(a[k], b.get(k), f"{path}/{k}")]
        if isinstance(a, list):
            return [d for i, (u, v) in enumerate(zip(a, b)) for d in differences(u, v, f"{path}[{i}]")]
        return [] if a == b else [f"{path}: {a!r} vs {b!r}"]

    assert digests[0] == digests[1], "same seed, same machine: same results; differences:\n" + \
        "\n".join(differences(*results)[:20])
