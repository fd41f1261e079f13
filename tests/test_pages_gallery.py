"""The filter gallery: each network's triplets (filter, mirror, matched partner) framed by label, one menu entry per
network that shows its image and hover layer alone and its counts in the title, and the images either embedded
(outside the book) or written beside the page's results (the book links them)."""
import numpy as np
import torch

from eqlib.data import mirror
from eqlib.pages import gallery
from eqlib.plots import LABEL_COLORS
from eqlib.symmetry import analyze_first_layer


def planted(seed=0):
    """Eight filters: two self-symmetric, a mirrored pair, a mirrored-negated pair, two random (unmatched)."""
    g = torch.Generator().manual_seed(seed)
    r = lambda: torch.randn(3072, generator=g, dtype=torch.float64)
    a, b, c, d, e, f = (r() for _ in range(6))
    W = torch.stack([a + mirror(a), b + mirror(b), c, mirror(c), d, -mirror(d), e, f]).numpy()
    return W, analyze_first_layer(W, np.zeros(8), np.ones((3, 8)), activation="tanh")


def test_a_triplet_shows_the_filter_its_mirror_and_its_partner_framed_by_the_label():
    W, a = planted()
    canvas, centres = gallery.triplets(W, a)
    assert a.labels[2:6] == ["mirrored pair"] * 2 + ["mirrored-negated pair"] * 2
    cell = gallery.TILE + 2 * gallery.BORDER
    for i in range(8):
        y, x = centres[i]
        top, left = int(y - cell / 2), int(x - 1.5 * cell)
        frame = canvas[top, left]
        expected = np.array([int(LABEL_COLORS[a.labels[i]][k:k + 2], 16) / 255 for k in (1, 3, 5)])
        assert np.allclose(frame, expected, rtol=0, atol=0), f"filter {i} framed in its label's colour"
        tiles = [canvas[top + gallery.BORDER:top + gallery.BORDER + 32, left + t * cell + gallery.BORDER:
                        left + t * cell + gallery.BORDER + 32] for t in range(3)]
        if a.labels[i] != "unmatched":       # the mirror and the matched partner (times its sign) are the same image
            assert np.array_equal(tiles[1], tiles[2]), f"filter {i}: mirror = signed partner"
        else:
            assert not np.array_equal(tiles[1], tiles[2]), f"filter {i}: an unmatched filter's partner differs"


def test_the_menu_shows_one_network_at_a_time_with_its_counts(tmp_path):
    W, a = planted()
    W2, a2 = planted(1)
    nets = {("autoencoder", "tanh", 0, "equivariant"): (W, a), ("autoencoder", "tanh", 0, "init"): (W2[[0, 6, 7, 2, 4, 5, 1, 3]], analyze_first_layer(
        W2[[0, 6, 7, 2, 4, 5, 1, 3]] + 0.7 * np.random.default_rng(0).standard_normal((8, 3072)), np.zeros(8), np.ones((3, 8))))}
    results = {("autoencoder", "tanh"): {"seeds": [0], "metric": {"covariance": {
        "equivariant": {"first_layer": {"mirror": [0.031]}}, "init": {"first_layer": {"mirror": [0.9]}}}}}}
    fig = gallery.gallery(nets, results)
    menu = fig.layout.updatemenus[0].buttons
    assert [b.label for b in menu] == ["Tanh autoencoder, seed 0, equivariant", "Tanh autoencoder, seed 0, at initialisation"]
    images = fig.layout.images
    assert [i.visible for i in images] == [True, False] and images[0].source.startswith("data:image/jpeg;base64,")
    second = menu[1].args
    assert second[0]["visible"][:2] == [False, True], "the second network's hover layer alone"
    assert second[1]["images[0].visible"] is False and second[1]["images[1].visible"] is True, "and its picture"
    assert "explained 6 of 8" in fig.layout.title.text and "0.031" in fig.layout.title.text
    assert "0.9" in second[1]["title.text"] and second[1]["title.text"] != fig.layout.title.text, "its own counts"
    hover = [t for t in fig.data if t.hovertemplate][0]
    assert any(t.startswith("filter 2: mirrored pair; partner 3") for t in hover.text)
    linked = gallery.gallery(nets, results, (tmp_path / "img", "../../_static/pages/gallery/"))
    assert linked.layout.images[0].source == "../../_static/pages/gallery/autoencoder-tanh-0-equivariant.jpg"
    assert sorted(p.name for p in (tmp_path / "img").iterdir()) == ["autoencoder-tanh-0-equivariant.jpg",
                                                                     "autoencoder-tanh-0-init.jpg"]


def test_the_book_links_images_and_elsewhere_they_are_embedded(tmp_path):
    assert gallery.image_files(tmp_path / "gallery.json", in_book=False) is None
    folder, url = gallery.image_files(tmp_path / "gallery.json", in_book=True)
    assert folder == tmp_path / "gallery_static" and url == "../../_static/pages/gallery/"
