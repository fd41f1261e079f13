"""Build the book: execute every chapter notebook with papermill, then run Jupyter Book.

    python book/build.py                  # full profile: paper settings, full CIFAR-10
    python book/build.py --profile quick  # small settings, for CI (pages say so)
    python book/build.py --plan           # what would execute, and for how long; nothing runs
    python book/build.py --only mlp_summary   # one chapter, and the inputs it lacks

Executed notebooks are build products. Each is cached under ``.cache/book/<profile>/``
with a key made of its template, its parameters, the eqlib sources and the data path, so
a rebuild after a text edit re-executes nothing. Jupyter Book then runs with warnings as
errors (``-W -n --keep-going``) and notebook execution off.

The build first prints its plan: each chapter, cached or to execute (and why), with an estimate
from the last build's time on this CPU (``.cache/book/<profile>/timings.json``) or a stated
default. While a chapter runs, a line every 30 s (on a terminal: one line, updated) gives the
time spent and left, for the chapter and for the build; at the end, a table of estimated and
measured times. The chapters run in the Jupyter kernel ``eqlib``, this environment's Python
(``make install`` registers it).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import progress  # noqa: E402  (book/progress.py, beside this file)

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "book" / "generated"
STATIC = ROOT / "book" / "_static"
KERNEL = "eqlib"      # the project environment's Jupyter kernel; `make install` registers it there

import export  # noqa: E402  (book/export.py: each page's own notebook)
from eqlib import registry  # noqa: E402  (the pages, one row each)

# chapter -> (template notebook, the page's parameters, page title), from the registry of pages
CHAPTERS = {p.name: (p.notebook, p.params, p.title) for p in registry.PAGES}
MLP_CHAPTERS = [c for c, (t, _, _) in CHAPTERS.items() if t == "mlp_filters.ipynb"]
ACTIVATION_CHAPTERS = [c for c, (t, _, _) in CHAPTERS.items() if t == "activation.ipynb"]
SUMMARIES = {c: list(registry.inputs(c)) for c in CHAPTERS if registry.inputs(c)}
_BEYOND_FROM = list(CHAPTERS).index("activation_relu")
PARTS = {"the paper": list(CHAPTERS)[:_BEYOND_FROM], "beyond the paper": list(CHAPTERS)[_BEYOND_FROM:-1],
         "the report": ["report"]}   # the README's timing table, by part of the book
PROFILES = {
    # The profile's protocol (epochs, seeds, sample sizes) is eqlib.protocol's; a profile names itself and,
    # for the protocol study, the smaller grid it runs (the registry's `quick`). The pages say in a box that a
    # quick build is one.
    "full": {},
    "quick": {p.name: {"profile": "quick", **p.quick} for p in registry.PAGES},
}
# what a page's notebook receives from the build alone (paths of this machine, no widgets in a static page):
# papermill injects these in a hidden cell; the page's own parameters are in its visible parameters cell
BUILD_ONLY = ("results_path", "results_paths", "study_path", "live_widgets")


def sha(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
    return h.hexdigest()[:20]


def notebook_modules(nb) -> set:
    """The ``eqlib`` modules a notebook's code imports (names relative to the package: ``"page"``, ``"pages.cnn"``)."""
    import ast
    out = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "eqlib":
                base = node.module[len("eqlib."):] if node.module != "eqlib" else ""
                for a in node.names:
                    sub = f"{base}.{a.name}".lstrip(".")
                    out.add(sub if (ROOT / "eqlib").joinpath(*sub.split(".")).with_suffix(".py").exists() else base)
    return {m for m in out if m}


