"""The target registry: every record complete, aliases sound, and every consumer (frontend,
latency model, backends, fuse pass, `nasc targets`, the language reference) naming the same
targets -- a new target is added in one place or these tests say where it is missing."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import nasc.backends as nb
from nasc import api
from nasc.backends.base import PRECISIONS
from nasc.cli import main
from nasc.errors import NascNameError, NascSemanticError, UsageError
from nasc.latency.model import prior_for, priors
from nasc.targets import (ALIASES, AMBIGUOUS, DEFAULT_JETSON, TARGET_NAMES, TARGETS, accepted_names, alias_note,
                          canonical_name, resolve_target)

from .conftest import ROOT, frozen_arch

BUILDABLE = [t.name for t in TARGETS if t.buildable]
RECORDED = [t.name for t in TARGETS if t.kind == "recorded"]


@pytest.mark.parametrize("spec", TARGETS, ids=lambda t: t.name)
def test_every_target_is_complete(spec) -> None:
    assert spec.description and spec.kind in ("cpu", "cuda", "jetson", "recorded")
    if spec.kind == "recorded":
        assert not spec.buildable and spec.backends == () and spec.precisions == () and spec.tvm is None
        assert spec.latency_column, "a recorded target names the table column it is answered from"
        return
    assert spec.buildable and spec.backends and spec.precisions and set(spec.precisions) <= set(PRECISIONS)
    assert spec.tvm is not None and spec.latency_column is None
    assert spec.prior is not None and min(spec.prior.macs_per_s, spec.prior.bytes_per_s, spec.prior.overhead_s) > 0
    if spec.kind == "jetson":
        assert isinstance(spec.tvm.target, str) and spec.tvm.target.startswith("nvidia/jetson")
        assert spec.device_arch and spec.device_arch.startswith("sm_") and spec.host_triple and spec.device_software
    else:  # built on this machine: the backends add its triple, cores and GPU arch
        assert not isinstance(spec.tvm.target, str) and spec.host_triple is None and spec.device_arch is None


def test_recorded_targets_name_columns_of_the_shipped_table() -> None:
    from nasc.data.nb201 import latency_rows

    columns = set(latency_rows()[0])
    assert RECORDED and all(resolve_target(n).latency_column in columns for n in RECORDED)


def test_names_are_unique_and_aliases_resolve_without_shadowing() -> None:
    assert len(set(TARGET_NAMES)) == len(TARGET_NAMES) == len(TARGETS)
    aliases = [a for a, _ in ALIASES]
    assert len(set(aliases)) == len(aliases)
    for alias, name in ALIASES:
        assert alias not in TARGET_NAMES, f"alias '{alias}' shadows a target"
        assert name in TARGET_NAMES and resolve_target(alias).name == name == canonical_name(alias)
        assert alias_note(alias) == f"target '{alias}' is {name}"
    assert dict(ALIASES)["jetson"] == DEFAULT_JETSON == "jetson-orin-nano"
    assert resolve_target(DEFAULT_JETSON).kind == "jetson"
    assert all(alias_note(n) is None and resolve_target(n).name == n for n in TARGET_NAMES)
    for name, boards in AMBIGUOUS:  # a family name that means several boards is refused, naming them
        assert name not in accepted_names() and all(b in TARGET_NAMES for b in boards)
        with pytest.raises(NascNameError, match=f"target '{name}' could mean {' or '.join(boards)}"):
            resolve_target(name)


@pytest.mark.parametrize("typo,meant", [("jetson-orin-nan", "jetson-orin-nano"), ("jetsn", "jetson"),
                                        ("recorded-raspi", "recorded-raspi4")])
def test_unknown_names_get_did_you_mean(typo: str, meant: str) -> None:
    assert canonical_name(typo) is None
    with pytest.raises(NascNameError) as e:
        resolve_target(typo)
    assert f"did you mean '{meant}'" in e.value.message
    assert all(n in e.value.message for n in TARGET_NAMES) and "jetson = jetson-orin-nano" in e.value.message
    with pytest.raises(NascNameError, match=f"did you mean '{meant}'"):
        nb.get_target(typo)
    with pytest.raises(NascNameError, match=f"did you mean '{meant}'"):
        prior_for(typo)


def _constraint_target(name: str) -> str | None:
    text = textwrap.dedent(f"""
        space s {{
            input x: f32[B, 1, 8, 8]
            output y: f32[B, 10] = x |> conv(4, 3) |> gap |> linear(10)
            constraint latency <= 5ms on {name}
        }}
    """)
    (c,) = api.load_text(text, "t.nas").elaborate().constraints
    return c.target


def test_frontend_accepts_every_name_and_alias_as_its_canonical_name() -> None:
    for name in accepted_names():
        assert _constraint_target(name) == canonical_name(name)
    with pytest.raises(NascSemanticError, match="unknown target 'jetsn'; did you mean 'jetson'"):
        _constraint_target("jetsn")
    with pytest.raises(NascSemanticError, match="known targets: " + ", ".join(TARGET_NAMES)):
        _constraint_target("tpu_v9")


def test_latency_model_has_a_prior_for_every_name() -> None:
    assert set(priors()) == {t.name for t in TARGETS if t.kind != "recorded"}
    for name, model in priors().items():
        assert model.name == f"roofline-prior:{name}" and prior_for(name) == model
    assert prior_for("jetson") == priors()[DEFAULT_JETSON] and prior_for(None) == priors()["cpu"]
    for name in RECORDED:  # no figures of its own yet: the cpu prior, named as such in reports
        assert prior_for(name).name == "roofline-prior:cpu"


def test_backends_build_for_every_buildable_name_and_refuse_recorded_ones() -> None:
    targets = nb.known_targets()
    assert list(targets) == BUILDABLE
    for name in BUILDABLE:
        spec, tgt = resolve_target(name), targets[name]
        assert (tgt.kind, tgt.backends, tgt.precisions) == (spec.kind, spec.backends, spec.precisions)
    assert nb.get_target("jetson") == targets[DEFAULT_JETSON]
    for name in RECORDED:
        with pytest.raises(UsageError, match=f"target '{name}' is a recorded device.*nothing can be built"):
            nb.get_target(name)


def test_fuse_pass_accepts_every_name() -> None:
    from nasc.passes.transforms.fuse import Fuse

    assert [Fuse(target=n).target for n in TARGET_NAMES] == list(TARGET_NAMES)
    with pytest.raises(ValueError, match="did you mean 'cpu'"):
        Fuse(target="cpuu")


def test_targets_cli_lists_every_name_with_its_aliases(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["targets", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list(TARGET_NAMES)
    assert {a: r["name"] for r in rows for a in r["aliases"]} == dict(ALIASES)
    assert all(r["backends"] == {} for r in rows if r["kind"] == "recorded")
    assert main(["targets"]) == 0
    out = capsys.readouterr().out
    assert all(n in out for n in TARGET_NAMES) and "jetson               alias of jetson-orin-nano" in out


def test_language_reference_lists_every_name() -> None:
    text = (ROOT / "docs" / "LANGUAGE.md").read_text()
    assert [n for n in TARGET_NAMES if f"`{n}`" not in text] == []


def test_build_with_an_alias_says_which_board(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arch = frozen_arch(tmp_path / "a.nas", "digits_tiny", 1)
    rc = main(["build", str(arch), "--target", "jetson", "--backend", "onnxruntime", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert "nasc: note: target 'jetson' is jetson-orin-nano" in err
    assert rc == 2 and "does not build for target 'jetson-orin-nano'" in err  # checked under its canonical name


def test_build_for_a_recorded_target_is_a_clear_user_error(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    arch = frozen_arch(tmp_path / "a.nas", "digits_tiny", 1)
    rc = main(["build", str(arch), "--target", "recorded-titanxp", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert rc == 2 and "'recorded-titanxp' is a recorded device" in err and "nb201_latency.csv" in err
    assert "Traceback" not in err and not (tmp_path / "b").exists()


def test_search_refuses_an_unknown_target_before_running(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["search", str(ROOT / "examples" / "digits_tiny.nas"), "--target", "cpuu", "--out", str(tmp_path / "s")])
    assert rc == 2 and "unknown target 'cpuu'; did you mean 'cpu'" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_importing_the_registry_loads_no_backend_library() -> None:
    code = ("import sys, nasc, nasc.targets, nasc.latency.model\n"
            "nasc.targets.resolve_target('jetson')\n"
            "print(sorted(m for m in ('tvm', 'tensorrt', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

