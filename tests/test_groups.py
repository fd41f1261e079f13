import pytest
import torch

from eqlib.data import mirror, vflip
from eqlib.groups import D4, MIRROR, get_group


def test_d4_table_is_the_dihedral_group_of_order_8():
    t = D4.table()
    assert sorted(map(sorted, t)) == [list(range(8))] * 8, "a Latin square: every product exists once per row"
    assert all(t[a][t[b][c]] == t[t[a][b]][c] for a in range(8) for b in range(8) for c in range(8)), "associative"
    orders = sorted(D4.element_order(k) for k in range(8))
    assert orders == [1, 2, 2, 2, 2, 2, 4, 4], "D4: identity, five involutions, two quarter turns"
    assert any(t[a][b] != t[b][a] for a in range(8) for b in range(8)), "not abelian (unlike C8 or C2 x C4)"
    name = lambda k: D4.names[k]
    assert name(t[1][4]) == "rs" and name(t[4][1]) == "r³s", "table[a][b] is 'first b, then a': s r = r³ s"


def test_d4_acts_as_the_image_transformations_it_names():
    x = torch.randn(2, 3072)
    assert torch.equal(D4.act(4, x), mirror(x)), "s is the left-right mirror"
    rr_s = D4.table()[2][4]
    assert torch.equal(D4.act(rr_s, x), vflip(x)), "r² s is the up-down flip"
    img = torch.arange(3 * 32 * 32.0).reshape(1, 3, 32, 32)
    r = D4.act(1, img.flatten(1)).reshape(1, 3, 32, 32)
    assert torch.equal(r, torch.rot90(img, 1, dims=(-2, -1))), "r is a quarter turn"
    assert all(D4.inverse(k) == next(b for b in range(8) if torch.equal(D4.act(b, D4.act(k, x)), x)) for k in range(8))


def test_act_each_applies_one_element_per_row():
    x = torch.randn(8, 3072)
    ks = torch.arange(8)
    out = D4.act_each(ks, x)
    for k in range(8):
        assert torch.equal(out[k], D4.act(k, x[k:k + 1])[0])
    assert torch.equal(MIRROR.act_each(torch.tensor([0, 1]), x[:2]), torch.stack([x[0], mirror(x[1:2])[0]]))


def test_bad_elements_and_groups_are_named():
    with pytest.raises(ValueError, match="element 8 is not in D4; allowed: 0..7"):
        D4.act(8, torch.zeros(1, 3072))
    with pytest.raises(ValueError, match="unknown group 'c4'; allowed: mirror, d4"):
        get_group("c4")
