"""Build the book: execute every chapter notebook with papermill, then run Jupyter Book.

    python book/build.py                  # full profile: paper settings, full CIFAR-10
    python book/build.py --profile quick  # small settings, for CI (pages say so)

Executed notebooks are build products. Each is cached under ``.cache/book/<profile>/``
with a key made of its template, its parameters, the eqlib sources and the data path, so
a rebuild after a text edit re-executes nothing. Jupyter Book then runs with warnings as
errors (``-W -n --keep-going``) and notebook execution off.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "book" / "generated"
STATIC = ROOT / "book" / "_static"
KERNEL = "eqlib"      # the project environment's Jupyter kernel; `make install` registers it there

# chapter -> (template notebook, parameters, page title); the profiles override parameters.
CHAPTERS = {
    "theory": ("theory.ipynb", {}, None),
    "mlp_tanh_autoencoder": ("mlp_filters.ipynb", {"task": "autoencoder", "first_activation": "tanh"},
                             "Tanh autoencoder"),
    "mlp_gelu_autoencoder": ("mlp_filters.ipynb", {"task": "autoencoder", "first_activation": "gelu"},
                             "GELU autoencoder"),
    "mlp_tanh_classifier": ("mlp_filters.ipynb", {"task": "classifier", "first_activation": "tanh"},
                            "Tanh classifier"),
    "mlp_gelu_classifier": ("mlp_filters.ipynb", {"task": "classifier", "first_activation": "gelu"},
                            "GELU classifier"),
    "mlp_sensitivity": ("mlp_sensitivity.ipynb", {}, None),
    "mlp_summary": ("mlp_summary.ipynb", {}, None),      # reads the results of the chapters above
    "attention": ("attention_heads.ipynb", {}, None),
    # beyond the paper (the Tanh autoencoder's runs above are reused from the model cache)
    "activation_relu": ("activation.ipynb", {"activation": "relu"}, "ReLU against its predicted group"),
    "activation_leaky_relu": ("activation.ipynb", {"activation": "leaky_relu"}, "Leaky ReLU against its predicted group"),
    "activation_sigmoid": ("activation.ipynb", {"activation": "sigmoid"}, "Sigmoid against its predicted group"),
    "activation_identity": ("activation.ipynb", {"activation": "identity"}, "The identity against its predicted group"),
    "activation_square": ("activation.ipynb", {"activation": "square"}, "x² against its predicted group"),
    "activations_summary": ("activations_summary.ipynb", {}, None),     # reads the activation pages' results
    "augmentation": ("augmentation.ipynb", {}, None),
    "dihedral": ("dihedral.ipynb", {}, None),
    "emergence": ("emergence.ipynb", {}, None),
    "merging": ("merging.ipynb", {}, None),
}
MLP_CHAPTERS = [c for c, (t, _, _) in CHAPTERS.items() if t == "mlp_filters.ipynb"]
ACTIVATION_CHAPTERS = [c for c, (t, _, _) in CHAPTERS.items() if t == "activation.ipynb"]
SUMMARIES = {"mlp_summary": MLP_CHAPTERS, "activations_summary": ACTIVATION_CHAPTERS}
QUICK_TRAIN = {"profile": "quick", "epochs": 2, "train_size": 5000, "seeds": [0, 1]}

PROFILES = {
    "full": {},   # every notebook's own defaults are the paper settings
    "quick": {    # CI: a few epochs on a subset; the pages say in a box that this is a quick build
        "theory": {"profile": "quick"},
        **{c: {"profile": "quick", "epochs": 2, "train_size": 5000, "n_eval": 5000, "n_fit": 5000, "n_images": 4000,
               "seeds": [0, 1]} for c in MLP_CHAPTERS},
        "mlp_sensitivity": {"profile": "quick", "weights": [0.1, 1.0], "epoch_grid": [2, 4], "default_epochs": 2,
                            "ramp_weights": [1.0], "train_size": 3000, "n_eval": 2000},
        "mlp_summary": {"profile": "quick", "seeds": [0, 1]},
        "attention": {"profile": "quick", "epochs": 2, "train_size": 3000, "n_images": 256, "n_eval": 2000,
                      "n_fit": 2000, "seeds": [0, 1]},
        **{c: {**QUICK_TRAIN, "n_images": 2000, "n_fit": 2000, "n_eval": 2000} for c in ACTIVATION_CHAPTERS},
        "activations_summary": {**QUICK_TRAIN, "n_images": 2000, "n_fit": 2000, "n_eval": 2000},
        "augmentation": {**QUICK_TRAIN, "n_images": 2000, "n_fit": 2000, "n_eval": 2000},
        "dihedral": {**QUICK_TRAIN, "n_images": 500},
        "emergence": {**QUICK_TRAIN, "n_fit": 1000, "n_eval": 1000},
        "merging": {**QUICK_TRAIN, "n_images": 1000},
    },
}


def sha(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
    return h.hexdigest()[:20]


def eqlib_digest() -> str:
    return sha(*[f.read_bytes() for f in sorted((ROOT / "eqlib").glob("*.py"))])


def repository_url() -> tuple[str, str]:
    import yaml
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    return cfg["url"].rstrip("/"), cfg.get("branch", "main")


def colab_link(template: str) -> str:
    url, branch = repository_url()
    return f"https://colab.research.google.com/github/{url.split('github.com/')[1]}/blob/{branch}/notebooks/{template}"


PLACEHOLDER_URL = "https://github.com/eqlib/identifiable-equivariant-networks"   # until published


def placeholder_warning(profile: str) -> str | None:
    """A warning when the full book is built with the placeholder repository.url in _config.yml."""
    if profile == "full" and repository_url()[0] == PLACEHOLDER_URL:
        return (f"[book] WARNING: repository.url in _config.yml is still the placeholder {PLACEHOLDER_URL}: "
                "the Colab links and install cells lead nowhere. Set it, then run python book/sync_repository.py "
                "(README, Publishing).")
    return None


def check_kernel(name: str = KERNEL) -> str:
    """The interpreter of the kernel the chapters run in, which must be this environment's: papermill
    finds kernels by name, and a kernel of that name elsewhere would run the chapters with other packages."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    fix = f"register it with `{sys.executable} -m ipykernel install --sys-prefix --name {name}` (make install does)"
    try:
        argv0 = KernelSpecManager().get_kernel_spec(name).argv[0]
    except NoSuchKernel:
        sys.exit(f"[book] no Jupyter kernel {name!r}: {fix}")
    if argv0 in ("python", "python3"):        # jupyter_client runs these as sys.executable
        return sys.executable
    if Path(os.path.abspath(argv0)).parent != Path(os.path.abspath(sys.executable)).parent:
        sys.exit(f"[book] the Jupyter kernel {name!r} runs {argv0}, not this environment's {sys.executable}: {fix}")
    return argv0


