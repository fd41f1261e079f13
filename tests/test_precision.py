import pytest

from eqlib.precision import CHOICES, cpu_flags, describe, native_bfloat16, resolve


def test_auto_follows_the_hardware_and_the_environment_overrides_it():
    amx, avx2 = {"avx2", "amx_bf16", "amx_tile"}, {"avx2", "fma"}
    assert resolve("auto", amx, env="") == "bfloat16" and resolve("auto", avx2, env="") == "float32"
    assert resolve("auto", {"avx512_bf16"}, env="") == "bfloat16", "AVX-512 BF16 counts as native"
    assert resolve("auto", amx, env="float32") == "float32", "EQLIB_PRECISION=float32 always wins over auto"
    assert resolve("auto", avx2, env="bfloat16") == "bfloat16"
    assert resolve("auto", amx, env="auto") == "bfloat16"
    assert resolve("float32", amx, env="bfloat16") == "float32", "an explicit precision is kept as it is"


def test_bad_precisions_are_named():
    with pytest.raises(ValueError, match="unknown precision 'half'; allowed: float32, bfloat16, auto"):
        resolve("half")
    with pytest.raises(ValueError, match="EQLIB_PRECISION='fp8'"):
        resolve("auto", set(), env="fp8")
    assert CHOICES == ("float32", "bfloat16", "auto")


def test_cpu_flags_read_linux_cpuinfo(tmp_path):
    f = tmp_path / "cpuinfo"
    f.write_text("processor\t: 0\nflags\t\t: fpu avx2 amx_bf16\nbugs\t: none\n")
    assert cpu_flags(f) == {"fpu", "avx2", "amx_bf16"} and native_bfloat16(cpu_flags(f))
    assert cpu_flags(tmp_path / "missing") == set(), "no cpuinfo: no flags, so float32"
    assert describe("float32", set()).startswith("float32 (this CPU has no bfloat16 in hardware")


def test_compare_reads_differences_against_the_spread_over_seeds():
    from eqlib.precision import compare
    values = {"float32": {"tanh f1": [0.030, 0.034, 0.032], "gelu f1": [0.10, 0.15, 0.11]},
              "bfloat16": {"tanh f1": [0.031, 0.035, 0.033], "gelu f1": [0.12, 0.13, 0.14]}}
    counts = {"float32": {"tanh": [63, 62, 63]}, "bfloat16": {"tanh": [62, 63, 63]}}
    c = compare(values, counts)
    assert c["agrees"] and c["rows"]["tanh f1"]["difference"] == pytest.approx(0.001)
    assert c["rows"]["tanh f1"]["spread"] == pytest.approx(0.004)
    values["bfloat16"]["tanh f1"] = [0.040, 0.041, 0.042]                       # shifted by more than the spread
    c = compare(values, counts)
    assert not c["agrees"] and not c["rows"]["tanh f1"]["ok"] and c["rows"]["gelu f1"]["ok"]
    values["bfloat16"]["tanh f1"] = [0.031, 0.035, 0.033]
    counts["bfloat16"]["tanh"] = [55, 57, 56]
    c = compare(values, counts)
    assert not c["agrees"] and not c["counts"]["tanh"]["ok"], "a count outside the float32 seeds' range"
    counts["bfloat16"]["tanh"] = [62, 63, 63]
    values["bfloat16"]["tanh f1"] = [0.010, 0.090, 0.020]            # noisier, mean 0.04: 0.008 above float32's
    c = compare(values, counts)
    assert not c["rows"]["tanh f1"]["ok"] and c["rows"]["tanh f1"]["spread_other"] == pytest.approx(0.08), \
        "the noisier precision's own range does not widen the tolerance"
