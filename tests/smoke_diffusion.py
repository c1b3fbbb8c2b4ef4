"""Smoke functions (tests/smoke.py) for the diffusion presets."""

from functools import partial

import torch

from course_lib.diffusion import ddpm
from course_lib.diffusion.denoisers import MLPDenoiser
from course_lib.diffusion.dit_train import new_dit
from course_lib.diffusion.schedules import make_schedule
from tests.smoke import smoke, train_one_step


def _one_ddim_step(model_fn, shape, recipe):
    schedule = make_schedule(recipe.schedule, recipe.num_steps)
    out = ddpm.sample_ddim(model_fn, shape, schedule, steps=1, progress=False)
    assert out.shape == shape and torch.isfinite(out).all()


@smoke("course_lib.diffusion.dit_train.PRESETS")
def dit(recipe):
    model, c = new_dit(recipe), recipe.model
    schedule = make_schedule(recipe.schedule, recipe.num_steps)
    batch = (torch.randn(2, c.in_channels, c.input_size, c.input_size), torch.tensor([3, 7]))
    train_one_step(model, partial(ddpm.conditional_loss, schedule=schedule, kind=recipe.prediction), batch)
    labels = torch.tensor([1, 2])
    _one_ddim_step(ddpm.guided(model.eval(), labels, model.null_label, 3.0), (2, c.in_channels, c.input_size,
                                                                                c.input_size), recipe)


@smoke("course_lib.diffusion.denoisers_train.PRESETS")
def digit_denoiser(recipe):
    model = MLPDenoiser(recipe.model)
    schedule = make_schedule(recipe.schedule, recipe.num_steps)
    batch = (torch.randn(2, 1, 8, 8), torch.tensor([0, 9]))
    train_one_step(model, partial(ddpm.conditional_loss, schedule=schedule), batch)
    _one_ddim_step(ddpm.guided(model.eval(), torch.tensor([4, 5]), model.null_label, 2.0), (2, 1, 8, 8), recipe)


@smoke("course_lib.diffusion.denoisers_train.RING_PRESETS")
def ring_denoiser(recipe):
    model = MLPDenoiser(recipe.model)
    schedule = make_schedule(recipe.schedule, recipe.num_steps)
    train_one_step(model, partial(ddpm.diffusion_loss, schedule=schedule), torch.randn(4, 2))
    _one_ddim_step(lambda x, t: model.eval()(x, t), (4, 2), recipe)
