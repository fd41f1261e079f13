import math
import warnings

import pytest
import torch

from eqlib.models import AttentionConfig, MLPConfig
from eqlib.train import TrainConfig, cache_key, evaluate, initial_model, train
from conftest import synthetic_cifar

SMALL = MLPConfig((3072, 8, 16, 3072), ("tanh", "gelu"))
FAST = dict(epochs=2, batch_size=128)


def test_history_is_data_and_schedule_is_recorded(cache):
    d = synthetic_cifar()
    r = train(SMALL, TrainConfig(**FAST), d, cache=cache, progress=False)
    assert [h["epoch"] for h in r.history] == [1, 2]
    assert [h["equivariance_weight"] for h in r.history] == [0.0, 1.0], "loss switched on for the second half"
    assert r.history[0]["train_equivariance_loss"] is None and r.history[1]["train_equivariance_loss"] is not None
    _, _, x_test, y_test = d.tensors()
    # the same evaluation of the same model on the device it was trained on: the same operations on the same
    # values, bitwise (on another device float32's round-off of a 256 x 3072-term mean could reach 9 %)
    dev = next(r.model.parameters()).device
    again = evaluate(r.model, "autoencoder", x_test.to(dev), y_test.to(dev))
    assert again["test_equivariance_loss"] == r.history[-1]["test_equivariance_loss"], \
        "the history's last row is the returned model's evaluation"
    for key in ("train_task_loss", "test_task_loss", "test_equivariance_loss", "test_equivariance_error",
                "test_reconstruction_error", "seconds"):
        assert all(math.isfinite(h[key]) for h in r.history), key
    assert not r.loaded


def test_classifier_reports_accuracy(cache):
    d = synthetic_cifar()
    r = train(MLPConfig((3072, 8, 10), ("tanh",)), TrainConfig(task="classifier", **FAST), d, cache=cache, progress=False)
    _, _, x_test, y_test = d.tensors()
    with torch.no_grad():
        correct = (r.model.cpu()(x_test).argmax(1) == y_test).double().mean().item()
    assert r.history[-1]["test_accuracy"] == pytest.approx(correct), "accuracy: the share of test labels predicted"


def test_train_or_load_returns_identical_model(cache):
    d = synthetic_cifar()
    a = train(SMALL, TrainConfig(**FAST), d, cache=cache, progress=False)
    b = train(SMALL, TrainConfig(**FAST), d, cache=cache, progress=False)
    assert b.loaded and b.history == a.history
    for (k, v), w in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(v, w), f"cached parameter {k} differs"
    assert cache_key(SMALL, TrainConfig(**FAST), d) != cache_key(SMALL, TrainConfig(epochs=3, batch_size=128), d), \
        "a different config never collides"


def test_same_seed_same_numbers(cache, tmp_path):
    d = synthetic_cifar()
    a = train(SMALL, TrainConfig(**FAST), d, cache=cache, progress=False, use_cache=False)
    b = train(SMALL, TrainConfig(**FAST), d, cache=cache, progress=False, use_cache=False)
    strip = lambda h: [{k: v for k, v in row.items() if k != "seconds"} for row in h]
    assert strip(a.history) == strip(b.history), "same seed, same machine: same numbers"
    c = train(SMALL, TrainConfig(seed=1, **FAST), d, cache=cache, progress=False, use_cache=False)
    assert strip(c.history) != strip(a.history)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "foreign"])
def test_damaged_checkpoint_is_retrained_never_loaded(cache, damage):
    d = synthetic_cifar()
    tc = TrainConfig(**FAST)
    first = train(SMALL, tc, d, cache=cache, progress=False)
    path = cache / "models" / f"{first.key}.pt"
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00" * 100)
    else:
        other = train(SMALL, TrainConfig(epochs=1, batch_size=128), d, cache=cache, progress=False)
        path.write_bytes((cache / "models" / f"{other.key}.pt").read_bytes())
    with pytest.warns(UserWarning, match="checkpoint"):
        again = train(SMALL, tc, d, cache=cache, progress=False)
    assert not again.loaded, "a damaged checkpoint is retrained"
    assert len(again.history) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert train(SMALL, tc, d, cache=cache, progress=False).loaded, "and the rewritten one loads"


