"""Config is data: typed frozen dataclasses from mappings/YAML; unknown or mistyped keys are named."""

import dataclasses
from typing import Literal, Mapping, Optional, Tuple

import pytest

from hls_translate.core.config import apply_overrides, from_dict, load_config, to_dict
from hls_translate.core.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Optim:
    lr: float = 1e-3
    betas: Tuple[float, float] = (0.9, 0.999)
    schedule: Literal["cosine", "constant"] = "cosine"


@dataclasses.dataclass(frozen=True)
class Run:
    name: str
    steps: int = 100
    amp: bool = False
    scenes: Tuple[str, ...] = ()
    seed: Optional[int] = None
    extra: Mapping[str, float] = dataclasses.field(default_factory=dict)
    optim: Optim = dataclasses.field(default_factory=Optim)


def test_builds_nested_frozen_dataclasses():
    r = from_dict(Run, {"name": "x", "steps": 5, "scenes": ["a", "b"], "optim": {"lr": 1, "betas": [0.5, 0.6]},
                        "extra": {"w": 2}})
    assert r == Run("x", 5, False, ("a", "b"), None, {"w": 2.0}, Optim(1.0, (0.5, 0.6), "cosine"))
    assert isinstance(r.optim.lr, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.steps = 3
    assert to_dict(r)["optim"] == {"lr": 1.0, "betas": [0.5, 0.6], "schedule": "cosine"}
    assert from_dict(Run, to_dict(r)) == r


@pytest.mark.parametrize("data, message", [
    ({"name": "x", "stpes": 3}, "unknown config key stpes; known keys: name, steps"),
    ({"name": "x", "optim": {"lrr": 1}}, "unknown config key optim.lrr; known keys in optim: lr, betas, schedule"),
    ({"name": "x", "steps": "many"}, "steps: expected an integer, got 'many'"),
    ({"name": "x", "steps": 2.5}, "steps: expected an integer, got 2.5"),
    ({"name": "x", "amp": "yes"}, "amp: expected true or false, got 'yes'"),
    ({"name": "x", "optim": {"schedule": "linear"}}, "optim.schedule: 'linear' is not one of 'cosine', 'constant'"),
    ({"name": "x", "optim": {"betas": [0.9]}}, "optim.betas: expected 2 items, got 1"),
    ({"name": "x", "scenes": "a"}, "scenes: expected a list, got 'a'"),
    ({"name": "x", "optim": 3}, "optim: expected a mapping of Optim fields, got 3"),
    ({}, "missing required config key name"),
])
def test_errors_name_the_key(data, message):
    with pytest.raises(ConfigError) as e:
        from_dict(Run, data)
    assert message in str(e.value)


def test_overrides_and_yaml(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: base\noptim:\n  lr: 0.01\n")
    r = load_config(Run, str(p), ["steps=7", "optim.lr=3e-4", "scenes=[s1, s2]", "seed=null", "amp=true"])
    assert (r.steps, r.optim.lr, r.scenes, r.seed, r.amp) == (7, 3e-4, ("s1", "s2"), None, True)
    with pytest.raises(ConfigError, match="unknown config key optim.lrate"):
        load_config(Run, str(p), ["optim.lrate=1"])
    with pytest.raises(ConfigError, match="not of the form key=value"):
        apply_overrides({}, ["steps"])
    with pytest.raises(ConfigError, match="name is not a section"):
        apply_overrides({"name": "x"}, ["name.sub=1"])
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Run, str(tmp_path / "missing.yaml"))
    (tmp_path / "bad.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(Run, str(tmp_path / "bad.yaml"))


# --- hostile or careless config files (issue: hostile input) -------------------------------------------
BOMB = "\n".join(["a: &a [x, x, x, x, x, x, x, x, x]"] +
                 [f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")]) + "\n"


def test_yaml_alias_bomb_is_refused_quickly(tmp_path):
    import time

    from hls_translate.core.config import load_yaml

    p = tmp_path / "bomb.yaml"
    p.write_text(BOMB)
    assert len(BOMB) < 420  # a few hundred bytes that expand to 9**9 values
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=r"more than 100,000 values once YAML aliases are expanded"):
        load_yaml(str(p))
    assert time.perf_counter() - t0 < 5  # bounded work, not a hang
    ok = tmp_path / "ok.yaml"
    ok.write_text("base: &b {lr: 0.1}\nrun: *b\n")  # ordinary aliases still read
    assert load_yaml(str(ok)) == {"base": {"lr": 0.1}, "run": {"lr": 0.1}}


def test_unreadable_config_files_are_one_line_errors(tmp_path):
    from hls_translate.core.config import apply_overrides, load_yaml

    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 3000 + "]" * 3000 + "\n")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_yaml(str(deep))
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe run: 1")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_yaml(str(binary))
    with pytest.raises(ConfigError, match="is a folder"):
        load_yaml(str(tmp_path))
    with pytest.raises(ConfigError, match="nested too deeply"):
        apply_overrides({}, ["run.x=" + "[" * 3000 + "]" * 3000])
    with pytest.raises(ConfigError, match="nested more than 64 levels"):
        apply_overrides({}, ["run.x=" + "[" * 70 + "]" * 70])


def test_a_bare_off_or_on_in_yaml_is_the_choice_of_that_word(tmp_path):
    """PyYAML (YAML 1.1) reads ``amp: off`` as False: a choice named ``off`` takes it, in files and overrides."""
    from hls_translate.training.config import RunConfig

    p = tmp_path / "run.yaml"
    p.write_text("out_dir: x\namp: off\n")
    assert load_config(RunConfig, str(p)).amp == "off"
    assert load_config(RunConfig, str(p), ["amp=off"]).amp == "off"
    with pytest.raises(ConfigError, match="amp: True is not one of 'auto', 'off', 'bf16', 'fp16'"):
        load_config(RunConfig, str(p), ["amp=on"])  # no choice is named on: still an error naming the key
    with pytest.raises(ConfigError, match="optim.schedule: False is not one of 'cosine', 'constant'"):
        from_dict(Run, {"name": "x", "optim": {"schedule": False}})
