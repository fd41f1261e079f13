"""Throughput benchmark: eqlib's training loop against the standard tutorial pipeline,
against the machine's own matrix-multiply rate, and the symmetry tools at scale.

    python benchmarks/throughput.py [--epochs 2] [--out _build/benchmark.json]

Everything is measured in one process on the same data, so the printed ratios compare
like with like. Needs CIFAR-10 (see README: EQLIB_DATA).
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from eqlib.data import load_cifar10, mirror
from eqlib.losses import equivariance_loss, task_loss
from eqlib.models import MLP, AttentionConfig, MLPConfig
from eqlib.metric import DEFAULT_READING, paper_metric
from eqlib.symmetry import fit_signed_permutation
from eqlib.train import TrainConfig, train


def matmul_rate(dtype=torch.float32, n=2048, repeats=10):
    """The machine's own dense matrix-multiply rate (FLOP/s) for ``dtype``."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best


def mlp_step_flops(widths):
    """Matrix-multiply FLOPs of one training step per image with the equivariance loss on:
    two forward passes (x and gx), each with a backward pass of twice the forward cost,
    except that no gradient flows into the input."""
    fwd = sum(2 * a * b for a, b in zip(widths[:-1], widths[1:]))
    bwd = 2 * fwd - 2 * widths[0] * widths[1]
    return 2 * (fwd + bwd)


def attention_step_flops(c: AttentionConfig):
    T, pp, d, h = c.grid ** 2, c.channels * c.patch ** 2, c.dim, c.heads
    fwd = (2 * T * pp * h            # logits from the patches
           + 2 * h * T * pp           # attention-weighted patches
           + 2 * h * T * d            # attention-weighted positional encodings
           + 2 * h * pp * d           # back to token space
           + 2 * h * d * (d // h)     # values
           + 2 * d * d                # output projection
           + 2 * d * c.decoder_hidden + 2 * c.decoder_hidden * c.channels * c.image_size ** 2)
    return 2 * 3 * fwd


def eqlib_throughput(model_config, data, epochs, precision="float32"):
    tc = TrainConfig(epochs=epochs, equivariance_start=0.0, precision=precision)
    r = train(model_config, tc, data, progress=False, use_cache=False)
    seconds = sum(h["seconds"] for h in r.history)
    return len(data.x_train) * epochs / seconds, r


class _PILDataset(torch.utils.data.Dataset):
    """What torchvision.datasets.CIFAR10 does: a PIL image per item, then the transforms."""

    def __init__(self, images, labels, transform):
        from PIL import Image
        self.images = [Image.fromarray(x.transpose(1, 2, 0)) for x in images]
        self.labels, self.transform = labels, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), int(self.labels[i])


def tutorial_throughput(model_config, data, max_batches=None):
    """The PyTorch-tutorial way: PIL dataset, ToTensor + Normalize per sample, a default DataLoader."""
    import torchvision.transforms as T
    tf = T.Compose([T.ToTensor(), T.Normalize(data.mean.tolist(), data.std.tolist())])
    loader = torch.utils.data.DataLoader(_PILDataset(data.x_train, data.y_train, tf), batch_size=256, shuffle=True)
    torch.manual_seed(0)
    model = MLP(model_config)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n, start = 0, time.perf_counter()
    for k, (x, y) in enumerate(loader):
        x = x.flatten(1)
        out = model(torch.cat([x, mirror(x)]))
        f, f_m = out.chunk(2)
        loss = task_loss("autoencoder", f, x, y) + equivariance_loss("autoencoder", f, f_m)
        opt.zero_grad()
        loss.backward()
        opt.step()
        n += len(x)
        if max_batches and k + 1 >= max_batches:
            break
    return n / (time.perf_counter() - start)


