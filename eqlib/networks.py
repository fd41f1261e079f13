"""The book's trained networks, published like torch.hub's weights: keyed, hash-checked, loaded before training.

A full build trains every network of the book; :func:`pack` writes them (each final checkpoint: weights, history,
trace, no optimiser state) into one archive with a manifest of their sha256, keyed by each network's cache key
(:func:`eqlib.train.cache_key`), beside the pages' results files. The manifest's hashes are committed with the
code (:data:`PINNED`, ``eqlib/networks.json``): an archive is trusted because the code pins its hashes, never
because it lists its own.

Where ``EQLIB_NETWORKS`` names such an archive or a folder of its files (a path or an ``http(s)`` URL),
:func:`eqlib.train.train` first asks :func:`fetch` for a network it does not have: the file is read, its sha256
compared with the pinned one, and only then written into the model cache (atomically); a mismatch is an error
naming the file, and the cache is left as it was. A key that is not pinned, or not offered, is trained as before.
Checkpoints are read with ``torch.load(..., weights_only=True)``: a fetched file cannot run code.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from eqlib.atomic import atomic_write, write_text
from eqlib.data import cache_dir

PINNED = Path(__file__).with_name("networks.json")     # the committed manifest: {key: {"sha256", "bytes"}}
FORMAT = "eqlib-networks-v1"
MEMBER = "networks/{key}.pt"                            # a network's path inside an archive or folder


class NetworkHashError(ValueError):
    """A fetched network whose bytes are not the ones the code pins."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pinned(path: Path = PINNED) -> dict:
    """``{key: {"sha256", "bytes"}}`` of the committed manifest (empty where none is committed)."""
    if not Path(path).exists():
        return {}
    manifest = json.loads(Path(path).read_text())
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{path}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    return manifest["networks"]


def _is_url(source: str) -> bool:
    return urllib.parse.urlparse(source).scheme in ("http", "https")


def _download(url: str, timeout=60) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def _archive(source: str) -> Path:
    """A local copy of an archive named by URL (downloaded once into the cache, under the URL's hash)."""
    if not _is_url(source):
        return Path(source)
    local = cache_dir() / "networks" / f"{sha256(source.encode())[:16]}.tar"
    if not local.exists():
        local.parent.mkdir(parents=True, exist_ok=True)
        data = _download(source, timeout=600)
        with atomic_write(local) as f:
            f.write(data)
    return local


def read_offered(key: str, source: str) -> bytes | None:
    """The bytes that ``source`` (an archive or a folder, a path or a URL) offers for ``key``; None where it has
    none. A ``.tar`` source is an archive; anything else a folder holding :data:`MEMBER` files."""
    member = MEMBER.format(key=key)
    if source.endswith(".tar"):
        with tarfile.open(_archive(source)) as tar:
            try:
                f = tar.extractfile(member)
            except KeyError:
                return None
            return f.read() if f is not None else None
    if _is_url(source):
        try:
            return _download(source.rstrip("/") + "/" + member)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise
    path = Path(source) / member
    return path.read_bytes() if path.exists() else None


def fetch(key: str, dest: Path, source: str | None = None, manifest: dict | None = None) -> bool:
    """Write the published network ``key`` to ``dest`` when ``source`` (default ``EQLIB_NETWORKS``) offers it and its
    sha256 is the one pinned for it; return whether it did. A key that is not pinned, or not offered, returns
    False (the caller trains). Bytes whose hash differs raise :class:`NetworkHashError` and write nothing."""
    source = source if source is not None else os.environ.get("EQLIB_NETWORKS")
    manifest = pinned() if manifest is None else manifest
    if not source or key not in manifest:
        return False
    data = read_offered(key, source)
    if data is None:
        return False
    got, want = sha256(data), manifest[key]["sha256"]
    if got != want:
        raise NetworkHashError(f"{MEMBER.format(key=key)} from {source} has sha256 {got}, but the code pins {want}: "
                               "a corrupted or foreign file; nothing was written to the model cache "
                               f"({dest.parent}), and EQLIB_NETWORKS should name the book's own archive")
    with atomic_write(dest) as f:
        f.write(data)
    return True


def pack(keys, models: Path, results: list, out: Path, manifest_path: Path = PINNED) -> dict:
    """Write ``out`` (an uncompressed tar: the checkpoints are compressed already) holding every network of ``keys``
    from the model folder ``models`` and the ``results`` files, with ``manifest.json``; write the manifest's hashes
    to ``manifest_path`` (the committed one). Returns the manifest."""
    keys = sorted(set(keys))
    missing = [k for k in keys if not (models / f"{k}.pt").exists()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} networks the pages used are not in {models}: {missing[:3]}")
    networks = {}
    with atomic_write(out) as raw, tarfile.open(fileobj=raw, mode="w") as tar:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
        for key in keys:
            data = (models / f"{key}.pt").read_bytes()
            networks[key] = {"sha256": sha256(data), "bytes": len(data)}
            add(MEMBER.format(key=key), data)
        for r in results:
            add(f"results/{Path(r).name}", Path(r).read_bytes())
        manifest = {"format": FORMAT, "networks": networks}
        add("manifest.json", json.dumps(manifest, indent=1, sort_keys=True).encode())
    write_text(manifest_path, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest
