"""Day 21's trained models, as the lesson uses them (trained here first in `make test`, so
the lesson and exercises load them): the fields recover the scene's geometry, which no
loss supervised; the splats beat the mean colour on held-out views; the PointNet judge
reads real shapes."""

import pytest
import torch

from course_lib.runtime import get_device
from course_lib.threed.field_train import HASH_PRESETS, NERF_PRESETS, held_out_psnr, psnr, train_field
from course_lib.threed.fields import render_image
from course_lib.threed.pointcloud_model import POINT_CLOUD_PRESETS, load_point_classifier, train_point_diffusion
from course_lib.threed.splat_train import SPLAT_PRESETS, train_splats
from course_lib.threed.splats import render_splats
from course_lib.train import preset

pytestmark = pytest.mark.builds_cache          # day 21's lesson loads these models


@pytest.mark.parametrize("presets", [NERF_PRESETS, HASH_PRESETS], ids=["nerf", "hash"])
def test_a_trained_field_recovers_the_depth_it_was_never_shown(presets):
    recipe = preset(presets, get_device())
    trained = train_field(recipe, progress=False)
    trained.field.to("cpu")
    views = trained.views
    errors = []
    for camera, true_depth, mask in zip(views.test.cameras, views.test.depths, views.test.masks):
        _, depth = render_image(trained.field, camera, views.near, views.far, recipe.samples, recipe.hierarchical)
        errors.append((depth - true_depth)[mask].abs())
    errors = torch.cat(errors)
    # a surface's expected depth within a tenth of the depth range on most object pixels
    assert errors.median() < 0.1 * (views.far - views.near), errors.median()
    steps = [p[0] for p in trained.curve]
    assert steps == list(range(100, recipe.train.steps + 1, 100)), "a held-out PSNR every 100 steps"
    assert abs(trained.curve[-1][1] - held_out_psnr(trained.field, views, recipe)) < 1e-3


def test_the_occupancy_grid_skips_only_empty_space():
    recipe = preset(HASH_PRESETS, get_device())
    trained = train_field(recipe, progress=False)
    trained.field.to("cpu")
    grid = trained.field.occupancy
    assert grid is not None and grid.fraction() < 0.3, grid.fraction()
    with_grid = held_out_psnr(trained.field, trained.views, recipe)
    trained.field.occupancy = None
    try:
        without = held_out_psnr(trained.field, trained.views, recipe)
    finally:
        trained.field.occupancy = grid
    assert abs(with_grid - without) < 0.2, (with_grid, without)          # the skipped samples held almost nothing


def test_trained_splats_beat_the_mean_colour_on_held_out_views():
    trained = train_splats(preset(SPLAT_PRESETS, get_device()), progress=False)
    views = trained.views
    with torch.no_grad():
        images = torch.stack([render_splats(trained.splats.cpu(), c, pairs=True)[0] for c in views.test.cameras])
    mean = views.train.images.reshape(-1, 3).mean(0).expand_as(views.test.images)
    assert psnr(images, views.test.images) > psnr(mean, views.test.images) + 6


def test_the_point_cloud_models_train_and_the_judge_reads_real_shapes():
    train_point_diffusion(preset(POINT_CLOUD_PRESETS, get_device()), progress=False)
    _, accuracy = load_point_classifier()
    assert accuracy >= 0.95
