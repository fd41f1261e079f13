"""One atomic-write helper for every cache and results file: whole files only, also with concurrent writers."""
import multiprocessing as mp

import pytest

from eqlib.atomic import atomic_write, write_text


def _writer(path, byte, n, rounds):
    for _ in range(rounds):
        with atomic_write(path) as f:
            for _ in range(n // 4096):
                f.write(bytes([byte]) * 4096)      # written in pieces: a torn file would mix the two bytes


def test_concurrent_writers_never_leave_a_torn_file(tmp_path):
    path, n = tmp_path / "entry.bin", 1 << 20
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(path, b, n, 20)) for b in (1, 2)]
    for p in procs:
        p.start()
    seen = set()
    while any(p.is_alive() for p in procs):
        if path.exists():
            data = path.read_bytes()
            assert len(data) == n and len(set(data)) == 1, "a reader saw a partial or mixed file"
            seen.add(data[0])
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert path.read_bytes() in (bytes([1]) * n, bytes([2]) * n)
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp")), "no temporary file is left"


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing_behind(tmp_path):
    path = tmp_path / "sub" / "results.json"
    write_text(path, "old")
    with pytest.raises(RuntimeError, match="crash"):
        with atomic_write(path, "w") as f:
            f.write("half of the new")
            raise RuntimeError("crash")
    assert path.read_text() == "old"
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]


def test_a_bad_mode_is_named():
    with pytest.raises(ValueError, match="mode must be 'wb' or 'w'; got 'a'"):
        with atomic_write("x", "a"):
            pass
