import numpy as np
import pytest
import torch

from eqlib.data import mirror, vflip
from eqlib.metric import (READINGS, LinearFit, floor_ratios, image_covariance_factor, lstsq_residual, paper_metric,
                          reading_batches, reading_samples, shared_linear_equivariance, activation_tested)
from eqlib.models import MLP, MLPConfig
from conftest import synthetic_cifar
from numerics import FLOAT32, eps, sum_tol

# LinearFit.solve's ridge, relative to the Gram matrix's mean eigenvalue: it biases an exact map by about this
# much times the latents' eigenvalue spread, which is not round-off and is the same on every machine
RIDGE = 1e-10


def mirror_closed_layer(n_pairs=8, seed=0):
    """tanh(W x) with rows [w; g w]: the mirror swaps the halves, exactly."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n_pairs, 3072, generator=g, dtype=torch.float64) / 30
    W = torch.cat([w, mirror(w)])
    return lambda x: torch.tanh(x.double() @ W.T)


def random_layer(n=16, seed=1):
    W = torch.randn(n, 3072, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) / 30
    return lambda x: torch.tanh(x.double() @ W.T)


@pytest.fixture(scope="module")
def data():
    return synthetic_cifar(n_train=512, n_test=256)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One cache folder for the module: the covariance factor (a 3072 x 3072 Cholesky) is computed once,
    not once per test; the test of the damaged cache keeps its own."""
    return tmp_path_factory.mktemp("metric-cache")


def test_exactly_equivariant_layer_scores_zero_under_every_reading_and_random_layer_does_not(data, tmp_path, shared):
    t = paper_metric({"equivariant": mirror_closed_layer(), "random": random_layer()}, data, n_fit=2000,
                     n_eval=3000, cache=shared)
    assert set(t.medians) == set(READINGS)
    for r in READINGS:
        # the ridge's bias (1.0e-10 measured), not round-off (dot_tol(3072) = 3.8e-11 in float64), sets the value;
        # the factor 100 leaves room for the latents' eigenvalue spread
        assert t.medians[r]["equivariant"]["mirror"] < 100 * RIDGE, f"{r}: an exactly mirror-equivariant layer has error 0"
        assert t.medians[r]["equivariant"]["updown"] > 0.05, f"{r}: ...but it is not up-down equivariant"
        assert t.medians[r]["random"]["mirror"] > 0.05, f"{r}: a random layer is not mirror-equivariant"
    assert t.n_eval["images"] == 256 and t.n_fit["images"] == 512, "real images: as many as the data set has"
    assert t.n_eval["gaussian"] == 3000


def test_sharing_the_inputs_does_not_change_any_prefix_result():
    f, h = mirror_closed_layer(), random_layer()
    batches = lambda seed: [torch.randn(500, 3072, generator=torch.Generator().manual_seed(seed + k)) for k in range(3)]
    both = shared_linear_equivariance({"f": f, "h": h}, {"m": mirror, "v": vflip}, batches(0), batches(10))
    alone = shared_linear_equivariance({"h": h}, {"v": vflip}, batches(0), batches(10))
    # the same operations on the same shapes, whatever else shares the pass: bitwise
    assert torch.equal(both["h"]["v"], alone["h"]["v"]), "each prefix's result is independent of the others"


def test_the_centred_fit_is_least_squares_on_centred_latents():
    g = torch.Generator().manual_seed(0)
    y = torch.randn(500, 6, generator=g, dtype=torch.float64) + 3.0
    z = y @ torch.randn(6, 6, generator=g, dtype=torch.float64) + 0.3 * torch.randn(500, 6, generator=g, dtype=torch.float64) + 5.0
    fit = LinearFit()
    fit.add(y[:250], {"t": z[:250]})
    fit.add(y[250:], {"t": z[250:]})
    yc = y - y.mean(0)
    ref = torch.linalg.lstsq(yc, z - z.mean(0)).solution
    # the ridge moves A by at most RIDGE cond(Gram) ||A||; the round-off of the 500-row normal equations, whose
    # centring cancels the squares' mean part (|y|^2 / |y - mean|^2 of them), is read through cond(Gram) too
    cond = float(torch.linalg.cond(yc.T @ yc))
    tol = cond * (RIDGE + 2 * sum_tol(500) * float((y ** 2).sum() / (yc ** 2).sum())) * float(torch.linalg.matrix_norm(ref, 2))
    assert torch.allclose(fit.solve("t", centred=True), ref, rtol=0, atol=tol), \
        "the oracle: lstsq on explicitly centred rows"
    # the means (3 and 5) make the uncentred map differ by O(0.1): far from any round-off
    assert not torch.allclose(fit.solve("t"), ref, atol=1e-3), "the uncentred fit is another map"