def eqlib_digest(chapter: str | None = None, profile: str = "full") -> str:
    """The eqlib sources a chapter's key holds: the modules its notebook imports and theirs, transitively, each
    with its path (without ``chapter``: every module). A change to a module a page does not import re-executes
    nothing of it."""
    from eqlib.memo import imported_closure
    if chapter is None:
        files = sorted((ROOT / "eqlib").rglob("*.py"))
    else:
        modules = notebook_modules(runnable(chapter, profile))
        if chapter == "report":      # it judges each claim with the deciding page's module, imported by name
            modules |= {f"pages.{p.module}" for p in registry.PAGES if p.claims}
        names = imported_closure(modules, ROOT / "eqlib")
        files = [(ROOT / "eqlib").joinpath(*n.split(".")).with_suffix(".py") for n in names]
        files += [ROOT / "eqlib" / "__init__.py", ROOT / "eqlib" / "networks.json"]
    return sha(*[str(f.relative_to(ROOT)).encode() + b"\0" + f.read_bytes() for f in files if f.exists()])


def repository_url() -> tuple[str, str]:
    import yaml
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    return cfg["url"].rstrip("/"), cfg.get("branch", "main")


UNSET_URL = "https://github.com/set.repository.url/in-config"   # repository.url until set: "set.repository.url" is no
# valid GitHub account name (names hold letters, digits and hyphens), so nobody can ever own this address
UNSET_MESSAGE = ("this book's repository address is not set (repository.url in _config.yml): set it and run "
                 "`python book/sync_repository.py` (README, Publishing); until then no page links its notebook")
COLAB_BRANCH = "colab"      # the branch the Pages workflow pushes the pages' notebooks to
COLAB_DIR = ROOT / "_build" / "colab"


def repository_set() -> bool:
    return repository_url()[0] != UNSET_URL


def owner_repo() -> str:
    return repository_url()[0].split("github.com/")[1]


def colab_link(chapter: str) -> str | None:
    """The page's own notebook on Colab (the Pages workflow publishes it on the branch COLAB_BRANCH); None while
    the repository's address is not set."""
    if not repository_set():
        return None
    return f"https://colab.research.google.com/github/{owner_repo()}/blob/{COLAB_BRANCH}/{chapter}.ipynb"


def pages_url() -> str | None:
    """Where GitHub Pages serves the book (a project site), or None while the address is not set."""
    if not repository_set():
        return None
    owner, repo = owner_repo().split("/")[:2]
    return f"https://{owner}.github.io/{repo}/"


def placeholder_warning(profile: str) -> str | None:
    """A warning when the full book is built before the repository's address is set."""
    if profile == "full" and not repository_set():
        return f"[book] WARNING: {UNSET_MESSAGE}."
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


def page_parameters(chapter: str, profile: str) -> dict:
    """The parameters the page is built with, as its visible parameters cell shows them: the profile, the page's
    own (the registry's) and the profile's."""
    template, params, _ = CHAPTERS[chapter]
    return {"profile": profile, **params, **PROFILES[profile].get(chapter, {})}


def runnable(chapter: str, profile: str):
    """The page's notebook as the build executes it (:func:`export.runnable`)."""
    return export.runnable(ROOT / "notebooks" / CHAPTERS[chapter][0], page_parameters(chapter, profile))


def job(chapter: str, profile: str) -> tuple[dict, str | None]:
    """The build-only parameters papermill injects (paths of this machine), and the chapter's cache key (None
    while a summary's inputs have no results)."""
    import nbformat
    out_dir = ROOT / ".cache" / "book" / profile
    results = out_dir / f"{chapter}.json"
    params = {"results_path": str(results)}
    if "live_widgets" in export.read_parameters(runnable(chapter, profile)):
        params["live_widgets"] = False        # no widget state in static pages
    if chapter in SUMMARIES:      # a page that reads others' results gets their files, {page: path}
        params["results_paths"] = {c: str(out_dir / f"{c}.json") for c in SUMMARIES[chapter]}
    if chapter == "mlp_summary":  # its own forms: a list of the MLP pages' files, and the study's apart
        params["results_paths"] = [str(out_dir / f"{c}.json") for c in MLP_CHAPTERS]
        params["study_path"] = str(out_dir / "protocol_study.json")
    if chapter == "activations_summary":
        params["results_paths"] = {CHAPTERS[c][1]["activation"]: str(out_dir / f"{c}.json") for c in ACTIVATION_CHAPTERS}
    assert set(params) <= set(BUILD_ONLY), "the build injects only its own paths"
    inputs = [nbformat.writes(runnable(chapter, profile)).encode(), json.dumps(params, sort_keys=True),
              eqlib_digest(chapter, profile), os.environ.get("EQLIB_DATA", "")]
    if chapter in SUMMARIES:
        if not all((out_dir / f"{c}.json").exists() for c in SUMMARIES[chapter]):
            return params, None
        inputs += [(out_dir / f"{c}.json").read_bytes() for c in SUMMARIES[chapter]]
    return params, sha(*inputs)