@pytest.mark.parametrize("kwargs, match", [
    (dict(task="regression"), "unknown task"), (dict(epochs=-1), "epochs"), (dict(epochs=2.5), "epochs"),
    (dict(optimizer="sgd"), "unknown optimizer 'sgd'"), (dict(lr=float("nan")), "lr"),
    (dict(equivariance_start=1.5), "equivariance_start"), (dict(precision="float8"), "precision"),
    (dict(batch_size=0), "batch_size"),
])
def test_bad_train_configs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_attention_autoencoder_trains(cache):
    d = synthetic_cifar(n_train=128, n_test=64)
    cfg, tc = AttentionConfig(dim=16, heads=4, decoder_hidden=32), TrainConfig(epochs=2, batch_size=64)
    r = train(cfg, tc, d, cache=cache, progress=False)
    _, _, x_test, y_test = d.tensors()
    before = evaluate(initial_model(cfg, tc), "autoencoder", x_test, y_test)["test_reconstruction_error"]
    assert r.history[-1]["test_reconstruction_error"] < before, "training lowers the reconstruction error"


def test_the_equivariance_loss_lowers_the_end_to_end_error_against_its_control_on_real_images(cache, cifar):
    """The behaviour the book rests on, on 3,000 real CIFAR-10 images: with the loss on for the second
    half, the autoencoder ends closer to equivariant than the same run with weight 0."""
    from dataclasses import replace
    from eqlib.data import CIFAR10
    small = CIFAR10(cifar.x_train[:3000], cifar.y_train[:3000], cifar.x_test[:1000], cifar.y_test[:1000],
                    cifar.source, cifar.origin, cifar.fingerprint + "-first3000", cifar.mean, cifar.std)
    tc = TrainConfig(epochs=6, batch_size=128)
    eq = train(SMALL, tc, small, cache=cache, progress=False)
    ctrl = train(SMALL, replace(tc, equivariance_weight=0.0), small, cache=cache, progress=False)
    e, c = eq.history[-1]["test_equivariance_error"], ctrl.history[-1]["test_equivariance_error"]
    assert e < 0.8 * c, f"end-to-end equivariance error: {e:.3f} with the loss, {c:.3f} without"   # an effect size
    assert eq.history[2] == ctrl.history[2], "both share the loss-free first half"


def test_bfloat16_training_runs(cache):
    d = synthetic_cifar()
    r = train(SMALL, TrainConfig(precision="bfloat16", **FAST), d, cache=cache, progress=False, use_cache=False)
    assert math.isfinite(r.history[-1]["test_task_loss"])


def test_bfloat16_matches_float32_within_tolerance(cache):
    """Reduced precision must not change what is learned beyond a stated tolerance:
    first-layer filters within 5 % (relative Frobenius distance), losses within 2 %."""
    d = synthetic_cifar(n_train=1024, n_test=256)
    cfg = MLPConfig((3072, 16, 32, 3072), ("tanh", "gelu"), (0.01, 1.0, 1.0))
    runs = {p: train(cfg, TrainConfig(epochs=4, batch_size=128, precision=p), d, cache=cache, progress=False,
                     use_cache=False) for p in ("float32", "bfloat16")}
    w32, w16 = (runs[p].model.linears[0].weight.detach() for p in ("float32", "bfloat16"))
    assert (w16 - w32).norm() / w32.norm() < 0.05, "bfloat16 learns the same first-layer filters"
    for key in ("test_task_loss", "test_equivariance_loss"):
        a, b = runs["float32"].history[-1][key], runs["bfloat16"].history[-1][key]
        assert abs(a - b) / a < 0.02, f"{key}: float32 {a:.5f} vs bfloat16 {b:.5f}"


def test_control_forked_from_the_snapshot_equals_the_control_trained_from_scratch(cache):
    d = synthetic_cifar()
    tc = TrainConfig(epochs=4, batch_size=128)
    control = TrainConfig(epochs=4, batch_size=128, equivariance_weight=0.0)
    eq = train(SMALL, tc, d, cache=cache, progress=False)
    forked = train(SMALL, control, d, cache=cache, progress=False)
    scratch = train(SMALL, control, d, cache=cache, progress=False, use_cache=False)
    assert eq.forked_at == 0 and forked.forked_at == 2 and scratch.forked_at == 0, "the control took 2 epochs from the snapshot"
    for (k, v), w in zip(forked.model.state_dict().items(), scratch.model.state_dict().values()):
        assert torch.equal(v, w), f"forked control's {k} differs from the control trained from scratch"
    strip = lambda h: [{k: v for k, v in row.items() if k != "seconds"} for row in h]
    assert strip(forked.history) == strip(scratch.history), "same history, epoch by epoch"
    assert strip(eq.history)[:2] == strip(scratch.history)[:2] and eq.history[2:] != scratch.history[2:]
    longer = train(SMALL, TrainConfig(epochs=6, batch_size=128), d, cache=cache, progress=False)
    assert longer.forked_at == 2, "a longer run continues the shorter run's loss-free beginning"
    longer_scratch = train(SMALL, TrainConfig(epochs=6, batch_size=128), d, cache=cache, progress=False, use_cache=False)
    for (k, v), w in zip(longer.model.state_dict().items(), longer_scratch.model.state_dict().values()):
        assert torch.equal(v, w), f"the longer run forked at epoch 2 has the {k} of its run from scratch"
    assert strip(longer.history) == strip(longer_scratch.history)
    again = train(SMALL, TrainConfig(epochs=6, batch_size=128, equivariance_weight=0.0), d, cache=cache, progress=False)
    assert again.forked_at == 3, "and wrote its own snapshot at its switch-on epoch, 3"
    other = train(SMALL, TrainConfig(epochs=6, batch_size=128, lr=3e-3), d, cache=cache, progress=False)
    assert other.forked_at == 0, "another learning rate is another beginning: nothing to fork from"


