"""Smoke functions (tests/smoke.py) for day 21's 3D presets: the point-cloud diffusion model."""

from functools import partial

import torch

from course_lib.diffusion.schedules import make_schedule
from course_lib.threed.pointcloud_model import new_point_denoiser, point_loss, sample_points
from course_lib.threed.shapes import shape_dataset
from tests.smoke import smoke, train_one_step


@smoke("course_lib.threed.pointcloud_model.POINT_CLOUD_PRESETS")
def point_diffusion(recipe):
    model = new_point_denoiser(recipe)
    assert model.config == recipe.model
    schedule = make_schedule(recipe.schedule, recipe.num_steps)
    points, labels = shape_dataset(1, recipe.n_points, recipe.data_seed)            # one cloud per word
    train_one_step(model, partial(point_loss, schedule=schedule, kind=recipe.prediction), (points[:2], labels[:2]))
    clouds = sample_points(model.eval(), labels[:2], schedule, recipe.n_points, steps=1, guidance=2.0,
                           generator=torch.Generator().manual_seed(0), kind=recipe.prediction)
    assert clouds.shape == (2, recipe.n_points, 3) and torch.isfinite(clouds).all()


@smoke("course_lib.threed.field_train.NERF_PRESETS")
@smoke("course_lib.threed.field_train.HASH_PRESETS")
def radiance_field(recipe):
    from course_lib.threed.field_train import field_loss, new_field
    from course_lib.threed.fields import render_rays

    model = new_field(recipe)
    origins = torch.tensor([[0.0, 0.0, 4.0], [0.3, 0.2, 4.0]])
    directions = torch.nn.functional.normalize(-origins, dim=-1)
    train_one_step(model, partial(field_loss, recipe=recipe, near=3.0, far=5.0), (origins, directions, torch.rand(2, 3)))
    if recipe.occupancy:
        model.occupancy.update(model)
        assert model.occupancy.density.shape == (recipe.occupancy,) * 3
    out = render_rays(model.eval(), origins, directions, 3.0, 5.0, recipe.samples, recipe.hierarchical)
    assert out.rgb.shape == (2, 3) and torch.isfinite(out.rgb).all()


@smoke("course_lib.threed.splat_train.SPLAT_PRESETS")
def gaussian_splats(recipe):
    from dataclasses import replace

    from course_lib.threed.splat_train import new_splats, splat_loss
    from course_lib.threed.splats import render_splats

    views = replace(recipe.views, n_train=2, n_test=0, size=8).load()
    splats = new_splats(replace(recipe, n_gaussians=50), views.scene.radius)
    train_one_step(splats, partial(splat_loss, data=views), torch.tensor([0, 1]))
    image, _ = render_splats(splats, views.train.cameras[0], tile=4)
    assert image.shape == (8, 8, 3) and torch.isfinite(image).all()