def status(chapter: str, profile: str) -> str:
    """"cached" (its executed copy is current), "changed" (executed from other inputs) or "missing"."""
    out = ROOT / ".cache" / "book" / profile / chapter
    copies = [out.with_suffix(s) for s in (".ipynb", ".json", ".key")]
    if not all(c.exists() for c in copies):
        return "missing"
    return "cached" if copies[2].read_text() == job(chapter, profile)[1] else "changed"


def execute(chapter: str, profile: str, force: bool) -> tuple[Path, float, bool]:
    """Execute one chapter (or reuse its cached execution); return its cached notebook."""
    import papermill as pm
    template, _, title = CHAPTERS[chapter]
    out_dir = ROOT / ".cache" / "book" / profile
    out_dir.mkdir(parents=True, exist_ok=True)
    nb_out, key_file = out_dir / f"{chapter}.ipynb", out_dir / f"{chapter}.key"
    if not force and status(chapter, profile) == "cached":
        return nb_out, 0.0, True
    params, key = job(chapter, profile)
    if key is None:
        sys.exit(f"[book] {chapter} reads the results of {', '.join(SUMMARIES[chapter])}: execute them first")
    key_file.unlink(missing_ok=True)
    source = out_dir / f"{chapter}.runnable.ipynb"
    import nbformat
    nbformat.write(runnable(chapter, profile), source)
    check_kernel()
    start = time.perf_counter()
    # MKL_DYNAMIC=FALSE: MKL must not use fewer threads under load, which changes the order of
    # floating-point sums and so the last bits of the results.
    env = {"EQLIB_BOOK": "1", "TQDM_DISABLE": "1", "MKL_DYNAMIC": "FALSE"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        pm.execute_notebook(str(source), str(nb_out), parameters=params,
                            kernel_name=KERNEL, cwd=str(ROOT / "notebooks"), progress_bar=False)
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    _decorate(nb_out, template, title)
    key_file.write_text(key)
    return nb_out, time.perf_counter() - start, False


def _decorate(path: Path, template: str, title: str | None):
    """Book-only touches of an executed page: its title, the build's injected paths hidden."""
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
    nbformat.write(nb, path)


# --------------------------------------------------------------------------- the pages' headers and notebooks
# Colab provides these itself, built for its own GPU driver and runtime: a page's notebook keeps them (pip may not
# change them while installing eqlib), and installs the lock's versions of the rest of eqlib's runtime needs.
COLAB_KEEPS = ("torch", "torchvision", "numpy", "pillow", "ipywidgets", "ipykernel", "ipython")
COLAB_LOCKED = ("scipy", "plotly", "tqdm")


def locked_versions(names=COLAB_LOCKED) -> list:
    """``name==version`` of ``names`` from requirements.lock."""
    lock = dict(line.strip().split("==") for line in (ROOT / "requirements.lock").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    missing = [n for n in names if n not in lock]
    if missing:
        raise ValueError(f"requirements.lock has no version of {missing}")
    return [f"{n}=={lock[n]}" for n in names]


def install_source(template_source: str, commit: str) -> str:
    """A page notebook's install cell: the template's, with the commit the book was built from and the locked
    versions written in."""
    out = re.sub(r'^(\s*COMMIT\s*=\s*)"[^"]*"', lambda m: f'{m[1]}"{commit}"', template_source, flags=re.M)
    out = re.sub(r"^(\s*LOCKED\s*=\s*)\[[^\]]*\]", lambda m: f"{m[1]}{locked_versions()!r}", out, flags=re.M)
    out = re.sub(r"^(\s*KEEP\s*=\s*)\[[^\]]*\]", lambda m: f"{m[1]}{list(COLAB_KEEPS)!r}", out, flags=re.M)
    if out.count(f'"{commit}"') != 1 or repr(locked_versions()) not in out or repr(list(COLAB_KEEPS)) not in out:
        raise ValueError("the install cell must assign COMMIT, LOCKED and KEEP once each")
    return out


def costs(chapter: str) -> dict:
    """What re-running ``chapter`` costs, per profile, from the reference timings (the GPU where measured)."""
    out = {}
    for profile in PROFILES:
        ref = progress.load_reference(progress.REFERENCE, profile)
        if ref and chapter in ref["seconds"]:
            split = ref.get("split", {}).get(chapter, {})
            out[profile] = {"seconds": ref["seconds"][chapter], "train": split.get("train_seconds", 0.0),
                            "cpu": ref["cpu"], "date": ref["date"]}
    return out


def scrub(nb, paths: dict):
    """``nb`` with every path of this machine replaced (``paths``: the path, what stands for it), so a downloaded
    notebook holds none."""
    import nbformat
    text = nbformat.writes(nb)
    for path, stands in sorted(paths.items(), key=lambda kv: -len(kv[0])):
        if path:
            text = text.replace(json.dumps(path)[1:-1], stands)
    return nbformat.reads(text, as_version=4)


def machine_paths() -> dict:
    """This machine's paths that executed notebooks may hold, longest first when replaced."""
    from eqlib.data import cache_dir
    paths = {str(ROOT) + "/": "", str(ROOT): ".", str(Path.home()): "~"}
    if os.environ.get("EQLIB_DATA"):
        paths[os.environ["EQLIB_DATA"]] = Path(os.environ["EQLIB_DATA"]).name
    paths[str(cache_dir())] = "$EQLIB_CACHE"
    return paths


def verdict_rows(profile: str) -> dict:
    """``{page: [report rows]}`` from this build's report (each row numbered as the report numbers it)."""
    res = ROOT / ".cache" / "book" / profile / "report.json"
    if not res.exists():
        return {}
    from eqlib.pages.report import SHORT
    out = {}
    for i, r in enumerate(json.loads(res.read_text())["claims"], 1):
        out.setdefault(r["page"], []).append({**r, "number": i, "short": SHORT[r["key"]]})
    return out


def book_page(target: str) -> str:
    """The HTML path of a page that a page of book/generated names (``mlp_summary``, ``../mlp_overview``,
    ``generated/theory``), relative to the book's root."""
    if target.startswith("../"):
        return f"book/{target[3:]}.html"
    return f"book/{target}.html" if "/" in target else f"book/generated/{target}.html"


def assemble(profile: str) -> Path:
    """Every executed page into the book's sources (book/generated), with its header and no path of this machine,
    and every page's own notebook for Colab into the returned folder (what the Pages workflow publishes)."""
    import nbformat
    colab_dir = COLAB_DIR if profile == "full" else ROOT / "_build" / profile / "colab"
    if colab_dir.exists():
        shutil.rmtree(colab_dir)
    colab_dir.mkdir(parents=True)
    verdicts, paths, commit = verdict_rows(profile), machine_paths(), full_commit()
    cites = export.bib_labels(ROOT / "book" / "references.bib")
    for chapter in CHAPTERS:
        row = registry.page(chapter)
        link = colab_link(chapter)
        colab_text = (f"[open this page's notebook in Colab]({link}): its parameters are this page's, and its first "
                      f"cell installs `eqlib` at the commit this book was built from (`{commit[:7]}`)." if link
                      else UNSET_MESSAGE + ".")
        mine = None if chapter == "report" else verdicts.get(chapter, [])
        body = export.header(row.shows, mine, costs(chapter), colab_text, "report.ipynb")
        src = ROOT / ".cache" / "book" / profile / f"{chapter}.ipynb"
        nb = nbformat.read(src, as_version=4)
        cell = nbformat.v4.new_markdown_cell(f":::{{admonition}} On this page\n:class: tip\n{body}\n:::")
        cell.metadata["tags"] = ["page-header"]
        export.insert_header(nb, cell)
        nbformat.write(scrub(nb, paths), GENERATED / f"{chapter}.ipynb")
        for suffix in (".json", ".png"):
            if src.with_suffix(suffix).exists():
                shutil.copyfile(src.with_suffix(suffix), GENERATED / f"{chapter}{suffix}")
        files = src.with_name(f"{chapter}_static")          # what a page links instead of embedding (the gallery)
        if files.is_dir():
            shutil.copytree(files, STATIC / "pages" / chapter, dirs_exist_ok=True)
        run_nb = runnable(chapter, profile)
        install = next(c for c in run_nb.cells if c.cell_type == "code" and "import eqlib" in c.source
                       and "remove-cell" in c.metadata.get("tags", []))
        title = CHAPTERS[chapter][2]
        if title:
            first = next(c for c in run_nb.cells if c.cell_type == "markdown")
            first.source = "\n".join([f"# {title}"] + first.source.split("\n")[1:])
        book_url = pages_url()
        colab_body = export.header(row.shows, mine, costs(chapter), colab_text,
                                   f"{book_url}book/generated/report.html" if book_url else "report.ipynb")
        nb_colab = export.colab(run_nb, colab_body, install_source(install.source, commit),
                                (lambda t: book_url + book_page(t)) if book_url else None, cites)
        nbformat.write(scrub(nb_colab, paths), colab_dir / f"{chapter}.ipynb")
    return colab_dir


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
    from eqlib.results import cpu_name
    machine = (f"{cpu_name()}, {os.cpu_count()} CPU threads, "
               f"{'CUDA' if torch.cuda.is_available() else 'no GPU'}, Python {platform.python_version()}, "
               f"torch {torch.__version__}")
    executed = sum(s for s, cached in timings.values() if not cached)
    (GENERATED / "timings.md").write_text(
        f"Profile **{profile}**, built on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine}; "
        f"notebooks executed in this build: {executed:.0f} s.\n\n" + "\n".join(rows) + "\n")


def write_reference(profile: str):
    """Record this CPU's last time of every chapter of ``profile``, with its matmul rate, as the reference
    that other machines' plans scale (``--write-reference``; run it after a cold build)."""
    from eqlib.results import cpu_name
    history = progress.load_history(ROOT / ".cache" / "book" / profile / "timings.json")
    record = progress.reference_record(history, cpu_name(), progress.matmul_rate(3.0), progress.today(), list(CHAPTERS),
                                       progress.calibrate())
    content = progress.with_reference(progress.REFERENCE, profile, record)
    progress.REFERENCE.write_text(json.dumps(content, indent=1, sort_keys=True) + "\n")
    print(f"[book] {progress.REFERENCE.relative_to(ROOT)}: the {profile} profile's reference from {cpu_name()} "
          f"({record['matmul_gflops']:.0f} GFLOP/s)", flush=True)
    write_readme_times()


def write_readme_times():
    """The README's build times, both blocks from book/reference_timings.json alone: the Quick start's line (every
    machine's quick and full build) and the table of the full build's chapters (the newest machine's)."""
    readme = ROOT / "README.md"
    full, quick = (progress.load_references(progress.REFERENCE, p) for p in ("full", "quick"))
    text = progress.replace_generated(readme.read_text(), "build-times", progress.build_times(full, quick))
    if full:
        text = progress.replace_generated(text, "timings", progress.timing_table(full[0], PARTS))
    readme.write_text(text)
    print("[book] README.md: the build times rewritten from book/reference_timings.json", flush=True)


def full_commit() -> str:
    """The checkout's commit, all 40 hex digits (what a page's notebook installs)."""
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip() or "unknown"


def commit_id() -> str:
    """The checkout's short commit, marked ``-dirty`` when it has uncommitted changes."""
    run = lambda *a: subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    sha = run("rev-parse", "--short", "HEAD") or "unknown"
    return sha + ("-dirty" if run("status", "--porcelain", "--untracked-files=no") else "")


def write_readme_claims(profile: str):
    """After a full build: rewrite the README's generated block (the claim-by-claim verdicts) from the
    report page's results file, naming the date, the machine and the commit."""
    from eqlib.pages.report import readme_block, replace_block
    res = ROOT / ".cache" / "book" / profile / "report.json"
    if profile != "full" or not res.exists():
        return
    r = json.loads(res.read_text())
    block = readme_block(r["claims"], time.strftime("%Y-%m-%d", time.gmtime()), r["provenance"]["machine"], commit_id(),
                         r.get("study"), r.get("contrast"), r.get("stage2"))
    readme = ROOT / "README.md"
    readme.write_text(replace_block(readme.read_text(), block))
    print("[book] README.md: the claims block rewritten from this build's results", flush=True)


def make_plan(profile: str, only: list[str] | None, force: bool, reference=None, rate=None,
              calibration=None) -> list[progress.Step]:
    """Which chapters execute and why, with estimates from the last build's timings on this CPU, else the
    reference timings scaled to this machine's matmul ``rate``."""
    from eqlib.results import cpu_name
    steps = progress.plan(list(CHAPTERS), {c: status(c, profile) for c in CHAPTERS}, SUMMARIES, only, force)
    history = progress.load_history(ROOT / ".cache" / "book" / profile / "timings.json")
    return progress.estimate(steps, history, cpu_name(), progress.DEFAULT_SECONDS.get(profile, progress.FALLBACK_SECONDS),
                             reference, rate, calibration)


def reference_and_rate(profile: str, history: dict) -> tuple:
    """The shipped reference timings of ``profile`` (the newest record that carries a calibration, else the newest),
    and what scales them to this machine: its calibration (:func:`progress.calibrate`, about three seconds) where the
    reference has one, else its matmul rate (about a second); neither when every chapter has a time on this CPU."""
    from eqlib.results import cpu_name
    records = progress.load_references(progress.REFERENCE, profile)
    reference = next((r for r in records if r.get("calibration")), records[0] if records else None)
    timed = history.get(cpu_name(), {})
    if reference is None or all(c in timed for c in CHAPTERS):
        return reference, None, None
    if reference.get("calibration"):
        return reference, None, progress.calibrate()
    return reference, progress.matmul_rate(), None


def execute_plan(steps: list[progress.Step], profile: str, took: dict[str, float], keep_going=False) -> list:
    """Execute the plan's chapters in order, with a progress line while each runs, and record in
    ``took`` and for the next build's estimates the seconds each took. With ``keep_going``, a chapter
    that fails (its notebook raised, or its inputs are missing) is reported and the next one runs;
    returns the failed chapters."""
    from eqlib.results import cpu_name
    timings_file, cpu, t0 = ROOT / ".cache" / "book" / profile / "timings.json", cpu_name(), time.perf_counter()
    failed = []
    for i, step in enumerate(steps):
        if not step.execute:
            continue
        if keep_going:
            try:
                _execute_step(steps, i, profile, took, timings_file, cpu, t0)
            except (Exception, SystemExit) as e:
                failed.append(step.chapter)
                last = (str(e).strip().splitlines() or [""])[-1][:300]
                print(f"[book] {step.chapter}: FAILED ({type(e).__name__}: {last}); going on (--keep-going)", flush=True)
        else:
            _execute_step(steps, i, profile, took, timings_file, cpu, t0)
    return failed


def _execute_step(steps, i, profile, took, timings_file, cpu, t0):
    """Execute the plan's ``i``-th chapter with a progress line, and record its time."""
    step = steps[i]
    left_after = sum(s.estimate for s in steps[i + 1:] if s.execute)
    print(f"[book] {step.chapter}: executing, ~{progress.clock(step.estimate)} ({step.reason})", flush=True)
    start = time.perf_counter()
    line = lambda: progress.progress_line(step.chapter, time.perf_counter() - start, step.estimate,  # noqa: E731
                                          time.perf_counter() - t0, left_after)
    with progress.Ticker(line):
        _, took[step.chapter], _ = execute(step.chapter, profile, force=True)
    res = ROOT / ".cache" / "book" / profile / f"{step.chapter}.json"
    trained = json.loads(res.read_text()).get("provenance", {}).get("train_seconds_here") if res.exists() else None
    history = progress.load_history(timings_file)
    progress.save_history(timings_file, progress.recorded(history, cpu, step.chapter, took[step.chapter],
                                                          progress.today(), trained))
    print(f"[book] {step.chapter}: {progress.clock(took[step.chapter])}", flush=True)


NETWORKS_TAR = ROOT / "_build" / "networks.tar"


def pack_networks(profile: str = "full") -> dict:
    """Pack every network the profile's pages used (their results files name them) and those results files into
    _build/networks.tar, and pin their hashes in eqlib/networks.json (:func:`eqlib.networks.pack`)."""
    from eqlib import networks
    from eqlib.data import cache_dir
    out_dir = ROOT / ".cache" / "book" / profile
    files = [out_dir / f"{c}.json" for c in CHAPTERS]
    missing = [f.name for f in files if not f.exists()]
    if missing:
        sys.exit(f"[book] pack the networks after a build of the {profile} profile: no results file for {missing}")
    keys = [k for f in files for k in json.loads(f.read_text())["provenance"].get("networks", [])]
    manifest = networks.pack(keys, cache_dir() / "models", files, NETWORKS_TAR)
    size = NETWORKS_TAR.stat().st_size
    print(f"[book] {NETWORKS_TAR.relative_to(ROOT)}: {len(manifest['networks'])} networks and {len(files)} results "
          f"files, {size / 2**20:.0f} MiB; their hashes pinned in {networks.PINNED.relative_to(ROOT)}", flush=True)
    return manifest


def write_toc(root: Path | None = None) -> Path:
    """The book's table of contents, _toc.yml, written from the registry of pages (a build product, not a source)."""
    import yaml
    path = (root or ROOT) / "_toc.yml"
    path.write_text("# Written by book/build.py from eqlib/registry.py (registry.toc): edit the registry, not this file.\n"
                    + yaml.safe_dump(registry.toc(), sort_keys=False))
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="full", help=f"one of: {', '.join(PROFILES)}")
    ap.add_argument("--force", action="store_true", help="re-execute every notebook (with --only: those named)")
    ap.add_argument("--only", nargs="+", metavar="CHAPTER",
                    help="execute only these chapters and what they need (a summary's inputs that are not "
                         "cached), e.g. --only mlp_tanh_autoencoder; the book itself is built only if every "
                         "other chapter is cached")
    ap.add_argument("--plan", action="store_true", help="print the plan (what executes, why, estimates) and exit")
    ap.add_argument("--write-reference", action="store_true",
                    help="write book/reference_timings.json for this profile from this CPU's timings (after a cold "
                         "full build: the estimates of machines that never built the book scale them) and exit")
    ap.add_argument("--pack-networks", action="store_true",
                    help="after a build: pack the networks its pages used into _build/networks.tar and pin their "
                         "hashes in eqlib/networks.json (make networks), and exit")
    ap.add_argument("--keep-going", action="store_true",
                    help="when a chapter fails, go on with the next ones and fail at the end (the book is not built)")
    args = ap.parse_args(argv)
    if args.profile not in PROFILES:
        ap.error(f"unknown profile {args.profile!r}; allowed: {', '.join(PROFILES)}")
    unknown = set(args.only or []) - set(CHAPTERS)
    if unknown:
        ap.error(f"unknown chapters {sorted(unknown)}; allowed: {', '.join(CHAPTERS)}")

    if args.pack_networks:
        pack_networks(args.profile)
        return
    warning = placeholder_warning(args.profile)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    from eqlib.results import cpu_name
    reference, rate, calibration = reference_and_rate(args.profile, progress.load_history(
        ROOT / ".cache" / "book" / args.profile / "timings.json"))
    steps = make_plan(args.profile, args.only, args.force, reference, rate, calibration)
    print(progress.format_plan(steps, args.profile, cpu_name(),
                               progress.DEFAULT_SECONDS.get(args.profile, progress.FALLBACK_SECONDS), args.only,
                               reference, rate, calibration), flush=True)
    if args.write_reference:
        write_reference(args.profile)
    if args.plan or args.write_reference:
        return
    t0 = time.perf_counter()
    GENERATED.mkdir(parents=True, exist_ok=True)
    took = {}
    try:
        failed = execute_plan(steps, args.profile, took, args.keep_going)
    except BaseException:
        print(progress.summary_table(steps, took), flush=True)
        raise
    if failed:
        print(progress.summary_table(steps, took), flush=True)
        sys.exit(f"[book] {len(failed)} chapters failed: {', '.join(failed)} (their executed notebooks, with the "
                 f"error, are in .cache/book/{args.profile}/)")
    missing = [c for c in CHAPTERS if not (ROOT / ".cache" / "book" / args.profile / f"{c}.ipynb").exists()]
    if missing:          # only with --only: what was asked for is done, the book needs the rest
        print(progress.summary_table(steps, took))
        print(f"[book] executed notebooks are in .cache/book/{args.profile}/; the book is not built: "
              f"{len(missing)} chapters were never executed ({', '.join(missing[:4])}{', ...' if len(missing) > 4 else ''})")
        return
    colab_dir = assemble(args.profile)   # the executed pages become the book's sources; their Colab notebooks
    print(f"[book] the pages' notebooks for Colab: {colab_dir.relative_to(ROOT)}/", flush=True)
    write_timings(args.profile, {s.chapter: (took.get(s.chapter, 0.0), not s.execute) for s in steps})
    write_readme_claims(args.profile)
    write_toc()
    import plotly
    STATIC.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", STATIC / "plotly.min.js")

    out = [] if args.profile == "full" else ["--path-output", str(ROOT / "_build" / args.profile)]
    jb_args = ["build", str(ROOT), "-W", "-n", "--keep-going", *out]
    print("[book] jupyter-book", " ".join(jb_args), flush=True)
    # this environment's jupyter-book, whatever PATH holds (make does not activate the environment)
    jupyter_book = "import sys; from jupyter_book.cli.main import main; sys.exit(main())"
    jb_start = time.perf_counter()
    subprocess.run([sys.executable, "-c", jupyter_book, *jb_args], check=True, cwd=ROOT)
    print(progress.summary_table(steps, took, time.perf_counter() - jb_start))
    html = ROOT / "_build" / "html" if args.profile == "full" else ROOT / "_build" / args.profile / "_build" / "html"
    print(f"[book] done in {progress.clock(time.perf_counter() - t0)}: {html / 'index.html'}")
    if warning:
        print(warning, file=sys.stderr, flush=True)     # again, below the build's own output


if __name__ == "__main__":
    main()