def test_snapshot_is_the_model_at_switch_on(cache):
    from eqlib.train import load_snapshot
    d = synthetic_cifar()
    tc = TrainConfig(epochs=4, batch_size=128)
    assert load_snapshot(SMALL, tc, d, cache=cache) is None
    train(SMALL, tc, d, cache=cache, progress=False)
    short = train(SMALL, TrainConfig(epochs=2, batch_size=128, equivariance_start=1.0), d, cache=cache,
                  progress=False, use_cache=False)
    model, history = load_snapshot(SMALL, tc, d, cache=cache)
    assert len(history) == 2
    for (k, v), w in zip(model.state_dict().items(), short.model.state_dict().values()):
        assert torch.equal(v, w), f"snapshot's {k} is the model after 2 loss-free epochs"


def test_train_seeds_pairs_each_seed_with_its_forked_control(cache):
    from eqlib.train import train_seeds
    d = synthetic_cifar()
    runs = train_seeds(SMALL, TrainConfig(**FAST), d, [0, 3], cache=cache, progress=False)
    assert sorted(runs) == [0, 3]
    for s, r in runs.items():
        assert r["control"].forked_at == 1 and r["equivariant"].forked_at == 0
        assert [h["equivariance_weight"] for h in r["control"].history] == [0.0, 0.0]
    assert runs[0]["equivariant"].history != runs[3]["equivariant"].history, "seeds differ"
    for bad, msg in (([], "non-empty"), ([0, 0], "distinct"), ([-1], "non-negative"), ([True], "non-negative")):
        with pytest.raises(ValueError, match=msg):
            train_seeds(SMALL, TrainConfig(**FAST), d, bad, cache=cache, progress=False)


def test_trace_replays_the_first_two_layers_and_forks_carry_the_first_half(cache):
    d = synthetic_cifar()
    eq = train(SMALL, TrainConfig(epochs=4, batch_size=128), d, cache=cache, progress=False)
    control = train(SMALL, TrainConfig(epochs=4, batch_size=128, equivariance_weight=0.0), d, cache=cache,
                    progress=False)
    t = eq.trace
    assert t["weight1"].shape == (5, 8, 3072) and t["bias2"].shape == (5, 16), "initialisation + 4 epochs"
    assert torch.equal(t["weight1"][-1], eq.model.linears[0].weight.detach().cpu())
    assert torch.equal(t["weight2"][-1], eq.model.linears[1].weight.detach().cpu())
    torch.manual_seed(0)
    from eqlib.models import build_model
    assert torch.equal(t["weight1"][0], build_model(SMALL).linears[0].weight), "row 0 is the initialisation"
    assert control.forked_at == 2
    assert torch.equal(control.trace["weight1"][:3], t["weight1"][:3]), "the fork shares the first half"
    assert not torch.equal(control.trace["weight1"][4], t["weight1"][4])
    loaded = train(SMALL, TrainConfig(epochs=4, batch_size=128), d, cache=cache, progress=False)
    assert loaded.loaded and torch.equal(loaded.trace["weight1"], t["weight1"])


