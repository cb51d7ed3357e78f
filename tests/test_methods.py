"""One definition of each method's parameters (napari_irdm.methods): the core's signature defaults, the
CLI's defaults and the rules both apply are the dataclasses'; the dispatch passes every field."""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pytest

from napari_irdm import methods, tomo
from napari_irdm.errors import ParameterError, in_terms_of
from napari_irdm.methods import MAX_ITERATIONS, PARAMS, method_params

CORE_ITER = {"wbp": tomo.wbp_iter, "sirt": tomo.sirt_iter, "sart": tomo.sart_iter, "tv": tomo.tv_iter}
CORE_EAGER = {"wbp": tomo.wbp, "sirt": tomo.sirt, "sart": tomo.sart, "tv": tomo.tv}


def _core(method):
    if method == "irdm":
        from napari_irdm.dl import inpaint_iter

        return inpaint_iter
    return CORE_ITER[method]


@pytest.mark.parametrize("method", methods.METHODS)
def test_core_signature_defaults_are_the_dataclass_defaults(method):
    defaults = PARAMS[method]()
    sig = inspect.signature(_core(method)).parameters
    kwargs = defaults.core_kwargs()
    assert kwargs, method
    for name, value in kwargs.items():
        assert name in sig, (method, name)
        assert sig[name].default == value, (method, name, sig[name].default, value)
    if method in CORE_EAGER:  # the eager wrapper has the generator's signature
        assert inspect.signature(CORE_EAGER[method]).parameters == sig


def _parse(argv):
    from napari_irdm.cli import build_parser

    return build_parser().parse_args(argv)


@pytest.mark.parametrize("method", methods.METHODS)
def test_cli_defaults_are_the_dataclass_defaults(method, tmp_path):
    from napari_irdm._cli.reconstruct import _method_params

    args = _parse(["reconstruct", str(tmp_path / "in.mrc"), "-o", str(tmp_path / "out.mrc"), "--method", method])
    # one exception, also from napari_irdm.methods: IRDM from a series defaults to its recommended consistency
    expected = PARAMS[method](consistency=methods.SERIES_CONSISTENCY) if method == "irdm" else PARAMS[method]()
    assert _method_params(args) == expected
    assert args._unused == []
    if method == "irdm":  # 'none' is the network alone: the dataclass default (what inpaint of a volume does)
        off = _parse(["reconstruct", str(tmp_path / "in.mrc"), "-o", str(tmp_path / "out.mrc"), "--method", method,
                      "--data-consistency", "none"])
        assert _method_params(off) == PARAMS[method]()


def test_cli_lists_are_the_methods_lists():
    from napari_irdm.cli import build_parser

    rec = next(a for a in build_parser()._actions if a.dest == "command").choices["reconstruct"]
    choices = {a.dest: a.choices for a in rec._actions}
    assert tuple(choices["method"]) == methods.METHODS
    assert tuple(choices["filter"]) == methods.FILTERS
    helps = {a.dest: a.help for a in rec._actions}
    for m in ("sirt", "sart", "tv"):
        assert f"{m} {PARAMS[m]().iterations}" in helps["iterations"]


def test_cli_options_set_their_fields_and_only_those(tmp_path):
    from napari_irdm._cli.reconstruct import _method_params

    base = ["reconstruct", str(tmp_path / "in.mrc"), "-o", str(tmp_path / "o.mrc")]
    p = _method_params(_parse([*base, "--method", "sirt", "--iterations", "7", "--relaxation", "1.5",
                               "--nonnegative", "--stop", "discrepancy"]))
    assert p == methods.SIRTParams(iterations=7, relaxation=1.5, nonnegative=True, stop="discrepancy")
    p = _method_params(_parse([*base, "--method", "irdm", "--data-consistency", "iterative",
                               "--consistency-iterations", "4", "--filter", "hann", "--tta"]))
    assert p == methods.IRDMParams(consistency="iterative", consistency_iterations=4, filter_name="hann", tta=True)
    args = _parse([*base, "--method", "wbp", "--iterations", "3"])
    assert _method_params(args) == methods.WBPParams() and args._unused == ["iterations"]


#: (method, parameter, bad value, CLI option)
SAME_RULE = [
    ("sirt", "relaxation", 2.5, "--relaxation"),
    ("sirt", "relaxation", 0.0, "--relaxation"),
    ("sart", "relaxation", 2.0, "--relaxation"),
    ("sirt", "relaxation", float("nan"), "--relaxation"),
    ("sirt", "iterations", 0, "--iterations"),
    ("sart", "iterations", MAX_ITERATIONS + 1, "--iterations"),
    ("tv", "iterations", -3, "--iterations"),
    ("tv", "tv_weight", -1.0, "--tv-weight"),
    ("tv", "tv_weight", float("inf"), "--tv-weight"),
    ("irdm", "consistency_iterations", 0, "--consistency-iterations"),
]


