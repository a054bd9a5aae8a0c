"""Training config: typed, frozen, unknown/mistyped keys fail naming the key, before anything starts."""

import dataclasses
import os

import pytest
import yaml

pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from hls_translate import cli  # noqa: E402
from hls_translate.core.errors import ConfigError  # noqa: E402
from hls_translate.training.config import (TrainConfig, config_from_dict, config_to_yaml,  # noqa: E402
                                           load_train_config)

from support.training import tiny_config, write_config  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _err(tmp_path, cfg, *overrides):
    p = write_config(tmp_path / "c.yaml", cfg)
    with pytest.raises(ConfigError) as ei:
        load_train_config(str(p), list(overrides))
    return str(ei.value)


def test_loads_typed_frozen_and_overrides(tmp_path):
    p = write_config(tmp_path / "c.yaml", tiny_config(tmp_path / "run"))
    cfg = load_train_config(str(p), ["optim.lr=1e-4", "run.steps=9", "data.chip_size=16"])
    assert isinstance(cfg, TrainConfig)
    assert cfg.optim.lr == pytest.approx(1e-4) and cfg.run.steps == 9 and cfg.data.chip_size == 16
    assert isinstance(cfg.data.train, tuple) and cfg.data.train[0].name == "ben_a"
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.run.steps = 3  # type: ignore[misc]
    assert os.path.isabs(cfg.data.root)


def test_unknown_key_is_named(tmp_path):
    cfg = tiny_config(tmp_path / "run")
    cfg["optim"]["learning_rate"] = 0.1
    assert "optim.learning_rate" in _err(tmp_path, cfg)
    cfg = tiny_config(tmp_path / "run")
    cfg["data"]["train"][1]["wieght"] = 2
    assert "data.train[1].wieght" in _err(tmp_path, cfg)
    assert "run.stpes" in _err(tmp_path, tiny_config(tmp_path / "run"), "run.stpes=3")


def test_wrong_type_is_named(tmp_path):
    msg = _err(tmp_path, tiny_config(tmp_path / "run"), "run.steps=many")
    assert "run.steps" in msg and "integer" in msg
    msg = _err(tmp_path, tiny_config(tmp_path / "run"), "run.tensorboard=3")
    assert "run.tensorboard" in msg
    msg = _err(tmp_path, tiny_config(tmp_path / "run"), "run.amp=fp8")
    assert "run.amp" in msg


def test_model_params_checked_against_the_model(tmp_path):
    assert "model.params" in _err(tmp_path, tiny_config(tmp_path / "run"), "model.params.widht=8")
    assert "model.name" in _err(tmp_path, tiny_config(tmp_path / "run"), "model.name=no_such_model")
    # the chip must be a multiple of the model's stride (depth 2: stride 4)
    assert "data.chip_size" in _err(tmp_path, tiny_config(tmp_path / "run"), "data.chip_size=30")


def test_ranges_and_bands(tmp_path):
    assert "data.min_valid_fraction" in _err(tmp_path, tiny_config(tmp_path / "run"), "data.min_valid_fraction=1.5")
    assert "data.targets" in _err(tmp_path, tiny_config(tmp_path / "run"), "data.targets=[B13]")
    assert "data.atmosphere.p" in _err(tmp_path, tiny_config(tmp_path / "run"), "data.atmosphere.p=1.5")
    assert "data.atmosphere.gain" in _err(tmp_path, tiny_config(tmp_path / "run"), "data.atmosphere.gain=[1.1,0.9]")
    assert "data.atmosphere.rayleih" in _err(tmp_path, tiny_config(tmp_path / "run"), "data.atmosphere.rayleih=[0,1]")
    cfg = tiny_config(tmp_path / "run")
    cfg["data"]["pairs"] = [{"sources": ["B8A"], "target": "B8A"}]
    assert "data.pairs[0]" in _err(tmp_path, cfg)
    # bare B05 reads on data.band_naming (Sentinel-2 numbering by default): red edge 1
    cfg = tiny_config(tmp_path / "run", data={"targets": ["B05"]})
    c = load_train_config(str(write_config(tmp_path / "b.yaml", cfg)))
    assert c.data.band_ids(c.data.targets, "x") == (4,)


def test_held_out_scene_cannot_be_trained_on(tmp_path):
    cfg = tiny_config(tmp_path / "run")
    cfg["data"]["validation"] = [dict(cfg["data"]["train"][0])]
    msg = _err(tmp_path, cfg)
    assert "data.validation[0].path" in msg and "never be trained on" in msg


def test_roundtrip_through_yaml_and_checkpoint_dict(tmp_path):
    p = write_config(tmp_path / "c.yaml", tiny_config(tmp_path / "run"))
    cfg = load_train_config(str(p))
    text = config_to_yaml(cfg)
    again = config_from_dict(yaml.safe_load(text))
    assert again == cfg


def test_example_configs_are_valid():
    for name in ("cpu_smoke", "single_gpu", "multi_node", "bundled", "pair_b8a_b05", "pair_b04_b08", "pair_b11_b12"):
        cfg = load_train_config(os.path.join(REPO, "training", "configs", f"{name}.yaml"))
        assert cfg.data.validation and cfg.data.validation[0].name == "Spain", name
        assert all("spain" not in s.path.lower() for s in cfg.data.train), name


def test_cli_reports_config_errors_without_traceback(tmp_path, capsys):
    cfg = tiny_config(tmp_path / "run")
    cfg["objective"] = {"name": "translation", "params": {"l2": 1.0}}
    p = write_config(tmp_path / "c.yaml", cfg)
    assert cli.main(["train", "--config", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "objective.params.l2" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()  # nothing started
    # the section of format 1 is refused with where its keys went
    cfg.pop("objective")
    cfg["loss"] = {"l1": 1.0, "adversarial": 0.0}
    write_config(p, cfg)
    assert cli.main(["train", "--config", str(p)]) == 2
    err = capsys.readouterr().err
    assert "loss: the loss weights moved to the objective section" in err and "Traceback" not in err
    # an unknown objective names the registered ones
    cfg.pop("loss")
    cfg["objective"] = {"name": "pix2pics"}
    write_config(p, cfg)
    assert cli.main(["train", "--config", str(p)]) == 2
    err = capsys.readouterr().err
    assert "objective.name: unknown objective 'pix2pics'" in err and "translation" in err


def test_cli_print_config(tmp_path, capsys):
    p = write_config(tmp_path / "c.yaml", tiny_config(tmp_path / "run"))
    assert cli.main(["train", "--config", str(p), "--print-config", "run.steps=17"]) == 0
    out = yaml.safe_load(capsys.readouterr().out)
    assert out["run"]["steps"] == 17 and out["model"]["params"]["width"] == 4


def test_run_folder_is_created_with_its_parents_unless_impossible(tmp_path):
    from hls_translate.training.trainer import check_run_dir

    def check(out_dir, resume=None):
        return check_run_dir(config_from_dict(tiny_config(out_dir)), resume)

    nested = tmp_path / "runs" / "smoke"  # neither folder exists yet (a fresh clone has no runs/)
    assert check(nested) == str(nested)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConfigError, match="afile is a file, so .* cannot be created"):
        check(tmp_path / "afile" / "run")
    nested.mkdir(parents=True)
    (nested / "last.pt").write_bytes(b"")
    with pytest.raises(ConfigError, match="already holds a run"):
        check(nested)
    assert check(nested, resume=str(nested / "last.pt")) == str(nested)
