"""Point the notebooks' install cells and CITATION.cff at ``repository.url`` of _config.yml.

    python book/sync_repository.py           # after changing repository.url (README, Publishing)

Each notebook's hidden install cell (tagged ``remove-cell``) installs eqlib from
``REPOSITORY = "<url>"``; only that line of the cell changes, and the notebook is written back
in nbformat's own layout, so the diff is that one line.
CITATION.cff's ``repository-code`` line follows too. The Colab links need nothing: the
build reads them from _config.yml.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
INSTALL_URL = re.compile(r'^(\s*REPOSITORY\s*=\s*")([^"]*)(")', re.M)       # the pattern tests/test_book.py checks
CITATION_URL = re.compile(r"^(repository-code:\s*)(\S+)\s*$", re.M)


def configured_url(root: Path) -> str:
    return yaml.safe_load((root / "_config.yml").read_text())["repository"]["url"]


def _install_cell(nb: dict, path: Path) -> dict:
    cells = [c for c in nb["cells"] if "remove-cell" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1 or not INSTALL_URL.search("".join(cells[0]["source"])):
        raise SystemExit(f"{path}: expected one install cell (tagged remove-cell) assigning REPOSITORY")
    return cells[0]


def sync(root: Path = ROOT) -> list[Path]:
    """Rewrite what points at the repository; return the files that changed."""
    url, changed = configured_url(root), []
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        nb = json.loads(text)
        cell = _install_cell(nb, path)
        source = cell["source"] if isinstance(cell["source"], list) else [cell["source"]]
        cell["source"] = [INSTALL_URL.sub(lambda m: m[1] + url + m[3], line) for line in source]
        new = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"       # nbformat's layout
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    citation = root / "CITATION.cff"
    if citation.exists():
        text = citation.read_text(encoding="utf-8")
        new = CITATION_URL.sub(lambda m: m[1] + url, text)
        if new != text:
            citation.write_text(new, encoding="utf-8")
            changed.append(citation)
    return changed


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=ROOT, help="the repository (default: this one)")
    args = ap.parse_args(argv)
    changed = sync(args.root)
    url = configured_url(args.root)
    print(f"repository.url = {url}: " + (f"updated {', '.join(str(p.relative_to(args.root)) for p in changed)}"
                                         if changed else "everything already points there"))


if __name__ == "__main__":
    main()
