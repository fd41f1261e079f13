"""Does training in bfloat16 change a conclusion? The check that decides eqlib's default precision.

    python benchmarks/precision_check.py [--seeds 0 1 2] [--n-eval 100000] [--out _build/precision_check.json]

The Tanh and GELU autoencoders of the MLP chapters (their protocol, their seeds) are trained in float32
and in bfloat16 (autocast; models come from the cache where a build made them). For each, the paper's
three autoencoder rows under the primary reading and the first-layer neurons explained in the data
metric, per seed. bfloat16 changes no conclusion when every row's means differ by less than float32's spread
over seeds and every bfloat16 count's mean lies within the float32 seeds' range
(:func:`eqlib.precision.compare`). Also printed: each precision's training time per model, measured in
this process where a model was not cached, and the matmul rates. Needs CIFAR-10 (README: EQLIB_DATA).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import torch

from eqlib.analysis import first_layer, mlp_metric
from eqlib.data import load_cifar10
from eqlib.metric import DEFAULT_READING
from eqlib.paper import PAPER_TABLE
from eqlib.precision import compare
from eqlib.protocol import mlp_configs
from eqlib.results import cpu_name
from eqlib.train import train

PRECISIONS = ("float32", "bfloat16")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--n-eval", type=int, default=100_000)
    ap.add_argument("--out", default="_build/precision_check.json")
    args = ap.parse_args(argv)
    data = load_cifar10()
    x_labels = data.tensors()[0][:20_000]
    print(f"# {cpu_name()}, torch threads {torch.get_num_threads()}; {data.description}")
    models, seconds = {}, {}
    for act in ("tanh", "gelu"):
        mc, tc = mlp_configs("autoencoder", act)
        for p in PRECISIONS:
            runs = [train(mc, replace(tc, seed=s, precision=p), data, progress=False) for s in args.seeds]
            models[(act, p)] = [r.model.cpu().eval() for r in runs]
            seconds[f"{act} {p}"] = [None if r.loaded else round(r.seconds, 1) for r in runs]
            print(f"{act} {p}: trained here (s) {seconds[f'{act} {p}']} (None: from the cache)", flush=True)
    metric = mlp_metric({f"{a}|{p}": ms for (a, p), ms in models.items()}, data, readings=[DEFAULT_READING],
                        n_fit=20_000, n_eval=args.n_eval)[DEFAULT_READING]
    rows = [k for k in PAPER_TABLE if k[0] == "autoencoder"]
    values = {p: {f"{a} {layers} {flip}": metric[f"{a}|{p}"][layers][flip] for a in ("tanh", "gelu")
                  for (_, layers, flip) in rows} for p in PRECISIONS}
    counts = {p: {a: [first_layer(m, x_labels).explained for m in models[(a, p)]] for a in ("tanh", "gelu")}
              for p in PRECISIONS}
    c = compare(values, counts)
    print(f"\n| row | float32 per seed | bfloat16 per seed | difference of means | float32's range | bfloat16's range | agrees |")
    print("|---|---|---|---|---|---|---|")
    for row, r in c["rows"].items():
        f = lambda v: "/".join(f"{x:.4f}" for x in v)
        print(f"| {row} | {f(r['float32'])} | {f(r['bfloat16'])} | {r['difference']:+.4f} | {r['spread']:.4f} | "
              f"{r['spread_other']:.4f} | {'yes' if r['ok'] else 'no'} |")
    for name, r in c["counts"].items():
        print(f"| {name}: explained of 64 | {r['float32']} | {r['bfloat16']} | | | | {'yes' if r['ok'] else 'no'} |")
    print(f"\nbfloat16 changes no conclusion: {c['agrees']}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": cpu_name(), "seeds": args.seeds, "n_eval": args.n_eval, "check": c,
                               "train_seconds": seconds}, indent=1))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