def execute(chapter: str, profile: str, force: bool) -> tuple[Path, float, bool]:
    """Execute one chapter (or reuse its cached execution); return its cached notebook."""
    import papermill as pm
    template, params, title = CHAPTERS[chapter]
    params = {**params, **PROFILES[profile].get(chapter, {})}
    out_dir = ROOT / ".cache" / "book" / profile
    out_dir.mkdir(parents=True, exist_ok=True)
    nb_out, results = out_dir / f"{chapter}.ipynb", out_dir / f"{chapter}.json"
    params["results_path"] = str(results)
    if "live_widgets" in (ROOT / "notebooks" / template).read_text():
        params["live_widgets"] = False        # no widget state in static pages
    if chapter == "mlp_summary":
        params["results_paths"] = [str(out_dir / f"{c}.json") for c in MLP_CHAPTERS]
    if chapter == "activations_summary":
        params["results_paths"] = {CHAPTERS[c][1]["activation"]: str(out_dir / f"{c}.json") for c in ACTIVATION_CHAPTERS}
    inputs = [(ROOT / "notebooks" / template).read_bytes(), json.dumps(params, sort_keys=True),
              eqlib_digest(), os.environ.get("EQLIB_DATA", "")]
    if chapter in SUMMARIES:
        inputs += [(out_dir / f"{c}.json").read_bytes() for c in SUMMARIES[chapter]]
    key = sha(*inputs)
    key_file = out_dir / f"{chapter}.key"
    if not force and nb_out.exists() and results.exists() and key_file.exists() and key_file.read_text() == key:
        return nb_out, 0.0, True
    key_file.unlink(missing_ok=True)
    check_kernel()
    start = time.perf_counter()
    # MKL_DYNAMIC=FALSE: MKL must not use fewer threads under load, which changes the order of
    # floating-point sums and so the last bits of the results.
    env = {"EQLIB_BOOK": "1", "TQDM_DISABLE": "1", "MKL_DYNAMIC": "FALSE"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        pm.execute_notebook(str(ROOT / "notebooks" / template), str(nb_out), parameters=params,
                            kernel_name=KERNEL, cwd=str(ROOT / "notebooks"), progress_bar=False)
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    _decorate(nb_out, template, title)
    key_file.write_text(key)
    return nb_out, time.perf_counter() - start, False


def _decorate(path: Path, template: str, title: str | None):
    """Book-only touches: the page title, the injected parameters hidden, a Colab link under the title."""
    import nbformat
    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("widgets", None)      # else the page would load widget JS from a CDN
    first = next(c for c in nb.cells if c.cell_type == "markdown")
    if title:
        lines = first.source.split("\n")
        first.source = "\n".join([f"# {title}"] + lines[1:])
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "hide-cell" not in tags:
            tags.append("hide-cell")
    link = nbformat.v4.new_markdown_cell(
        f":::{{tip}}\nRun this chapter yourself: [open `notebooks/{template}` in Colab]({colab_link(template)}). "
        "Its first cell installs `eqlib`; CIFAR-10 is downloaded by torchvision.\n:::")
    link.metadata["tags"] = ["colab-link"]
    nb.cells = [c for c in nb.cells if "colab-link" not in c.metadata.get("tags", [])]
    first_md = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown")
    nb.cells.insert(first_md + 1, link)
    nbformat.write(nb, path)


def _training_seconds(res: dict) -> float:
    """Training time of a chapter's models as first trained (also when this build loaded them)."""
    def total(t):
        return sum(total(v) for v in t.values()) if isinstance(t, dict) else float(t)
    return total(res.get("train_seconds", 0.0)) + sum(r.get("seconds", 0.0) for r in res.get("runs", []))


def write_timings(profile: str, timings: dict):
    rows = ["| chapter | notebook executed in this build (s) | the page's own run time (s) | "
            "training its models from scratch took (s) |", "|---|---|---|---|"]
    for chapter, (seconds, cached) in timings.items():
        res = json.loads((ROOT / ".cache" / "book" / profile / f"{chapter}.json").read_text())
        run = res.get("provenance", {}).get("run_seconds")
        rows.append(f"| {chapter} | {'cached' if cached else f'{seconds:.0f}'} | {run if run is not None else '–'} | "
                    f"{_training_seconds(res):.0f} |")
    import platform
    import torch
    from eqlib.report import cpu_name
    machine = (f"{cpu_name()}, {os.cpu_count()} CPU threads, "
               f"{'CUDA' if torch.cuda.is_available() else 'no GPU'}, Python {platform.python_version()}, "
               f"torch {torch.__version__}")
    executed = sum(s for s, cached in timings.values() if not cached)
    (GENERATED / "timings.md").write_text(
        f"Profile **{profile}**, built on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine}; "
        f"notebooks executed in this build: {executed:.0f} s.\n\n" + "\n".join(rows) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="full", help=f"one of: {', '.join(PROFILES)}")
    ap.add_argument("--force", action="store_true", help="re-execute every notebook")
    ap.add_argument("--only", nargs="*", help="execute only these chapters (the book build then needs the others cached)")
    args = ap.parse_args(argv)
    if args.profile not in PROFILES:
        ap.error(f"unknown profile {args.profile!r}; allowed: {', '.join(PROFILES)}")
    unknown = set(args.only or []) - set(CHAPTERS)
    if unknown:
        ap.error(f"unknown chapters {sorted(unknown)}; allowed: {', '.join(CHAPTERS)}")

    warning = placeholder_warning(args.profile)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    GENERATED.mkdir(parents=True, exist_ok=True)
    timings = {}
    for chapter in CHAPTERS:
        if args.only and chapter not in args.only:
            continue
        print(f"[book] {chapter} ...", flush=True)
        nb, seconds, cached = execute(chapter, args.profile, args.force)
        timings[chapter] = (seconds, cached)
        print(f"[book] {chapter}: {'cached' if cached else f'{seconds:.0f} s'}", flush=True)
    for chapter in CHAPTERS:             # the profile's executed copies become the book's sources
        src = ROOT / ".cache" / "book" / args.profile / f"{chapter}.ipynb"
        if not src.exists():
            sys.exit(f"[book] chapter {chapter} of profile {args.profile} was never executed; run without --only")
        shutil.copyfile(src, GENERATED / f"{chapter}.ipynb")
        for suffix in (".json", ".png"):
            if src.with_suffix(suffix).exists():
                shutil.copyfile(src.with_suffix(suffix), GENERATED / f"{chapter}{suffix}")
    write_timings(args.profile, timings or {c: (0.0, True) for c in CHAPTERS})
    import plotly
    STATIC.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", STATIC / "plotly.min.js")

    out = [] if args.profile == "full" else ["--path-output", str(ROOT / "_build" / args.profile)]
    jb_args = ["build", str(ROOT), "-W", "-n", "--keep-going", *out]
    print("[book] jupyter-book", " ".join(jb_args), flush=True)
    # this environment's jupyter-book, whatever PATH holds (make does not activate the environment)
    jupyter_book = "import sys; from jupyter_book.cli.main import main; sys.exit(main())"
    subprocess.run([sys.executable, "-c", jupyter_book, *jb_args], check=True, cwd=ROOT)
    html = ROOT / "_build" / "html" if args.profile == "full" else ROOT / "_build" / args.profile / "_build" / "html"
    print(f"[book] done in {time.perf_counter() - t0:.0f} s: {html / 'index.html'}")
    if warning:
        print(warning, file=sys.stderr, flush=True)     # again, below the build's own output


if __name__ == "__main__":
    main()
