"""The book's trained networks, published: packed with their hashes, fetched over loopback HTTP or from a path,
loaded only when the pinned hash matches, never able to run code, and trained as before where not offered."""
import functools
import http.server
import json
import socketserver
import tarfile
import threading
from pathlib import Path

import pytest
import torch

from conftest import synthetic_cifar
from eqlib import networks, results
from eqlib.models import MLPConfig
from eqlib.train import TrainConfig, cache_key, load_snapshot, snapshot_key, train

CFG = MLPConfig((3072, 8, 3072), ("tanh",))
TC = TrainConfig(epochs=2, batch_size=128)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A 'full build': two networks trained into a model cache, packed into an archive, their hashes pinned."""
    root = tmp_path_factory.mktemp("published")
    data = synthetic_cifar()
    runs = [train(CFG, TrainConfig(epochs=2, batch_size=128, seed=s), data, cache=root / "cache", progress=False)
            for s in (0, 1)]
    (root / "page.json").write_text(json.dumps({"x": 1}))
    manifest = networks.pack([r.key for r in runs], root / "cache" / "models", [root / "page.json"],
                             root / "networks.tar", root / "pinned.json")
    with tarfile.open(root / "networks.tar") as tar:
        tar.extractall(root / "folder")
    return {"root": root, "data": data, "runs": runs, "manifest": manifest,
            "pinned": networks.pinned(root / "pinned.json")}


@pytest.fixture
def server(published):
    """The archive and its folder served over loopback HTTP by the test itself."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(published["root"]))
    handler.func.log_message = lambda *a: None
    with socketserver.TCPServer(("127.0.0.1", 0), handler) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
        httpd.shutdown()


def use(monkeypatch, source, pinned, cache):
    monkeypatch.setenv("EQLIB_NETWORKS", str(source))
    monkeypatch.setenv("EQLIB_CACHE", str(cache))
    monkeypatch.setattr(networks, "PINNED", pinned)
    monkeypatch.setattr(networks.pinned, "__defaults__", (pinned,))


def test_the_archive_holds_every_network_with_its_hash_and_the_results(published):
    with tarfile.open(published["root"] / "networks.tar") as tar:
        names = set(tar.getnames())
        inside = json.loads(tar.extractfile("manifest.json").read())
    keys = {r.key for r in published["runs"]}
    assert names == {f"networks/{k}.pt" for k in keys} | {"results/page.json", "manifest.json"}
    assert inside == published["manifest"] and set(published["pinned"]) == keys
    for k in keys:
        data = (published["root"] / "cache" / "models" / f"{k}.pt").read_bytes()
        assert published["pinned"][k] == {"sha256": networks.sha256(data), "bytes": len(data)}
        assert "optimizer" not in torch.load(published["root"] / "cache" / "models" / f"{k}.pt", weights_only=True)


@pytest.mark.parametrize("where", ["http-archive", "http-folder", "path-archive", "path-folder"])
def test_a_published_network_is_loaded_instead_of_trained(published, server, monkeypatch, tmp_path, where):
    source = {"http-archive": f"{server}/networks.tar", "http-folder": f"{server}/folder",
              "path-archive": published["root"] / "networks.tar", "path-folder": published["root"] / "folder"}[where]
    use(monkeypatch, source, published["root"] / "pinned.json", tmp_path / "fresh")
    before = results.training_seconds()
    r = train(CFG, TrainConfig(epochs=2, batch_size=128, seed=1), published["data"], progress=False)
    assert r.loaded and results.training_seconds() == before, "loaded, not trained"
    original = published["runs"][1].model.state_dict()
    assert all(torch.equal(v, original[k]) for k, v in r.model.state_dict().items()), "the same network"
    assert (tmp_path / "fresh" / "models" / f"{r.key}.pt").exists(), "and now in the model cache"


