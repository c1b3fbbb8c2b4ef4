"""Smoke functions (tests/smoke.py) for day 07's presets: the consistency student, the
ControlNet and the camera LoRA, each built as its train_* function builds it."""

import copy
from functools import partial

import torch

from course_lib.diffusion import consistency, ddpm
from course_lib.diffusion.controlnet import ControlDiT
from course_lib.diffusion.controlnet_train import control_loss, controlled
from course_lib.diffusion.distill_train import CLIP, distillation_loss, student_from
from course_lib.diffusion.dit_train import new_dit
from course_lib.diffusion.schedules import make_schedule
from course_lib.diffusion.video_dit import sample_video, video_loss
from course_lib.diffusion.video_dit_train import new_video_dit
from course_lib.nn import lora
from tests.smoke import as_if_trained, smoke, train_one_step

LABELS = torch.tensor([3, 7])


def _digits(config):
    return torch.randn(2, config.in_channels, config.input_size, config.input_size).clamp(-1, 1), LABELS


@smoke("course_lib.diffusion.distill_train.CONSISTENCY_PRESETS")
def consistency_student(recipe):
    teacher = new_dit(recipe.teacher).eval()
    schedule = make_schedule(recipe.teacher.schedule, recipe.teacher.num_steps)
    student = student_from(teacher)
    target = consistency.ema_copy(student)
    batch = _digits(recipe.teacher.model)
    train_one_step(student, partial(distillation_loss, target=target, teacher=teacher, schedule=schedule,
                                    recipe=recipe), batch)
    consistency.ema_update(target, student, recipe.ema_decay)
    out = consistency.sample_consistency(lambda x, t: target(x, t, LABELS), tuple(batch[0].shape), schedule, 2,
                                         clip_x0=CLIP)
    assert out.shape == batch[0].shape and torch.isfinite(out).all()


@smoke("course_lib.diffusion.controlnet_train.CONTROLNET_PRESETS")
def controlnet(recipe):
    control = ControlDiT(as_if_trained(new_dit(recipe.base)), n_blocks=recipe.n_blocks)
    schedule = make_schedule(recipe.base.schedule, recipe.base.num_steps)
    batch = _digits(recipe.base.model)
    train_one_step(control, partial(control_loss, schedule=schedule, threshold=recipe.threshold), batch)
    cond = torch.sign(batch[0])
    model_fn = ddpm.guided(controlled(control.eval(), cond), LABELS, control.base.null_label, 3.0)
    out = ddpm.sample_ddim(model_fn, tuple(batch[0].shape), schedule, steps=1, progress=False)
    assert out.shape == batch[0].shape and torch.isfinite(out).all()


@smoke("course_lib.diffusion.camera_lora_train.CAMERA_LORA_PRESETS")
def camera_lora(recipe):
    model = copy.deepcopy(as_if_trained(new_video_dit(recipe.video)))
    lora.add_lora(model, rank=recipe.rank, alpha=recipe.alpha)
    schedule = make_schedule("cosine", recipe.video.num_steps)
    c = recipe.video.model
    batch = (torch.randn(2, c.in_channels, c.frames, c.height, c.width), LABELS)
    train_one_step(model, partial(video_loss, schedule=schedule, kind=recipe.video.prediction), batch)
    out = sample_video(model.eval(), LABELS, schedule, steps=1, kind=recipe.video.prediction,
                       generator=torch.Generator().manual_seed(0))
    assert out.shape == batch[0].shape and torch.isfinite(out).all()