def test_an_offset_earns_the_uncentred_metric_credit_that_the_centred_one_withdraws():
    """sigmoid(W x) with small random W is about 1/2 + W x / 4: the constant dominates ||phi||, so any map that
    carries it scores near 0 uncentred, although the layer is not mirror-equivariant; centred it is not near 0.
    An exactly equivariant layer scores 0 both ways."""
    W = torch.randn(16, 3072, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 1e-3
    offset = lambda x: torch.sigmoid(x.double() @ W.T)
    batches = lambda seed: [torch.randn(2000, 3072, generator=torch.Generator().manual_seed(seed + k)) for k in range(2)]
    errs = shared_linear_equivariance({"sig": offset, "eq": mirror_closed_layer()}, {"m": mirror}, batches(0),
                                      batches(10), centred=True)
    plain, centred = float(errs["sig"]["m"].median()), float(errs[("sig", "centred")]["m"].median())
    assert plain < 0.05 and centred > 0.5, (plain, centred)
    # as in the first test: the ridge's bias (1.0e-10), far above float64 round-off, with room for its spread
    assert float(errs[("eq", "centred")]["m"].median()) < 100 * RIDGE and float(errs["eq"]["m"].median()) < 100 * RIDGE


def test_amplitude_readings_scale_one_shared_draw_bitwise_as_if_each_drew_its_own(data, tmp_path, shared):
    """Power-of-two amplitudes: scaling the shared centred draw gives bitwise the samples that scaling the
    covariance factor did, so sharing the draw changes no result; kept on disk, a later call (another page,
    another process) loads the same samples, and a damaged or missing file is drawn again, in its place in
    the stream."""
    from eqlib.metric import Draws
    draws = Draws(tmp_path / "draws")
    batches = lambda r, part, n, d: torch.cat(list(reading_batches(r, data, n, part=part, batch_size=1000,
                                                                    cache=shared, draws=d)))
    for r in ("covariance", "covariance_x0.25", "covariance_x4"):
        for part, n in (("fit", 2500), ("eval", 3000)):
            alone = batches(r, part, n, None)
            assert torch.equal(batches(r, part, n, draws), alone), f"{r}, {part}: the shared draw is the reading's own"
            assert torch.equal(batches(r, part, n, Draws(tmp_path / "draws")), alone), f"{r}, {part}: from disk"
    files = sorted((tmp_path / "draws").glob("*.npy"))
    assert len(files) == 3 + 3 and not list((tmp_path / "draws").glob("*.tmp*")), "a file per batch, no leftovers"
    alone = batches("covariance_x4", "eval", 3000, None)
    mean = image_covariance_factor(data, shared)[0]
    file_of = lambda rows: next(f for f in files if torch.equal(torch.from_numpy(np.load(f)) * 2 + mean, rows))
    first, last = file_of(alone[:1000]), file_of(alone[2000:])
    first.write_bytes(b"torn")                                   # the first eval batch damaged: drawn again,
    assert torch.equal(batches("covariance_x4", "eval", 3000, Draws(tmp_path / "draws")), alone), \
        "bitwise, the later batches loaded"
    last.unlink()                                                # the last batch missing: the stream is replayed
    assert torch.equal(batches("covariance_x4", "eval", 3000, Draws(tmp_path / "draws")), alone)
    assert last.exists(), "and written again"


def test_float32_errors_match_float64_to_float32_round_off_and_small_errors_are_exact():
    """The errors are evaluated in float32, small ones again in float64: on planted latents with errors from
    1e-12 to 1, every row matches the float64 evaluation to float32's round-off, and the smallest keep
    float64's digits."""
    from eqlib.metric import relative_errors
    g = torch.Generator().manual_seed(0)
    y = torch.randn(4000, 64, generator=g, dtype=torch.float64) * 3 + 1
    At = torch.randn(64, 64, generator=g, dtype=torch.float64) / 8
    scale = 10 ** torch.linspace(-12, 0, 4000, dtype=torch.float64)[:, None]
    z = y @ At + scale * torch.randn(4000, 64, generator=g, dtype=torch.float64) * y.norm(dim=1, keepdim=True) / 8
    ref = (z - y @ At).norm(dim=1) / y.norm(dim=1)
    got = relative_errors(y.float(), z.float(), At)
    y32, z32 = y.float().double(), z.float().double()
    ref32 = (z32 - y32 @ At).norm(dim=1) / y32.norm(dim=1)
    # z - y A is a 65-term sum per entry: its round-off is at most sum_tol(65) times |z| + |y| |A|, relative to |y|
    terms = float(((z32.abs() + y32.abs() @ At.abs()).norm(dim=1) / y32.norm(dim=1)).max())
    # float32: 65 terms, A rounded to float32 (one more), and the two norms' relative round-off on errors up to ~1
    tol32 = sum_tol(66, FLOAT32) * (terms + float(ref32.max()))
    assert got.dtype == torch.float64 and float((got - ref32).abs().max()) < tol32, \
        "float32 evaluation within float32 round-off of float64 on the same (float32) latents"
    small = ref32 < 1e-4
    # both sides float64, the same formula summed perhaps in another order: twice the round-off of one
    assert torch.allclose(got[small], ref32[small], rtol=0, atol=2 * sum_tol(65) * terms), \
        "below 1e-4: float64's own digits"
    # and the latents' own rounding to float32 (one more term each)
    assert float((got - ref).abs().max()) < sum_tol(67, FLOAT32) * (terms + float(ref.max())), \
        "and within float32 round-off of float64 on the float64 latents"


def test_median_se_is_the_bootstrap_oracle_and_sizes_may_differ_per_reading(data, tmp_path, shared):
    """For n normal samples the median's standard error is sqrt(pi / 2) sigma / sqrt(n); the bootstrap's is
    within a fifth of it. Readings may use different evaluation sizes; a missing one is named."""
    from eqlib.metric import eval_size, median_se
    e = torch.randn(20_000, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2 + 5
    assert median_se(e) == pytest.approx((np.pi / 2) ** 0.5 * 2 / 20_000 ** 0.5, rel=0.2)
    t = paper_metric({"f": random_layer()}, data, readings=["gaussian", "uniform"], n_fit=1500,
                     n_eval={"gaussian": 3000, "uniform": 1000}, cache=shared)
    assert t.n_eval == {"gaussian": 3000, "uniform": 1000}
    assert eval_size(7, "images") == 7
    with pytest.raises(ValueError, match="no evaluation size for reading 'images'; given for: gaussian"):
        eval_size({"gaussian": 3}, "images")
    with pytest.raises(ValueError, match=r"n_eval\['uniform'\] must be a positive integer; got 0"):
        paper_metric({"f": random_layer()}, data, readings=["uniform"], n_eval={"uniform": 0})


def test_reading_inputs_have_their_stated_distribution(data, tmp_path, shared):
    u = torch.cat(list(reading_batches("uniform", data, 4000, part="fit")))
    pixels = data.denormalize(u)        # clamps to [0, 1]; uniform pixels must not need clamping
    raw = u.reshape(-1, 3, 32, 32) * torch.as_tensor(data.std)[:, None, None].float() \
        + torch.as_tensor(data.mean)[:, None, None].float()
    # (p - mean) / std * std + mean: four float32 roundings of values of order 1
    assert raw.min() >= -sum_tol(4, FLOAT32) and raw.max() <= 1 + sum_tol(4, FLOAT32)
    assert abs(float(raw.mean()) - 0.5) < 0.01, "the mean of 12M uniform pixels: sampling noise 1e-4"
    # both x * std + mean in float32, two roundings of values at most 1 each
    assert torch.allclose(pixels, raw.clamp(0, 1), rtol=0, atol=sum_tol(2, FLOAT32))
    mean, L = image_covariance_factor(data, shared)
    x = data.tensors()[0].double()
    cov = torch.cov(x.T)
    # L factors cov plus the library's jitter (1e-6 of the mean variance) and is stored in float32, which moves
    # L L^T by eps(float32) sqrt(var_i var_j); the float64 covariances, Cholesky and product (3073 and 514 terms,
    # twice) add far less
    jitter = 1e-6 * float(cov.diagonal().mean())
    tol = jitter + (eps(FLOAT32) + sum_tol(2 * 3073 + 2 * 514)) * (float(cov.diagonal().max()) + jitter)
    assert torch.allclose((L.double() @ L.double().T), cov, rtol=0, atol=tol), \
        "L L^T is the training images' covariance"
    s = torch.cat(list(reading_batches("covariance", data, 20000, part="eval", cache=shared))).double()
    rms = float((s.mean(0) - x.mean(0)).norm()) / 3072 ** 0.5
    assert rms < 3 / 20000 ** 0.5, f"samples have the images' mean (rms deviation {rms:.4f}, sampling noise ~0.007)"
    V = torch.randn(3072, 20, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    V = torch.cat([V, torch.linalg.eigh(cov)[1][:, -5:]], 1)            # random and top-variance directions
    rel = ((s @ V).var(0) / (V * (cov @ V)).sum(0) - 1).abs().max()
    assert rel < 0.05, f"samples have the images' variance along every direction tried (worst {rel:.3f})"
    a = next(reading_batches("gaussian", data, 10, part="fit"))
    b = next(reading_batches("gaussian", data, 10, part="eval"))
    assert not torch.equal(a, b), "fitting and evaluation samples are independent draws"
    assert torch.equal(a, next(reading_batches("gaussian", data, 10, part="fit"))), "same seed, same samples"


def test_damaged_covariance_cache_is_recomputed(data, tmp_path):
    mean, L = image_covariance_factor(data, tmp_path)
    path = next((tmp_path / "stats").glob("covariance-*.pt"))
    path.write_bytes(b"garbage")
    mean2, L2 = image_covariance_factor(data, tmp_path)
    assert torch.equal(L, L2) and torch.equal(mean, mean2)


def test_bad_arguments_are_named(data):
    with pytest.raises(ValueError, match="unknown readings.*allowed: covariance, gaussian"):
        paper_metric({"f": random_layer()}, data, readings=["pink"])
    with pytest.raises(ValueError, match="unknown flips"):
        paper_metric({"f": random_layer()}, data, flips=["diagonal"])
    with pytest.raises(ValueError, match="n_eval must be a positive integer; got 0"):
        paper_metric({"f": random_layer()}, data, n_eval=0)
    with pytest.raises(ValueError, match="fewer than the latent dimension 16"):
        paper_metric({"f": random_layer()}, data, readings=["gaussian"], n_fit=10)


def test_lstsq_residual_oracle():
    rng = np.random.default_rng(0)
    X, M = rng.standard_normal((50, 4)), rng.standard_normal((4, 3))
    Y = X @ M
    # Y's 4-term sums are rounded (sum_tol(4) of |X| |M|), which moves it out of X's span by that much; float64
    # least squares on 50 x 4 is backward stable, leaving the round-off of the 200-entry problem (and of the
    # residual's own sums) relative to ||X|| ||M|| + ||Y||
    ny = np.linalg.norm(Y)
    tol = sum_tol(4) * np.linalg.norm(np.abs(X) @ np.abs(M)) / ny \
        + sum_tol(50 * 4 + 5) * (1 + np.linalg.norm(X, 2) * np.linalg.norm(M, 2) / ny)
    assert lstsq_residual(X, Y) < tol, "an exact linear map leaves no residual"
    assert lstsq_residual(X, rng.standard_normal((50, 3))) > 0.8, "unrelated targets are mostly unexplained"


def test_amplitude_readings_scale_the_covariance_around_the_mean(data, tmp_path, shared):
    mean = image_covariance_factor(data, shared)[0].double()
    base = next(reading_batches("covariance", data, 4000, part="eval", cache=shared)).double() - mean
    for r, a in (("covariance_x0.25", 0.25), ("covariance_x4", 4.0)):
        s = next(reading_batches(r, data, 4000, part="eval", cache=shared)).double() - mean
        # the power-of-two scale commutes with the product's rounding; only the float32 "+ mean" of each rounds
        # differently: half an eps of each side's value
        tol = eps(FLOAT32) * float(torch.maximum((s + mean).abs(), (base + mean).abs() * a ** 0.5).max())
        assert torch.allclose(s, base * a ** 0.5, rtol=0, atol=tol), f"{r}: the same draws, the covariance scaled by {a}"


def test_samples_per_reading_say_what_the_images_reading_can_use(data):
    assert reading_samples("images", data, 20_000, 100_000) == {"fit": 512, "eval": 256}
    assert reading_samples("covariance", data, 20_000, 100_000) == {"fit": 20_000, "eval": 100_000}


def test_an_identity_activation_sits_at_its_floor_and_a_saturated_tanh_does_not(data, tmp_path, shared):
    """Planted layers whose filters span a mirror-closed space without being permuted by the mirror
    (rows a and a + b with g a = a, g b = -b: g(a + b) = 2a - (a + b)), so the floor is 0. With the
    identity as activation f1 is its own pre-activation and equals its floor under every reading; a
    Tanh driven into saturation is no longer a linear function of the mirrored input, and the
    reading tests it."""
    from eqlib.analysis import mlp_metric
    g = torch.Generator().manual_seed(0)
    v = torch.randn(3, 3072, generator=g, dtype=torch.float64)      # a + b rounded in float32 would leave 2e-8
    a, b = v + mirror(v), v - mirror(v)
    W = torch.cat([a, a + b])
    Wn = W / W.norm(dim=1, keepdim=True)
    models = {}
    for act, scale in (("identity", 1.0), ("tanh", 50.0)):
        # in float64, the test meaning exactness: the readings run in the model's own precision (mlp_prefixes)
        m = MLP(MLPConfig((3072, 6, 5, 3), (act, "gelu"))).double()
        with torch.no_grad():
            m.linears[0].weight.copy_(scale * Wn)
            m.linears[0].bias.zero_()
        models[act] = [m]
    m = mlp_metric(models, data, readings=["covariance", "gaussian"], n_fit=300, n_eval=300, cache=shared)
    for r in m:
        # the identity returns its input: the same latents through the same arithmetic, bitwise
        assert m[r]["identity"]["first_layer"]["mirror"] == m[r]["identity"]["first_layer_pre"]["mirror"], r
        # exact in real arithmetic, and computed in float64: the fitted map is off by the ridge's bias and the
        # normal equations' round-off, each read through cond(Gram) of the fitting latents, times ||A|| (the map
        # a -> a, a + b -> 2a - (a + b)). Float32's worst case, 3 dot_tol(3072, float32) = 0.06, would not tell
        # this floor from an unequivariant layer's (> 0.05 above)
        x = torch.cat(list(reading_batches(r, data, 300, part="fit", cache=shared))).double()
        y = x @ Wn.T
        A = torch.linalg.lstsq(y, mirror(x) @ Wn.T).solution
        tol = float(torch.linalg.cond(y.T @ y)) * (RIDGE + 2 * sum_tol(300)) * float(torch.linalg.matrix_norm(A, 2))
        assert m[r]["tanh"]["first_layer_pre"]["mirror"][0] < tol < 0.05, \
            f"{r}: the planted filters' span is mirror-closed"
        assert floor_ratios(m, "identity")[r] == [1.0]
    assert activation_tested(m, "identity", flips=("mirror",)) == {"covariance": False, "gaussian": False}
    assert activation_tested(m, "tanh", flips=("mirror",)) == {"covariance": True, "gaussian": True}, \
        floor_ratios(m, "tanh")