def _core_error(method, parameter, value):
    b = np.zeros((7, 2, 8), np.float32)
    angles = np.linspace(-30, 30, 7)
    with pytest.raises(ParameterError) as info:
        if method == "irdm":
            from napari_irdm.dl import inpaint

            inpaint(np.zeros((8, 2, 8), np.float32), angles, consistency="iterative", tilt_series=b,
                    **{parameter: value})
        else:
            CORE_EAGER[method](b, angles, **{parameter: value})
    return info.value


@pytest.mark.parametrize("method,parameter,value,flag", SAME_RULE)
def test_cli_and_core_apply_the_same_rule(method, parameter, value, flag, tmp_path, capsys):
    """The core names the parameter (`relaxation`), the CLI its option (--relaxation); the rule is one."""
    from napari_irdm._cli._common import CLI_NAMES
    from napari_irdm.cli import main

    err = _core_error(method, parameter, value)
    assert err.params[0] == parameter and str(err).startswith(f"`{parameter}` must ") and "--" not in str(err)
    argv = ["reconstruct", str(tmp_path / "in.mrc"), "-o", str(tmp_path / "o.mrc"), "--method", method]
    extra = ["--data-consistency", "iterative"] if method == "irdm" else []
    assert main([*argv, *extra, flag, str(value), "--quiet"]) == 2
    line = capsys.readouterr().err.strip()
    assert CLI_NAMES[parameter] == flag
    assert line.endswith(in_terms_of(err, CLI_NAMES)) and f"{flag} must " in line, line
    assert "\n" not in line and f"`{parameter}`" not in line


def test_method_params_refuses_unknown_options_and_methods():
    with pytest.raises(ParameterError, match="`tv_weight` is not a parameter of sirt"):
        method_params("sirt", tv_weight=1e-4)
    with pytest.raises(ParameterError, match="`method` must be one of"):
        method_params("fbp")
    with pytest.raises(ParameterError, match="relaxation"):
        method_params("sart").replace(relaxation=3)
    p = method_params("TV", tv_weight=" AUTO ", solver="CP")
    assert p.auto and p.solver == "cp"
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.iterations = 3  # type: ignore[misc]


def _phantom():
    vol = np.zeros((16, 3, 16), np.float32)
    vol[4:10, :, 5:12] = 1.0
    angles = np.arange(-60.0, 61.0, 5.0)
    return np.asarray(tomo.ParallelProjector(angles, vol.shape).forward(vol), np.float32), angles


@pytest.mark.parametrize("params,direct", [
    (methods.WBPParams(filter_name="hann"), lambda b, a: tomo.wbp(b, a, filter_name="hann")),
    (methods.SIRTParams(iterations=6, relaxation=1.5, nonnegative=True),
     lambda b, a: tomo.sirt(b, a, iterations=6, relaxation=1.5, nonnegative=True)),
    (methods.SARTParams(iterations=2, subset_size=3, relaxation=0.8),
     lambda b, a: tomo.sart(b, a, iterations=2, subset_size=3, relaxation=0.8)),
    (methods.TVParams(tv_weight=1e-5, iterations=8, solver="cp"),
     lambda b, a: tomo.tv(b, a, tv_weight=1e-5, iterations=8, solver="cp")),
])
def test_dispatch_runs_the_core_with_every_field(params, direct):
    from napari_irdm.progress import run_to_completion

    b, angles = _phantom()
    got = run_to_completion(tomo.reconstruct_iter(b, angles, params, thickness=16))
    np.testing.assert_array_equal(got, direct(b, angles))
    default = run_to_completion(tomo.reconstruct_iter(b, angles, type(params)(), thickness=16))
    assert not np.array_equal(got, default)  # the fields reached the core


def test_dispatch_refuses_what_it_cannot_run():
    from napari_irdm.progress import run_to_completion

    b, angles = _phantom()
    with pytest.raises(ValueError, match="IRDM runs as a WBP"):
        run_to_completion(tomo.reconstruct_iter(b, angles, methods.IRDMParams()))
    with pytest.raises(ValueError, match="x0"):
        run_to_completion(tomo.reconstruct_iter(b, angles, methods.WBPParams(), x0=np.zeros((16, 3, 16))))


def test_auto_tv_weight_is_resolved_once_the_same_way():
    """``resolve_tv_weight`` is what ``tv_iter`` does with "auto" (the front ends call it to record the weight)."""
    b, angles = _phantom()
    p = tomo.resolve_tv_weight(methods.TVParams(iterations=10), b, angles)
    assert not p.auto and p.solver == "cp" and 0 < p.tv_weight < 1
    np.testing.assert_array_equal(tomo.tv(b, angles, iterations=10), tomo.tv(b, angles, **p.core_kwargs()))
    assert tomo.resolve_tv_weight(methods.TVParams(tv_weight=0.5), b, angles) == methods.TVParams(tv_weight=0.5)
