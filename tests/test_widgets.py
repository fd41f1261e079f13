"""The book's live widgets, driven in a Jupyter kernel as a reader's clicks would drive them: each control changed,
the widget's output changes and equals what the function it wraps returns for the new values."""
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "book"))
import build  # noqa: E402  (book/build.py: the kernel the book's pages run in)


def run_in_kernel(*cells: str, timeout=600):
    """Execute ``cells`` in the book's kernel (cwd: tests/, for conftest's synthetic data); a failing assertion
    fails here with its message."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, kernel_name=build.KERNEL, timeout=timeout, resources={"metadata": {"path": str(ROOT / "tests")}}
                   ).execute()
    return "".join(o.get("text", "") for c in nb.cells for o in c.outputs if o.get("output_type") == "stream")


def test_the_theory_pages_recovery_widget():
    out = run_in_kernel(
        "import functools, numpy as np, torch\n"
        "from eqlib.data import mirror\nfrom eqlib import theory\n"
        "g = functools.partial(mirror, image_shape=(3, 4, 4))\n"
        "x = np.random.default_rng(0).standard_normal((256, 48))\n"
        "w = theory.recovery_widget(g, x)\nfirst = w.result.data",
        "depth, width, seed = w.children[:3]\n"
        "depth.value, width.value, seed.value = 2, 8, 5\n"
        "assert w.result.data == theory.recovery_summary(g, x, 2, 8, 5), 'the widget shows the function of its values'\n"
        "assert w.result.data != first and 'involutions' in w.result.data\n"
        "print('recovery widget ok')")
    assert "recovery widget ok" in out


def test_the_attention_pages_explorer():
    out = run_in_kernel(
        "import torch\nfrom conftest import synthetic_cifar\n"
        "from eqlib.models import AttentionAutoencoder, AttentionConfig\n"
        "from eqlib.pages.attention_heads import attention_explorer, attention_widget\n"
        "data = synthetic_cifar(n_train=16, n_test=8)\ntorch.manual_seed(0)\n"
        "cfg = AttentionConfig(patch=4, dim=8, heads=2, decoder_hidden=8)\n"
        "models = {'equivariant': [AttentionAutoencoder(cfg)], 'control': [AttentionAutoencoder(cfg)]}\n"
        "w = attention_widget(data, models)\nfirst = w.result.to_plotly_json()",
        "image, model = w.children[:2]\n"
        "image.value = 5\n"
        "assert w.result.to_plotly_json() == attention_explorer(data, models, 0, 5, 'equivariant').to_plotly_json()\n"
        "assert w.result.to_plotly_json() != first, 'another image, another picture'\n"
        "model.value = 'control'\n"
        "assert w.result.to_plotly_json() == attention_explorer(data, models, 0, 5, 'control').to_plotly_json()\n"
        "print('attention widget ok')")
    assert "attention widget ok" in out


def test_the_mlp_pages_retrain_widget(tmp_path):
    out = run_in_kernel(
        f"import os\nos.environ['EQLIB_CACHE'] = {str(tmp_path)!r}\n"
        "from conftest import synthetic_cifar\n"
        "from eqlib.models import MLPConfig\nfrom eqlib.train import TrainConfig\n"
        "from eqlib.pages.mlp_filters import retrain_figure, retrain_widget\n"
        "data = synthetic_cifar(n_train=256, n_test=64)\n"
        "mc = MLPConfig.paper('autoencoder', 'tanh', hidden=(8, 16, 16))\n"
        "tc = TrainConfig(task='autoencoder', epochs=2, batch_size=128)\n"
        "w = retrain_widget(data, mc, tc, 0, n_images=128)\nassert w.result is None, 'nothing trains before the click'",
        "task, act, epochs, weight = w.children[:4]\n"
        "act.value, epochs.value, weight.value = 'gelu', 2, 3.0\n"
        "w.manual_button.click()\n"
        "expected = retrain_figure(data, mc, tc, 0, 'autoencoder', 'gelu', 2, 3.0, n_images=128)\n"
        "assert w.result.to_plotly_json() == expected.to_plotly_json(), 'the figure of the chosen settings'\n"
        "assert 'gelu autoencoder, 2 epochs, equivariance weight 3' in w.result.layout.title.text\n"
        "print('retrain widget ok')")
    assert "retrain widget ok" in out