def reference_attend(model, x):
    """The attention layer as eqlib computed it before its patches went channel-major: a 6-d permute
    to token-major patches and a softmax over the transposed logits (the baseline of the ratio)."""
    import math
    c = model.config
    dh, g, p = c.dim // c.heads, c.grid, c.patch
    pt = x.view(-1, c.channels, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(-1, g * g, c.channels * p * p)
    e, e_bias = model.embed.weight.flatten(1), model.embed.bias
    q = model.q_proj(model.query).view(c.heads, dh)
    u = torch.einsum("hed,he->dh", model.k_proj.weight.view(c.heads, dh, c.dim), q)
    logits = pt @ (e.T @ u) + (model.pos + e_bias) @ u
    attn = torch.softmax(logits.transpose(1, 2) / math.sqrt(dh), dim=-1)
    pooled = (attn @ pt) @ e.T + attn @ model.pos + e_bias
    values = torch.einsum("bhd,hed->bhe", pooled, model.v_proj.weight.view(c.heads, dh, c.dim))
    return attn, values + model.v_proj.bias.view(c.heads, dh)


def attention_layout_ratio(config, batch=512, repeats=20):
    """Forward + backward time of the attention layer, eqlib's against :func:`reference_attend`, in this process."""
    from eqlib.models import AttentionAutoencoder
    torch.manual_seed(0)
    model, x = AttentionAutoencoder(config), torch.randn(batch, 3 * 32 * 32)
    out = {}
    for name, fn in (("eqlib", model._attend), ("reference", lambda x: reference_attend(model, x))):
        for k in range(repeats + 3):
            if k == 3:
                t = time.perf_counter()
            a, v = fn(x)
            (a.sum() + v.sum()).backward()
        out[f"{name}_ms"] = (time.perf_counter() - t) / repeats * 1e3
    with torch.no_grad():
        diffs = [(r - e).abs().max().item() for r, e in zip(reference_attend(model, x), model._attend(x))]
    return {**out, "ratio": out["reference_ms"] / out["eqlib_ms"], "max_abs_difference": max(diffs)}


def _train_one(args):
    """In a worker process: train the benchmark MLP with ``threads`` torch threads; images per second."""
    threads, epochs, seed = args
    torch.set_num_threads(threads)
    data = load_cifar10()
    mlp = MLPConfig.paper("autoencoder", "tanh", first_init_scale=0.01)
    tc = TrainConfig(epochs=epochs, equivariance_start=0.0, seed=seed)
    r = train(mlp, tc, data, progress=False, use_cache=False)
    return len(data.x_train) * epochs / sum(h["seconds"] for h in r.history)


def threads_throughput(epochs=1) -> dict:
    """Training throughput (images/s, all processes together) of one process using every core against
    as many single-threaded processes side by side, each training its own model (as a build could)."""
    import multiprocessing as mp
    n = torch.get_num_threads()
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        one = pool.map(_train_one, [(n, epochs, 0)])[0]
    with ctx.Pool(n) as pool:
        many = sum(pool.map(_train_one, [(1, epochs, s) for s in range(n)]))
    return {"threads": n, "one_process_images_per_s": one, "single_threaded_processes_images_per_s": many,
            "ratio": many / one}


def metric_throughput(model, data, n_fit=20_000, n_eval=100_000):
    """The paper's metric on one MLP under the primary reading (samples per second, whole metric) beside
    the bare forward passes it needs (each sample and its two flips through the prefixes); and the three
    covariance readings with one shared draw against a draw per reading."""
    from eqlib.analysis import _mlp_metric
    from eqlib.metric import FLIPS, reading_batches
    kw = dict(n_fit=n_fit, n_eval=n_eval)
    _mlp_metric({"m": [model]}, data, readings=[DEFAULT_READING], n_fit=2000, n_eval=2000)   # warm-up: data, factor
    t = time.perf_counter()
    _mlp_metric({"m": [model]}, data, readings=[DEFAULT_READING], **kw)
    metric_s = time.perf_counter() - t
    batches = [b for part, n in (("fit", n_fit), ("eval", n_eval))
               for b in reading_batches(DEFAULT_READING, data, n, part=part)]
    t = time.perf_counter()
    with torch.no_grad():
        for x in batches:
            for T in (lambda v: v, *FLIPS.values()):
                model.hidden(T(x), 2)
    forward_s = time.perf_counter() - t
    amps = ["covariance", "covariance_x0.25", "covariance_x4"]
    t = time.perf_counter()
    paper_metric({"f": lambda x: model.hidden(x, 1)}, data, readings=amps, **kw)
    shared = time.perf_counter() - t
    t = time.perf_counter()
    paper_metric({"f": lambda x: model.hidden(x, 1)}, data, readings=amps, share_draws=False, **kw)
    separate = time.perf_counter() - t
    n = n_fit + n_eval
    return {"samples": n, "metric_s": metric_s, "metric_samples_per_s": n / metric_s, "forward_s": forward_s,
            "forward_samples_per_s": n / forward_s, "ratio_to_forward": forward_s / metric_s,
            "amplitudes_shared_s": shared, "amplitudes_separate_s": separate}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=2, help="whole epochs per eqlib measurement")
    ap.add_argument("--tutorial-batches", type=int, default=0, help="0: one whole epoch of the tutorial pipeline")
    ap.add_argument("--out", default="_build/benchmark.json")
    args = ap.parse_args(argv)
    if args.epochs < 1:
        ap.error(f"--epochs must be at least 1; got {args.epochs}")

    data = load_cifar10()
    res = {"machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, torch threads {torch.get_num_threads()}",
           "torch": torch.__version__, "data": data.description}
    print(f"# {res['machine']}; {data.description}")

    rate32, rate16 = matmul_rate(torch.float32), matmul_rate(torch.bfloat16)
    res["matmul_gflops"] = {"float32": rate32 / 1e9, "bfloat16": rate16 / 1e9}
    print(f"matrix multiply: float32 {rate32 / 1e9:.0f} GFLOP/s, bfloat16 {rate16 / 1e9:.0f} GFLOP/s")

    mlp = MLPConfig.paper("autoencoder", "tanh", first_init_scale=0.01)
    flops = mlp_step_flops(mlp.widths)
    for precision in ("float32", "bfloat16"):
        ips, _ = eqlib_throughput(mlp, data, args.epochs, precision)
        frac = ips * flops / rate32
        res[f"mlp_{precision}"] = {"images_per_s": ips, "epoch_s": len(data.x_train) / ips,
                                   "fraction_of_float32_matmul_rate": frac}
        print(f"eqlib MLP ({precision}): {ips:,.0f} images/s, {len(data.x_train) / ips:.2f} s/epoch, "
              f"{frac:.0%} of the float32 matmul rate")

    tut = tutorial_throughput(mlp, data, args.tutorial_batches or None)
    res["mlp_tutorial"] = {"images_per_s": tut}
    res["ratio_eqlib_over_tutorial"] = {p: res[f"mlp_{p}"]["images_per_s"] / tut for p in ("float32", "bfloat16")}
    print(f"tutorial pipeline (float32): {tut:,.0f} images/s; eqlib / tutorial = "
          f"{res['ratio_eqlib_over_tutorial']['float32']:.1f}x (float32), "
          f"{res['ratio_eqlib_over_tutorial']['bfloat16']:.1f}x (bfloat16)")

    att = AttentionConfig()
    ips, _ = eqlib_throughput(att, data, 1)
    frac = ips * attention_step_flops(att) / rate32
    res["attention_float32"] = {"images_per_s": ips, "epoch_s": len(data.x_train) / ips,
                                "fraction_of_float32_matmul_rate": frac}
    print(f"eqlib attention autoencoder: {ips:,.0f} images/s, {len(data.x_train) / ips:.2f} s/epoch, "
          f"{frac:.0%} of the float32 matmul rate")

    ratio = attention_layout_ratio(att)
    res["attention_patch_layout"] = ratio
    print(f"attention layer, forward + backward on a doubled batch of 512: eqlib's channel-major patches "
          f"{ratio['eqlib_ms']:.1f} ms, the token-major permute it replaced {ratio['reference_ms']:.1f} ms "
          f"(reference / eqlib = {ratio['ratio']:.2f}x); same outputs to {ratio['max_abs_difference']:.1e}")

    rng = np.random.default_rng(0)
    A = rng.standard_normal((4096, 3072))
    B = A[rng.permutation(4096)] * rng.choice([-1.0, 1.0], (4096, 1))
    t = time.perf_counter()
    fit_signed_permutation(A, B)
    res["fit_signed_permutation_4096x3072_s"] = time.perf_counter() - t
    res["metric"] = metric_throughput(MLP(mlp).eval(), data)
    m = res["metric"]
    print(f"fit_signed_permutation 4096 x 3072: {res['fit_signed_permutation_4096x3072_s']:.1f} s")
    print(f"the paper's metric, one MLP (two depths and their floors, both flips), {DEFAULT_READING} reading, "
          f"{m['samples']:,} samples: {m['metric_samples_per_s']:,.0f} samples/s; its forward passes alone (x and both "
          f"flips through the prefixes): {m['forward_samples_per_s']:,.0f} samples/s; metric / forward = "
          f"{m['ratio_to_forward']:.2f}")
    print(f"the three covariance readings (x1, x0.25, x4): {m['amplitudes_shared_s']:.1f} s with one shared draw, "
          f"{m['amplitudes_separate_s']:.1f} s drawing each (separate / shared = "
          f"{m['amplitudes_separate_s'] / m['amplitudes_shared_s']:.2f}x; the same samples, bitwise)")

    th = threads_throughput()
    res["threads"] = th
    print(f"training, all {th['threads']} threads in one process: {th['one_process_images_per_s']:,.0f} images/s; "
          f"{th['threads']} single-threaded processes side by side: {th['single_threaded_processes_images_per_s']:,.0f} "
          f"images/s together (ratio {th['ratio']:.2f})")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