def test_a_corrupted_network_is_refused_naming_the_file_and_the_cache_is_untouched(published, monkeypatch, tmp_path):
    key = published["runs"][0].key
    folder = tmp_path / "bad"
    (folder / "networks").mkdir(parents=True)
    data = bytearray((published["root"] / "folder" / "networks" / f"{key}.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF                                   # one flipped byte
    (folder / "networks" / f"{key}.pt").write_bytes(bytes(data))
    use(monkeypatch, folder, published["root"] / "pinned.json", tmp_path / "cache")
    with pytest.raises(networks.NetworkHashError, match=rf"networks/{key}\.pt from .* has sha256 [0-9a-f]+, but the "
                                                        r"code pins [0-9a-f]+.*nothing was written"):
        train(CFG, TrainConfig(epochs=2, batch_size=128, seed=0), published["data"], progress=False)
    assert not (tmp_path / "cache" / "models" / f"{key}.pt").exists(), "a bad download never reaches the cache"


def test_a_network_not_offered_or_not_pinned_is_trained(published, monkeypatch, tmp_path):
    use(monkeypatch, published["root"] / "networks.tar", published["root"] / "pinned.json", tmp_path / "cache")
    before = results.training_seconds()
    other = train(CFG, TrainConfig(epochs=2, batch_size=128, seed=7), published["data"], progress=False)
    assert not other.loaded and results.training_seconds() > before, "seed 7 was never published: trained"
    pinned = json.loads((published["root"] / "pinned.json").read_text())
    del pinned["networks"][published["runs"][0].key]
    (tmp_path / "pinned.json").write_text(json.dumps(pinned))
    use(monkeypatch, published["root"] / "networks.tar", tmp_path / "pinned.json", tmp_path / "cache2")
    r = train(CFG, TrainConfig(epochs=2, batch_size=128, seed=0), published["data"], progress=False)
    assert not r.loaded, "offered but not pinned by the code: not trusted, trained"


class _Runs:
    """An object whose unpickling would run code (it writes a file)."""
    target = None

    def __reduce__(self):
        return (Path.write_text, (Path(self.target), "code ran"))


def test_a_pinned_file_that_would_run_code_is_never_unpickled(published, monkeypatch, tmp_path):
    key = cache_key(CFG, TrainConfig(epochs=2, batch_size=128, seed=5), published["data"])
    evil, marker = _Runs(), tmp_path / "ran.txt"
    evil.target = str(marker)
    folder = tmp_path / "evil"
    (folder / "networks").mkdir(parents=True)
    torch.save({"format": "eqlib-checkpoint-v2", "key": key, "payload": evil}, folder / "networks" / f"{key}.pt")
    data = (folder / "networks" / f"{key}.pt").read_bytes()
    (tmp_path / "pinned.json").write_text(json.dumps({"format": networks.FORMAT, "networks": {
        key: {"sha256": networks.sha256(data), "bytes": len(data)}}}))
    use(monkeypatch, folder, tmp_path / "pinned.json", tmp_path / "cache")
    with pytest.warns(UserWarning, match="ignoring unreadable checkpoint"):
        r = train(CFG, TrainConfig(epochs=2, batch_size=128, seed=5), published["data"], progress=False)
    assert not marker.exists(), "weights_only loading never runs the file's code"
    assert not r.loaded, "it is retrained instead"


def test_a_page_names_the_networks_it_used(published, monkeypatch, tmp_path):
    use(monkeypatch, published["root"] / "networks.tar", published["root"] / "pinned.json", tmp_path / "cache")
    run = results.Run(tmp_path / "r.json", "quick", [0])
    keys = [train(CFG, TrainConfig(epochs=2, batch_size=128, seed=s), published["data"], progress=False).key
            for s in (0, 1, 0)]
    assert run.provenance()["networks"] == sorted(set(keys)), "what pack reads to know the book's networks"


def test_a_snapshot_a_page_reads_is_named_packed_and_fetched_like_a_network(published, monkeypatch, tmp_path):
    """The attention page also reads each run's snapshot at switch-on (load_snapshot): the page's results name it, so
    a full build packs it, and a fresh cache gets it from the published networks; without them it is missing."""
    data, tc = published["data"], TrainConfig(epochs=2, batch_size=128, seed=0)
    skey = snapshot_key(CFG, tc, data)
    monkeypatch.setenv("EQLIB_CACHE", str(published["root"] / "cache"))
    run = results.Run(tmp_path / "r.json", "quick", [0])
    original = load_snapshot(CFG, tc, data)[0].state_dict()
    assert run.provenance()["networks"] == [skey], "the page names the snapshot it read"
    networks.pack([skey], published["root"] / "cache" / "models", [], tmp_path / "snap.tar", tmp_path / "pinned.json")
    monkeypatch.delenv("EQLIB_NETWORKS", raising=False)
    monkeypatch.setenv("EQLIB_CACHE", str(tmp_path / "without"))
    assert load_snapshot(CFG, tc, data) is None, "a fresh cache without the published networks has no snapshot"
    use(monkeypatch, tmp_path / "snap.tar", tmp_path / "pinned.json", tmp_path / "fresh")
    model, _ = load_snapshot(CFG, tc, data)
    assert all(torch.equal(v, original[k]) for k, v in model.state_dict().items()), "the published snapshot"
    assert (tmp_path / "fresh" / "models" / f"{skey}.pt").exists()
