"""Day 21's text-to-3D parts: shape surfaces against their implicit equations and closed-form
area fractions (Archimedes' hat-box theorem, the torus's area element, the cone's lateral
area); Chamfer distance against a brute-force loop and scipy's k-d tree; PointNet's
permutation invariance and the point denoiser's permutation equivariance; one training
step of each model; train-then-load of both recipes."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from course_lib.diffusion.schedules import make_schedule
from course_lib.threed import shapes
from course_lib.threed.pointcloud_model import (POINT_CLASSIFIER_RECIPE, POINT_CLOUD_PRESETS, PointClassifierRecipe,
                                                PointCloudClassifier, PointCloudRecipe, PointDenoiser,
                                                PointDenoiserConfig, classifier_loss, point_loss, sample_points,
                                                train_point_classifier, train_point_diffusion)
from course_lib.threed.shapes import (SHAPES, apply_pose, chamfer_distance, family_distance, random_pose,
                                      sample_shape, shape_dataset, word_labels)
from course_lib.train import TrainSettings
from tests.smoke import as_if_trained, train_one_step

pytestmark = pytest.mark.usefixtures("one_thread")


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def _radius_xz(p):
    return p[:, [0, 2]].norm(dim=-1)


# ----------------------------------------------------------------------------- surfaces

def test_sphere_points_lie_on_the_sphere_and_its_height_is_uniform():
    p = sample_shape("sphere", 20000, _g(), transform=False)
    torch.testing.assert_close(p.norm(dim=-1), torch.full((20000,), shapes.SPHERE_RADIUS))
    # Archimedes: uniform on a sphere <=> the height is uniform on [-R, R]; 10 equal bands get 2000 ± 40 each
    counts = torch.histc(p[:, 1], bins=10, min=-shapes.SPHERE_RADIUS, max=shapes.SPHERE_RADIUS)
    assert (counts - 2000).abs().max() < 5 * math.sqrt(2000 * 0.9), counts
    posed = sample_shape("sphere", 500, _g(1))
    norms = posed.norm(dim=-1)
    assert norms.std() < 1e-5 and 0.9 * 0.8 - 1e-5 <= norms.mean() <= 1.1 * 0.8 + 1e-5


def test_torus_points_satisfy_its_equation_and_the_area_element():
    R, r = shapes.TORUS_RING, shapes.TORUS_TUBE
    p = sample_shape("torus", 20000, _g(), transform=False)
    torch.testing.assert_close((_radius_xz(p) - R) ** 2 + p[:, 1] ** 2, torch.full((20000,), r * r),
                               atol=1e-6, rtol=0)
    # area-uniform: the outer half (cos θ > 0) holds ∫(R + r cos θ) / (2πR) = 1/2 + r / (πR) of the area
    outer = (_radius_xz(p) > R).float().mean().item()
    expected = 0.5 + r / (math.pi * R)
    assert outer == pytest.approx(expected, abs=5 * math.sqrt(expected * (1 - expected) / 20000))
    assert abs(0.5 - expected) > 0.1            # ... which sampling θ uniformly (0.5) would miss


def test_posed_torus_is_the_scaled_torus():
    """The pose is drawn after the surface points: the posed cloud is `apply_pose` of the
    unposed one, and satisfies the torus equation with R and r scaled."""
    p = sample_shape("torus", 2000, _g(3))
    base_g = _g(3)
    base = sample_shape("torus", 2000, base_g, transform=False)
    angle, s = random_pose(base_g)
    torch.testing.assert_close(p, apply_pose(base, angle, s))
    R, r = s * shapes.TORUS_RING, s * shapes.TORUS_TUBE
    torch.testing.assert_close((_radius_xz(p) - R) ** 2 + p[:, 1] ** 2, torch.full((2000,), r * r),
                               atol=1e-6, rtol=0)


def test_cube_points_lie_on_faces_uniformly_and_faces_get_equal_counts():
    a, n = shapes.CUBE_HALF, 12000
    p = sample_shape("cube", n, _g(), transform=False)
    top = p.abs().amax(dim=-1)
    torch.testing.assert_close(top, torch.full((n,), a))
    face = p.abs().argmax(dim=-1) * 2 + (p.gather(1, p.abs().argmax(dim=-1, keepdim=True))[:, 0] > 0).long()
    counts = torch.bincount(face, minlength=6).float()
    assert (counts - n / 6).abs().max() < 5 * math.sqrt(n / 6 * 5 / 6), counts
    on_top = p[p[:, 1] > a - 1e-6][:, [0, 2]]                  # uniform on the face: mean 0, variance a²/3
    assert on_top.mean(0).abs().max() < 0.03 and on_top.var(0).sub(a * a / 3).abs().max() < 0.01


def test_cone_points_lie_on_its_side_or_base_in_proportion_to_area():
    h, R, n = shapes.CONE_HEIGHT, shapes.CONE_RADIUS, 20000
    p = sample_shape("cone", n, _g(), transform=False)
    base = (p[:, 1] + h / 2).abs() < 1e-6
    side = ~base
    assert (_radius_xz(p[base]) <= R + 1e-6).all()
    torch.testing.assert_close(_radius_xz(p[side]), R * (h / 2 - p[side, 1]) / h, atol=1e-5, rtol=0)
    lateral, disc = math.pi * R * math.hypot(h, R), math.pi * R * R
    assert shapes.cone_areas() == pytest.approx((lateral, disc))
    f = disc / (lateral + disc)
    assert base.float().mean().item() == pytest.approx(f, abs=5 * math.sqrt(f * (1 - f) / n))
    # by area, the top half of the slant (s < 1/2 from the apex) holds 1/4 of the lateral surface
    top = ((h / 2 - p[side, 1]) / h < 0.5).float().mean().item()
    assert top == pytest.approx(0.25, abs=0.02)
    # centred: the base at y = -h/2, the apex (a point, rarely sampled near) at +h/2
    assert h / 2 - 0.05 < p[:, 1].max().item() <= h / 2 and p[:, 1].min().item() == pytest.approx(-h / 2)


def test_pose_rotates_about_y_and_every_posed_shape_fits_the_unit_ball():
    p = torch.randn(50, 3)
    q = apply_pose(p, 0.7, 1.05)
    torch.testing.assert_close(q[:, 1], 1.05 * p[:, 1])
    torch.testing.assert_close(q.norm(dim=-1), 1.05 * p.norm(dim=-1))
    torch.testing.assert_close(apply_pose(p, math.pi / 2, 1.0)[0], torch.stack([p[0, 2], p[0, 1], -p[0, 0]]),
                               atol=1e-6, rtol=0)
    angles, scales = zip(*(random_pose(_g(i)) for i in range(200)))
    assert 0 <= min(angles) and max(angles) < 2 * math.pi and min(scales) >= 0.9 and max(scales) <= 1.1
    corner = torch.tensor([[shapes.CUBE_HALF] * 3])
    assert apply_pose(corner, 1.0, shapes.SCALE_RANGE[1]).norm() < 1.0      # the farthest point of any shape
    points, _ = shape_dataset(16, 64, seed=0)
    assert points.norm(dim=-1).max() < 1.0


def test_sampling_is_deterministic_and_the_dataset_is_label_major():
    for word in SHAPES:
        torch.testing.assert_close(sample_shape(word, 100, _g(5)), sample_shape(word, 100, _g(5)), rtol=0, atol=0)
        assert not torch.equal(sample_shape(word, 100, _g(5)), sample_shape(word, 100, _g(6)))
    a, la = shape_dataset(3, 32, seed=4)
    b, lb = shape_dataset(3, 32, seed=4)
    assert a.shape == (12, 32, 3) and a.dtype == torch.float32 and torch.equal(a, b) and torch.equal(la, lb)
    assert la.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert not torch.equal(a, shape_dataset(3, 32, seed=5)[0])
    assert word_labels(["cone", "sphere"]).tolist() == [3, 0] and word_labels("torus").tolist() == [2]
    jittered = sample_shape("sphere", 4000, _g(), jitter=0.01, transform=False)
    assert (jittered.norm(dim=-1) - 0.8).std().item() == pytest.approx(0.01, rel=0.1)


# ----------------------------------------------------------------------------- Chamfer

def _chamfer_loop(a: np.ndarray, b: np.ndarray) -> float:
    ab = np.mean([min(((x - y) ** 2).sum() for y in b) for x in a])
    ba = np.mean([min(((x - y) ** 2).sum() for x in a) for y in b])
    return float(ab + ba)


def test_chamfer_matches_a_brute_force_loop_and_scipy():
    g = _g()
    a, b = torch.randn(3, 17, 3, generator=g, dtype=torch.float64), torch.randn(3, 23, 3, generator=g,
                                                                                dtype=torch.float64)
    d = chamfer_distance(a, b, chunk=2)
    assert d.shape == (3,)
    for i in range(3):
        assert d[i].item() == pytest.approx(_chamfer_loop(a[i].numpy(), b[i].numpy()), rel=1e-10)
    spatial = pytest.importorskip("scipy.spatial")
    for i in range(3):
        ab = spatial.cKDTree(b[i].numpy()).query(a[i].numpy())[0]
        ba = spatial.cKDTree(a[i].numpy()).query(b[i].numpy())[0]
        assert d[i].item() == pytest.approx((ab ** 2).mean() + (ba ** 2).mean(), rel=1e-10)


def test_chamfer_is_zero_on_identical_sets_symmetric_and_order_free():
    a, b = torch.randn(4, 30, 3), torch.randn(4, 20, 3)
    torch.testing.assert_close(chamfer_distance(a, a), torch.zeros(4))
    torch.testing.assert_close(chamfer_distance(a, a[:, torch.randperm(30)]), torch.zeros(4))
    torch.testing.assert_close(chamfer_distance(a, b), chamfer_distance(b, a))
    assert (chamfer_distance(a, b) > 0).all()
    one, other = torch.zeros(1, 1, 3), torch.tensor([[[0.0, 3.0, 4.0]]])
    assert chamfer_distance(one, other).item() == pytest.approx(2 * 25.0)       # both directions counted


def test_family_distance_is_the_nearest_reference():
    points, references = torch.randn(3, 10, 3), torch.randn(5, 12, 3)
    expected = torch.stack([min(chamfer_distance(p[None], r[None])[0] for r in references) for p in points])
    torch.testing.assert_close(family_distance(points, references), expected)
    torch.testing.assert_close(family_distance(references[1:3], references), torch.zeros(2))


@pytest.mark.parametrize("call,name", [
    (lambda: sample_shape("pyramid", 10), "word"),
    (lambda: sample_shape("cube", 0), "n_points"),
    (lambda: sample_shape("cube", 10, jitter=-0.1), "jitter"),
    (lambda: shape_dataset(0, 10, 0), "n_per_shape"),
    (lambda: word_labels(["sphere", "blob"]), "words"),
    (lambda: chamfer_distance(torch.zeros(2, 5, 3), torch.zeros(3, 5, 3)), "b"),
    (lambda: chamfer_distance(torch.zeros(2, 5, 2), torch.zeros(2, 5, 2)), "a"),
    (lambda: family_distance(torch.zeros(5, 3), torch.zeros(2, 5, 3)), "points"),
    (lambda: apply_pose(torch.zeros(5, 2), 0.0, 1.0), "points"),
])
def test_bad_inputs_name_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# ----------------------------------------------------------------------------- models

TINY = PointDenoiserConfig(dim=16, depth=2, heads=2, mlp_ratio=2.0)


def test_classifier_is_permutation_invariant_for_any_number_of_points():
    torch.manual_seed(0)
    model = PointCloudClassifier().eval()
    x = torch.randn(3, 40, 3)
    torch.testing.assert_close(model(x[:, torch.randperm(40)]), model(x))
    assert model(x).shape == (3, 4) and model(x[:, :1]).shape == (3, 4) and model.features(x).shape == (3, 128)
    assert model.predict(x).shape == (3,)
    with pytest.raises(ValueError, match="points"):
        model(torch.randn(3, 40, 2))


def test_denoiser_is_permutation_equivariant_and_starts_at_zero():
    torch.manual_seed(0)
    model = PointDenoiser(TINY).eval()
    x, t, labels = torch.randn(2, 24, 3), torch.tensor([5, 700]), torch.tensor([1, 4])   # 4 = the null word
    assert model.null_label == 4 and torch.equal(model(x, t, labels), torch.zeros(2, 24, 3))
    as_if_trained(model)
    perm = torch.randperm(24)
    out = model(x, t, labels)
    torch.testing.assert_close(model(x[:, perm], t, labels), out[:, perm], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(model(x, t, torch.tensor([2, 4])), out)               # the word matters
    with pytest.raises(ValueError, match="labels"):
        model(x, t, torch.tensor([1]))
    with pytest.raises(ValueError, match="x"):
        model(torch.randn(2, 24), t, labels)


def test_one_training_step_of_each_model_changes_weights():
    points, labels = shape_dataset(2, 32, seed=0)
    train_one_step(PointCloudClassifier(), classifier_loss, (points, labels), lr=1e-3)
    schedule = make_schedule("cosine", 1000)
    loss = train_one_step(PointDenoiser(TINY), lambda m, b: point_loss(m, b, schedule), (points, labels))
    assert loss == pytest.approx(1.0, abs=0.5)       # eps target, zero prediction at the start: MSE ≈ 1
    with pytest.raises(ValueError, match="labels"):
        point_loss(PointDenoiser(TINY), (points, labels[:3]), schedule)


def test_sample_points_is_seeded_clipped_and_guidance_zero_ignores_the_word():
    torch.manual_seed(0)
    model = as_if_trained(PointDenoiser(TINY))
    schedule = make_schedule("cosine", 100)
    labels = torch.tensor([0, 2])
    x = sample_points(model, labels, schedule, 20, steps=4, guidance=3.0, generator=_g(1))
    assert x.shape == (2, 20, 3) and x.abs().max() <= 1.0                     # the last step returns clipped x0
    torch.testing.assert_close(x, sample_points(model, labels, schedule, 20, steps=4, guidance=3.0,
                                                generator=_g(1)), rtol=0, atol=0)
    u0 = sample_points(model, torch.tensor([0, 0]), schedule, 20, steps=4, guidance=0.0, generator=_g(1))
    u1 = sample_points(model, torch.tensor([3, 1]), schedule, 20, steps=4, guidance=0.0, generator=_g(1))
    torch.testing.assert_close(u0, u1)
    with pytest.raises(ValueError, match="n_points"):
        sample_points(model, labels, schedule, 0)
    with pytest.raises(ValueError, match="guidance"):
        sample_points(model, labels, schedule, 8, guidance=-1.0)


# ----------------------------------------------------------------------------- recipes

def test_recipes_key_every_field_and_check_their_choices():
    cpu = POINT_CLOUD_PRESETS["cpu"]
    assert cpu.key() != replace(cpu, n_points=64).key() != replace(cpu, model=TINY).key()
    assert POINT_CLASSIFIER_RECIPE.key() != replace(POINT_CLASSIFIER_RECIPE, data_seed=9).key()
    assert POINT_CLASSIFIER_RECIPE.data_seed not in (cpu.data_seed, POINT_CLASSIFIER_RECIPE.test_seed)
    with pytest.raises(ValueError, match="prediction"):
        PointCloudRecipe(prediction="score")
    with pytest.raises(ValueError, match="schedule"):
        PointCloudRecipe(schedule="sigmoid")


def test_both_recipes_train_once_then_load(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path))
    tiny = PointCloudRecipe(model=TINY, n_per_shape=2, n_points=16, num_steps=50,
                            train=TrainSettings(steps=2, batch_size=4, lr=1e-3))
    first = train_point_diffusion(tiny, device=torch.device("cpu"), progress=False)
    again = train_point_diffusion(tiny, device=torch.device("cpu"), progress=False)
    assert not first.run.cached and again.run.cached and not again.model.training
    assert list(tmp_path.glob(f"checkpoints/point_diffusion_{tiny.key()}.pt"))
    for a, b in zip(first.model.parameters(), again.model.parameters()):
        torch.testing.assert_close(a, b)
    judge = PointClassifierRecipe(n_per_shape=2, n_points=16, test_per_shape=3,
                                  train=TrainSettings(steps=2, batch_size=4, lr=1e-3))
    trained = train_point_classifier(judge, progress=False)
    assert 0.0 <= trained.accuracy <= 1.0 and train_point_classifier(judge, progress=False).run.cached
    assert list(tmp_path.glob(f"checkpoints/point_classifier_{judge.key()}.pt"))
