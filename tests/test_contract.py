"""The model contract and the two registries, over every registered model and objective: each model
satisfies the contract, runs its own example inputs to the output its tensor specs declare, and trains
one step with every objective that claims its kind; a family registered from outside the library fits."""

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from hls_translate.core.errors import ConfigError, ModelError  # noqa: E402
from hls_translate.core.models import contract_problems, create_model, list_models, model_entry  # noqa: E402
from hls_translate.core.models.contract import MODEL_KINDS, TranslationModel, model_inputs  # noqa: E402
from hls_translate.training.objectives import (TrainContext, create_objective, list_objectives,  # noqa: E402
                                               objective_entry)
from hls_translate.training.config import OptimConfig  # noqa: E402
from hls_translate.training.distributed import Dist  # noqa: E402

from support import toy_family  # noqa: E402
from support.training import SMALL_MODELS  # noqa: E402

MIN_DISCRIMINATOR_INPUT = 24  # pixels: the smallest chip a 3-layer PatchGAN's last norm has 2 x 2 values of


def _small(name):
    """Each registered model at a small size (its config's defaults otherwise)."""
    return create_model(name, **SMALL_MODELS.get(name, {}))


def _stats(model):
    """Plausible statistics for every class the model reads or writes."""
    ids = set(model.accepted_sources()) | set(model.accepted_targets())
    model.set_normalization({i: (0.1 + 0.01 * i, 0.05 + 0.001 * i) for i in ids})


@pytest.fixture(params=["registered", "toy"])
def every_model(request):
    """Every model in the registry, plus the toy family registered from the test suite."""
    if request.param == "toy":
        with toy_family.registered():
            yield [toy_family.TOY_MODEL]
    else:
        yield list_models()


def test_every_registered_model_satisfies_the_contract(every_model):
    for name in every_model:
        model = _small(name)
        assert contract_problems(model) == [], name
        assert isinstance(model, TranslationModel) and model.kind in MODEL_KINDS
        assert model.model_name == name and model.model_family == model_entry(name).family
        _stats(model)
        s = model.stride
        inputs = model.example_inputs(2, 4 * s, 4 * s)
        ins, outs = model.io_specs()
        assert len(inputs) == len(ins)
        for t, spec in zip(inputs, ins):
            assert t.dim() == len(spec.shape), (name, spec.name)
            assert all(d == want for d, want in zip(t.shape, spec.shape) if isinstance(want, int)), (name, spec.name)
        with torch.no_grad():
            y = model(*inputs)
        assert y.shape[0] == 2 and y.shape[2:] == (4 * s, 4 * s) and torch.isfinite(y).all(), name
        assert all(y.shape[i] == want for i, want in enumerate(outs[0].shape) if isinstance(want, int)), name
        ids = model.output_classes(inputs)
        assert ids.shape[-1] == y.shape[1], name  # one band class per output channel
        assert set(ids.reshape(-1).tolist()) <= set(model.usable_targets()), name
        assert model.normalized_sources(inputs).shape[0] == 2, name
        tiling = model.tiling()
        assert tiling["stride"] == s and tiling["tile_size"] % s == 0
        assert model.receptive_field() >= 1
        copy = model.export_copy()
        assert not copy.training and copy is not model


def test_every_objective_trains_every_model_of_its_kinds_one_step(every_model):
    ctx = TrainContext(dist=Dist(0, 1, 0, torch.device("cpu"), ""), optim=OptimConfig(lr=1e-3, warmup_steps=0),
                       steps=10, amp="off")
    pairs = [(m, o) for m in every_model for o in list_objectives() if not objective_entry(o).cannot_train(_small(m))]
    assert pairs, "no objective trains these models"
    for name, obj_name in pairs:
        torch.manual_seed(0)
        model = _small(name)
        _stats(model)
        objective = create_objective(obj_name, model, {}, ctx)
        s = model.stride
        size = s * max(4, -(-MIN_DISCRIMINATOR_INPUT // s))  # 4 strides, and what a 70x70 PatchGAN can judge
        inputs = model.example_inputs(2, size, size)
        with torch.no_grad():
            real = model(*inputs) + 0.01
        batch = {role: t for role, t in zip(model.input_roles, inputs)}
        batch.update({"real": real, "mask": torch.ones_like(real, dtype=torch.bool)})
        if objective.needs_domain_b:  # an unpaired objective: the output bands are domain B's
            batch.update({"bands_b": real, "mask_b": torch.ones_like(real[:, :1], dtype=torch.bool)})
        assert model_inputs(model, batch) == tuple(inputs)
        before = [p.detach().clone() for p in model.parameters()]
        scalars = objective.train_step(batch)
        assert "loss" in scalars and scalars["loss"].dim() == 0 and torch.isfinite(scalars["loss"])
        assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters())), (name, obj_name)
        st = objective.state_dict()
        assert "model" in st["modules"] and set(st["optimizers"]) == set(st["schedulers"])


def test_a_model_breaking_the_contract_is_refused_at_creation():
    from dataclasses import dataclass

    from torch import nn

    from hls_translate.core.models import register_model, unregister_model

    @dataclass(frozen=True)
    class Empty:
        pass

    class NoContract(nn.Module):
        kind = "fixed_bands"

        def __init__(self, cfg):
            super().__init__()

    register_model("no_contract", family="broken", config=Empty)(NoContract)
    try:
        with pytest.raises(ModelError, match=r"'no_contract'.*does not satisfy the model contract.*no attribute "
                                             r"normalization.*no method io_specs\(\)"):
            create_model("no_contract")
    finally:
        unregister_model("no_contract")
    assert "no_contract" not in list_models()


def test_objective_registry_errors_name_the_key():
    assert "translation" in list_objectives()
    with pytest.raises(ConfigError, match=r"objective.name: unknown objective 'nope'.*translation"):
        objective_entry("nope")
    model = _small("adain_unet")
    ctx = TrainContext(dist=Dist(0, 1, 0, torch.device("cpu"), ""), optim=OptimConfig(), steps=1, amp="off")
    with pytest.raises(ConfigError, match=r"objective.params.l2"):
        create_objective("translation", model, {"l2": 1.0}, ctx)
    with pytest.raises(ConfigError, match=r"at least one of l1, mse and adversarial"):
        create_objective("translation", model, {"l1": 0.0}, ctx)
    with toy_family.registered():
        with pytest.raises(ConfigError, match=r"objective 'toy_l1' trains models of kind fixed_bands; model "
                                              r"'adain_unet' is of kind 'conditional'"):
            create_objective("toy_l1", model, {}, ctx)
