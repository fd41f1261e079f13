"""Run the numerical tests under every instruction set this machine can imitate (``make numerics``).

    python tests/instruction_sets.py                 # every combination this CPU supports
    python tests/instruction_sets.py --only portable # one (CI runs this one besides the machine's own)
    python tests/instruction_sets.py --list          # the combinations, whether this CPU has them, and
                                                     # whether each changes the kernels' rounding here

The last bits of a float32 or float64 result depend on the kernels that the libraries pick for the CPU: PyTorch's
own vectorised loops (``ATEN_CPU_CAPABILITY``: default, avx2, avx512), MKL's BLAS and LAPACK
(``MKL_ENABLE_INSTRUCTIONS``, and ``MKL_CBWR``, its reproducibility branch) and oneDNN's (``ONEDNN_MAX_CPU_ISA``).
Each of these variables makes one machine compute as a machine with fewer instructions would. The numerical
tests (those that state a round-off bound from ``tests/numerics.py``; pytest marker ``numerics``) must pass
under all of them. Before the tests, each combination's *fingerprint* (a hash of a float32 and a float64
matrix product, a least-squares solve, a softmax and a GELU) says whether it changed any kernel on this CPU:
on AMD processors MKL chooses its code path by vendor, and ``MKL_ENABLE_INSTRUCTIONS`` alone changes nothing.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# name -> (the CPU flags it needs, the environment it sets)
COMBINATIONS = {
    "native": ((), {}),
    "mkl-avx2": (("avx2",), {"MKL_ENABLE_INSTRUCTIONS": "AVX2"}),
    "mkl-avx512": (("avx512f",), {"MKL_ENABLE_INSTRUCTIONS": "AVX512"}),
    "aten-default": ((), {"ATEN_CPU_CAPABILITY": "default"}),
    "aten-avx2": (("avx2",), {"ATEN_CPU_CAPABILITY": "avx2"}),
    "aten-avx512": (("avx512f", "avx512bw", "avx512vl", "avx512dq"), {"ATEN_CPU_CAPABILITY": "avx512"}),
    # a machine with AVX2 only: every library held to AVX2
    "avx2-only": (("avx2",), {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "MKL_CBWR": "AVX2",
                              "ONEDNN_MAX_CPU_ISA": "AVX2"}),
    # the most portable kernels of each library: differs from the native ones on every x86-64 machine
    "portable": ((), {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE", "ONEDNN_MAX_CPU_ISA": "SSE41"}),
}
FINGERPRINT = """
import hashlib, torch
torch.set_num_threads(2)
g = torch.Generator().manual_seed(0)
a, b = torch.randn(513, 3072, generator=g), torch.randn(3072, 67, generator=g)
h = hashlib.sha256()
for t in (a @ b, a.double() @ b.double(), torch.linalg.lstsq(a[:, :40].double(), a[:, 40:45].double()).solution,
          torch.softmax(a, 1), torch.nn.functional.gelu(a)):
    h.update(t.numpy().tobytes())
print(torch.backends.cpu.get_cpu_capability(), h.hexdigest()[:12])
"""


def cpu_flags() -> set:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def supported(name: str, flags: set) -> bool:
    return set(COMBINATIONS[name][0]) <= flags


def environment(name: str) -> dict:
    """This process's environment with the combination's variables set and the other kernel variables unset, so
    that the native combination is the machine's own whatever the caller exported."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA")}
    return {**env, **COMBINATIONS[name][1]}


def fingerprint(name: str) -> str:
    out = subprocess.run([sys.executable, "-c", FINGERPRINT], env=environment(name), capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{name}: the fingerprint failed:\n{out.stderr}")
    return out.stdout.split("\n")[-2] if out.stdout.endswith("\n") else out.stdout


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", metavar="NAME", help=f"run these combinations; allowed: {', '.join(COMBINATIONS)}")
    ap.add_argument("--list", action="store_true", help="list the combinations and their fingerprints, run nothing")
    ap.add_argument("pytest_args", nargs="*", help="passed to pytest after '--' (e.g. -- -x)")
    args = ap.parse_args(argv)
    bad = sorted(set(args.only or []) - set(COMBINATIONS))
    if bad:
        ap.error(f"unknown combinations {bad}; allowed: {', '.join(COMBINATIONS)}")
    flags = cpu_flags()
    names = args.only or list(COMBINATIONS)
    native = fingerprint("native")
    rows, failed = [], []
    for name in names:
        if not supported(name, flags):
            rows.append((name, "not on this CPU", "", "", ""))
            continue
        fp = fingerprint(name)
        changed = "no (same kernels as native)" if fp == native and name != "native" else ("native" if name == "native" else "yes")
        if args.list:
            rows.append((name, fp, changed, "", ""))
            continue
        start = time.perf_counter()
        cmd = [sys.executable, "-m", "pytest", "-q", "-m", "numerics", "-n", "auto", "--maxprocesses", "4",
               "--dist", "loadfile", *args.pytest_args]
        print(f"[numerics] {name}: {' '.join(f'{k}={v}' for k, v in COMBINATIONS[name][1].items()) or '(the machine’s own)'}",
              flush=True)
        rc = subprocess.run(cmd, cwd=ROOT, env=environment(name)).returncode
        rows.append((name, fp, changed, "passed" if rc == 0 else f"FAILED (pytest exit {rc})",
                     f"{time.perf_counter() - start:.0f} s"))
        if rc:
            failed.append(name)
    print("\n| combination | ATen capability, fingerprint | changes the kernels here | numerical tests | time |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    if failed:
        print(f"[numerics] failed under: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
