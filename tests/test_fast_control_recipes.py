"""Day 07's recipes end to end on tiny models: train, cache, reload — the EMA target of
consistency distillation comes back from the checkpoint, the frozen models stay frozen."""

from dataclasses import replace

import pytest
import torch

from course_lib.data.digits import MovingDigitsSpec
from course_lib.diffusion.camera_lora_train import CameraLoRARecipe, train_camera_lora
from course_lib.diffusion.controlnet import ControlDiT, edge_map
from course_lib.diffusion.controlnet_train import ControlNetRecipe, edge_iou, train_controlnet
from course_lib.diffusion.distill_train import ConsistencyRecipe, student_from, train_consistency
from course_lib.diffusion.dit import DiT, DiTConfig
from course_lib.diffusion.dit_train import DiTRecipe, train_dit
from course_lib.diffusion.video_dit_train import ImageDiTRecipe, VideoRecipe, train_video_dit
from course_lib.nn import lora
from course_lib.train import TrainSettings

TINY = TrainSettings(steps=3, batch_size=4, lr=1e-3)
TINY_DIT = DiTRecipe(model=DiTConfig(input_size=16, patch=4, in_channels=1, dim=32, depth=2, heads=2), train=TINY)
TINY_VIDEO = VideoRecipe(image=ImageDiTRecipe(data=MovingDigitsSpec(clips=8),
                                              model=DiTConfig(input_size=12, patch=4, in_channels=1, dim=32,
                                                              depth=1, heads=2), train=TINY),
                         train=replace(TINY, batch_size=2))


@pytest.fixture
def artifacts(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path))
    return tmp_path


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_consistency_student_reloads_its_ema_target(artifacts):
    recipe = ConsistencyRecipe(teacher=TINY_DIT, train=TINY, ema_decay=0.5)
    first = train_consistency(recipe, progress=False)
    assert not first.run.cached and len(first.run.history) == 3
    teacher = train_dit(TINY_DIT, progress=False).model
    # the EMA target moved from the teacher's weights, but not all the way to the student's
    assert any(not torch.equal(a, b) for a, b in zip(first.model.parameters(), teacher.parameters()))
    again = train_consistency(recipe, progress=False)
    assert again.run.cached
    for (name, a), b in zip(first.model.state_dict().items(), again.model.state_dict().values()):
        assert torch.equal(a, b), f"the reloaded EMA target differs in {name}"
    assert student_from(teacher).y_embedder.dropout == 0.0 and teacher.y_embedder.dropout > 0


def test_controlnet_trains_only_its_branch_and_scale_zero_is_the_base(artifacts):
    recipe = ControlNetRecipe(base=TINY_DIT, train=TINY)
    base_before = _state(train_dit(TINY_DIT, progress=False).model)
    trained = train_controlnet(recipe, progress=False)
    for name, value in trained.model.base.state_dict().items():
        assert torch.equal(value, base_before[name]), f"the frozen base changed: {name}"
    assert any(layer.weight.abs().sum() > 0 for layer in trained.model.zero_out)
    x, t, y = torch.randn(3, 1, 16, 16), torch.tensor([10, 500, 900]), torch.tensor([1, 2, 3])
    cond = edge_map(torch.rand(3, 1, 16, 16) * 2 - 1)
    with torch.no_grad():
        assert torch.equal(trained.model(x, t, y, cond, scale=0.0), trained.model.base(x, t, y))
        assert not torch.equal(trained.model(x, t, y, cond), trained.model.base(x, t, y))
    assert train_controlnet(recipe, progress=False).run.cached


def test_edge_iou_on_known_maps():
    a = -torch.ones(3, 1, 4, 4)
    a[0, 0, 0, :2] = 1                                   # 2 edge pixels
    a[1, 0, 1, :] = 1                                    # 4 edge pixels
    b = a.clone()
    b[1, 0, 1, :2] = -1                                  # half of the second map's edges
    b[2, 0, 3, 3] = 1                                    # the third: one edge against none
    assert edge_iou(a, b).tolist() == [1.0, 0.5, 0.0]
    assert edge_iou(-torch.ones(1, 1, 4, 4), -torch.ones(1, 1, 4, 4)).tolist() == [1.0]
    with pytest.raises(ValueError, match="edges and cond must be"):
        edge_iou(a, b[:2])


def test_camera_lora_trains_only_the_adapters_and_leaves_the_base_alone(artifacts):
    recipe = CameraLoRARecipe(video=TINY_VIDEO, move="pan_right", clips=8, train=replace(TINY, batch_size=2))
    base = train_video_dit(TINY_VIDEO, progress=False)
    before = _state(base.model)
    trained = train_camera_lora(recipe, progress=False)
    assert trained.base.model is not trained.model
    for name, value in trained.base.model.state_dict().items():
        assert torch.equal(value, before[name]), f"the base video DiT changed: {name}"
    adapters = [m for m in trained.model.modules() if isinstance(m, lora.LoRALinear)]
    assert adapters and all(m.lora_B.abs().sum() > 0 for m in adapters)
    n_lora = sum(p.numel() for p in lora.lora_parameters(trained.model))
    assert trained.lora_share() == pytest.approx(n_lora / sum(p.numel() for p in base.model.parameters()))
    again = train_camera_lora(recipe, progress=False)
    assert again.run.cached
    for a, b in zip(lora.lora_parameters(trained.model), lora.lora_parameters(again.model)):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="move must be one of"):
        CameraLoRARecipe(move="dolly_zoom")


def test_recipe_bad_inputs_are_named():
    with pytest.raises(ValueError, match="skip must be an int"):
        ConsistencyRecipe(skip=0)
    with pytest.raises(ValueError, match="ema_decay"):
        ConsistencyRecipe(ema_decay=1.5)
    with pytest.raises(ValueError, match="guidance must be"):
        ConsistencyRecipe(guidance=-1.0)
    with pytest.raises(ValueError, match="n_blocks must be"):
        ControlDiT(DiT(TINY_DIT.model), n_blocks=5)