def test_augmentation_forks_from_the_loss_runs_snapshot_and_adds_no_loss(cache):
    d = synthetic_cifar()
    loss = train(SMALL, TrainConfig(epochs=4, batch_size=128), d, cache=cache, progress=False)
    aug = train(SMALL, TrainConfig(epochs=4, batch_size=128, equivariance_mode="augment"), d, cache=cache,
                progress=False)
    control = train(SMALL, TrainConfig(epochs=4, batch_size=128, equivariance_weight=0.0), d, cache=cache,
                    progress=False)
    assert aug.forked_at == 2
    assert [h["train_equivariance_loss"] for h in aug.history[2:]] == [None, None], "augmentation adds no loss"
    assert [h["train_equivariance_loss"] is not None for h in loss.history[2:]] == [True, True]
    differs = lambda a, b: not torch.equal(a.model.linears[0].weight, b.model.linears[0].weight)
    assert differs(aug, control) and differs(aug, loss), "augmentation changes training after the switch"


def test_d4_loss_is_zero_exactly_for_equivariant_maps_and_equals_the_mirror_loss_on_s():
    from eqlib.groups import D4
    from eqlib.losses import equivariance_loss, group_equivariance_loss
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3072, generator=gen)
    pattern = torch.randn(3072, generator=gen)
    for k in range(1, 8):
        gx = D4.act(k, x)
        assert group_equivariance_loss("autoencoder", x, gx, D4, k) == 0, "f = id commutes with every element"
        assert group_equivariance_loss("autoencoder", x + pattern, gx + pattern, D4, k) > 0.1, \
            "adding a fixed non-symmetric image breaks equivariance"
        f, fg = torch.randn(4, 10, generator=gen), torch.randn(4, 10, generator=gen)
        assert torch.equal(group_equivariance_loss("classifier", f, fg, D4, k), equivariance_loss("classifier", f, fg))
    y, ym = torch.randn(4, 3072, generator=gen), torch.randn(4, 3072, generator=gen)
    assert torch.equal(group_equivariance_loss("autoencoder", y, ym, D4, 4), equivariance_loss("autoencoder", y, ym))


def test_d4_loss_run_trains_and_shares_the_snapshot(cache):
    d = synthetic_cifar()
    train(SMALL, TrainConfig(epochs=4, batch_size=128), d, cache=cache, progress=False)
    r = train(SMALL, TrainConfig(epochs=4, batch_size=128, group="d4"), d, cache=cache, progress=False)
    assert r.forked_at == 2 and all(h["train_equivariance_loss"] > 0 for h in r.history[2:])


@pytest.mark.parametrize("kwargs, match", [({"equivariance_mode": "augmented"}, "equivariance_mode 'augmented'.*loss, augment"),
                                           ({"group": "c4"}, "group 'c4'.*mirror, d4")])
def test_bad_mode_or_group_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


@pytest.mark.parametrize("kwargs", [{"equivariance_mode": "augment"}, {"group": "d4"}])
def test_augmentation_and_d4_runs_forked_from_the_snapshot_equal_the_runs_from_scratch(cache, kwargs):
    d = synthetic_cifar()
    train(SMALL, TrainConfig(epochs=4, batch_size=128), d, cache=cache, progress=False)
    forked = train(SMALL, TrainConfig(epochs=4, batch_size=128, **kwargs), d, cache=cache, progress=False)
    scratch = train(SMALL, TrainConfig(epochs=4, batch_size=128, **kwargs), d, cache=cache, progress=False,
                    use_cache=False)
    assert forked.forked_at == 2 and scratch.forked_at == 0
    for (k, v), w in zip(forked.model.state_dict().items(), scratch.model.state_dict().values()):
        assert torch.equal(v, w), f"{kwargs}: forked {k} differs from the run trained from scratch"


def test_evaluate_measures_the_runs_own_group():
    """f(x) = x + vflip(x) commutes with the elements that commute with the up-down flip (r², s, r²s in
    D4) and with no other: the D4 run's history reads exactly those as equivariant, the mirror run's
    history reads the mirror alone."""
    from eqlib.data import vflip
    from eqlib.groups import get_group

    class Planted(torch.nn.Module):
        def forward(self, x):
            return x + vflip(x)

    torch.manual_seed(0)
    x, y = torch.randn(64, 3072), torch.zeros(64, dtype=torch.long)
    d4 = evaluate(Planted(), "autoencoder", x, y, "d4")
    errs = dict(zip(get_group("d4").names[1:], d4["test_group_equivariance_errors"]))
    # g^-1 f(g x) adds the same two numbers as f(x), in permuted places (addition commutes): exactly 0
    assert {k for k, e in errs.items() if e == 0} == {"r²", "s", "r²s"}
    assert all(e > 0.1 for k, e in errs.items() if k not in ("r²", "s", "r²s"))
    mirror_only = evaluate(Planted(), "autoencoder", x, y, "mirror")
    assert "test_group_equivariance_errors" not in mirror_only and mirror_only["test_equivariance_error"] == 0
