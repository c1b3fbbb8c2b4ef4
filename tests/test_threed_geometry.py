"""Day 21's geometry: cameras against closed forms, NeRF's reference get_rays and OpenCV's
intrinsic matrix; exact ray tracing against pinhole projection areas; volume rendering
against the closed forms of a homogeneous medium; inverse-transform sampling against
numpy's interpolation of the inverse CDF."""

import math

import numpy as np
import pytest
import torch

from course_lib.threed import cameras as cam
from course_lib.threed import scenes, volume
from course_lib.threed.cameras import Camera, camera_rays, look_at, project


def _camera(eye=(0.0, 0.0, 4.0), target=(0.0, 0.0, 0.0), size=33, focal=40.0, height=None):
    return Camera(size, height or size, focal, look_at(eye, target))


# ----------------------------------------------------------------------------- cameras

def test_look_at_is_orthonormal_and_maps_the_eye_to_the_origin():
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        eye, target = torch.randn(3, generator=g) * 3, torch.randn(3, generator=g)
        c2w = look_at(eye, target)
        R = c2w[:3, :3]
        torch.testing.assert_close(R.T @ R, torch.eye(3), atol=1e-5, rtol=0)
        assert torch.det(R).item() == pytest.approx(1.0, abs=1e-5)          # right-handed
        assert c2w[3].tolist() == [0, 0, 0, 1]
        w2c = torch.linalg.inv(c2w)
        torch.testing.assert_close(w2c @ torch.cat([eye, torch.ones(1)]), torch.tensor([0., 0, 0, 1]),
                                   atol=1e-5, rtol=0)
        # the target lies straight ahead, on the camera's -z axis
        distance = (target - eye).norm().item()
        torch.testing.assert_close(w2c @ torch.cat([target, torch.ones(1)]),
                                   torch.tensor([0.0, 0.0, -distance, 1.0]), atol=1e-4, rtol=0)
        assert R[:, 1] @ torch.tensor([0.0, 1.0, 0.0]) >= 0                   # camera up is world up-ish


def test_look_at_from_plus_z_is_the_identity_rotation():
    """A camera on +z looking at the origin with y up is the OpenGL default pose."""
    torch.testing.assert_close(look_at((0, 0, 5.0)), torch.tensor(
        [[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 5], [0, 0, 0, 1]]))
    # from +x, the camera's right is world -z and its back axis world +x
    torch.testing.assert_close(look_at((3.0, 0, 0))[:3, :3], torch.tensor(
        [[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]]), atol=1e-6, rtol=0)


def test_the_centre_ray_points_at_the_target():
    eye, target = torch.tensor([1.0, 2.0, 3.5]), torch.tensor([0.2, -0.1, 0.3])
    camera = _camera(eye, target, size=31)                                   # odd: a pixel on the axis
    origins, directions = camera_rays(camera)
    assert origins.shape == directions.shape == (31, 31, 3)
    torch.testing.assert_close(directions.norm(dim=-1), torch.ones(31, 31))
    torch.testing.assert_close(origins, eye.expand(31, 31, 3))
    torch.testing.assert_close(directions[15, 15], (target - eye) / (target - eye).norm())


def test_camera_rays_equal_nerfs_get_rays():
    """The reference implementation's formula (NeRF's run_nerf_helpers.get_rays_np), moved
    to pixel centres, in numpy."""
    camera = Camera(24, 18, 21.5, look_at((2.0, 1.0, 3.0), (0.1, 0.2, -0.3)))
    H, W, focal, c2w = 18, 24, 21.5, camera.c2w.numpy()
    i, j = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5, indexing="xy")
    dirs = np.stack([(i - W * .5) / focal, -(j - H * .5) / focal, -np.ones_like(i)], -1)
    rays_d = np.sum(dirs[..., np.newaxis, :] * c2w[:3, :3], -1)
    rays_d /= np.linalg.norm(rays_d, axis=-1, keepdims=True)
    origins, directions = camera_rays(camera)
    np.testing.assert_allclose(directions.numpy(), rays_d, atol=1e-6)
    np.testing.assert_allclose(origins.numpy(), np.broadcast_to(c2w[:3, -1], rays_d.shape))


def test_project_inverts_camera_rays():
    camera = Camera(20, 14, 17.0, look_at((-1.5, 2.0, 3.0), (0.3, 0.0, -0.2)))
    origins, directions = camera_rays(camera)
    g = torch.Generator().manual_seed(1)
    depth = 0.5 + 6 * torch.rand(14, 20, generator=g)
    points = (origins + depth[..., None] * directions).reshape(-1, 3)
    pixels, got_depth = project(points, camera)
    rows, cols = torch.meshgrid(torch.arange(14.0), torch.arange(20.0), indexing="ij")
    centres = torch.stack([cols + 0.5, rows + 0.5], dim=-1).reshape(-1, 2)
    torch.testing.assert_close(pixels, centres, atol=2e-4, rtol=0)
    torch.testing.assert_close(got_depth, depth.reshape(-1), atol=1e-5, rtol=1e-5)


def test_project_equals_opencv_intrinsics_with_the_axis_flip():
    """OpenCV looks down +z with y down: p_cv = diag(1, -1, -1) p_gl, (u, v, 1) ∝ K p_cv."""
    camera = Camera(40, 30, 35.0, look_at((0.5, 1.0, 4.0), (0.0, 0.2, 0.0)))
    points = torch.randn(50, 3, generator=torch.Generator().manual_seed(2)) * 0.7
    w2c = np.linalg.inv(camera.c2w.double().numpy())
    p_gl = points.double().numpy() @ w2c[:3, :3].T + w2c[:3, 3]
    p_cv = p_gl * np.array([1.0, -1.0, -1.0])
    K = np.array([[35.0, 0, 20.0], [0, 35.0, 15.0], [0, 0, 1]])
    uvw = p_cv @ K.T
    pixels, depth = project(points, camera)
    np.testing.assert_allclose(pixels.numpy(), uvw[:, :2] / uvw[:, 2:], atol=1e-4)
    np.testing.assert_allclose(depth.numpy(), np.linalg.norm(p_gl, axis=1), atol=1e-5)
    # a point behind the camera has no pixel and a negative depth
    pixels, depth = project(torch.tensor([[0.0, 0.0, 9.0]]), _camera())
    assert torch.isnan(pixels).all() and depth.item() == pytest.approx(-5.0)


def test_up_is_a_smaller_row_and_right_a_larger_column():
    camera = _camera(size=33)
    pixels, _ = project(torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.5, 0.0], [0.5, 0.0, 0.0]]), camera)
    assert pixels[0].tolist() == pytest.approx([16.5, 16.5])
    assert pixels[1, 1] < pixels[0, 1] and pixels[1, 0] == pytest.approx(16.5)   # above: higher up
    assert pixels[2, 0] > pixels[0, 0] and pixels[2, 1] == pytest.approx(16.5)   # right: to the right
    # and the ray of a top-row pixel points up
    _, directions = camera_rays(camera)
    assert directions[0, 16, 1] > 0 > directions[-1, 16, 1]


def test_orbit_cameras_sit_on_the_sphere_and_look_at_the_origin():
    cams = cam.orbit_cameras(6, 3.0, 30.0, 17, 17, 50.0)
    assert len(cams) == 6
    assert cams[0].focal == pytest.approx(8.5 / math.tan(math.radians(25)))
    for k, c in enumerate(cams):
        e = c.position
        assert e.norm().item() == pytest.approx(3.0, rel=1e-6)
        assert math.degrees(math.asin(e[1].item() / 3.0)) == pytest.approx(30.0, abs=1e-4)
        assert math.degrees(math.atan2(e[0].item(), e[2].item())) % 360 == pytest.approx(60.0 * k, abs=1e-3)
        _, directions = camera_rays(c)
        torch.testing.assert_close(directions[8, 8], -e / e.norm())
    per_camera = cam.orbit_cameras(3, 2.0, [-10.0, 0.0, 45.0], 8, 8, 40.0)
    assert [round(math.degrees(math.asin(c.position[1].item() / 2.0)), 4) for c in per_camera] == [-10, 0, 45]


@pytest.mark.parametrize("call, name", [
    (lambda: look_at((0, 0, 1.0), (0, 0, 1.0)), "target"),
    (lambda: look_at((0, 3.0, 0), (0, 0, 0), up=(0, 1, 0)), "up"),
    (lambda: look_at((0, 0), (0, 0, 0)), "eye"),
    (lambda: Camera(0, 8, 10.0, torch.eye(4)), "width"),
    (lambda: Camera(8, 8, -1.0, torch.eye(4)), "focal"),
    (lambda: Camera(8, 8, 10.0, torch.eye(3)), "c2w"),
    (lambda: project(torch.zeros(5, 2), _camera()), "points"),
    (lambda: cam.orbit_cameras(0, 3.0, 0.0, 8, 8, 40.0), "n"),
    (lambda: cam.orbit_cameras(2, 3.0, [0.0], 8, 8, 40.0), "elevation_deg"),
    (lambda: cam.orbit_camera(0.0, 90.0, 3.0, 8, 8, 40.0), "elevation_deg"),
    (lambda: cam.orbit_camera(0.0, 0.0, 0.0, 8, 8, 40.0), "radius"),
    (lambda: cam.focal_from_fov(8, 180.0), "fov_deg"),
])
def test_bad_camera_inputs_name_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# ----------------------------------------------------------------------------- scenes

def test_sphere_depth_at_the_centre_pixel_is_the_distance_minus_the_radius():
    centre, radius = torch.tensor([0.3, -0.2, 0.1]), 0.6
    eye = torch.tensor([1.0, 1.5, 3.0])
    scene = scenes.Scene([scenes.Sphere(tuple(centre.tolist()), radius, (0.2, 0.4, 0.6))])
    rgb, depth, mask = scenes.render_scene(scene, _camera(eye, centre, size=33))
    assert rgb.shape == (33, 33, 3) and depth.shape == mask.shape == (33, 33)
    assert depth[16, 16].item() == pytest.approx((eye - centre).norm().item() - radius, abs=1e-5)
    assert mask[16, 16] and not mask[0, 0] and math.isinf(depth[0, 0].item())
    assert (depth[mask] > 0).all() and torch.isinf(depth[~mask]).all()


def test_sphere_silhouette_area_equals_the_pinhole_projection():
    """A sphere of radius r at distance D on the axis projects to a disc of radius
    f·r / √(D² − r²) (the tangent cone), area π f² r² / (D² − r²) pixels."""
    D, r, f, size = 4.0, 0.8, 90.0, 64
    scene = scenes.Scene([scenes.Sphere((0.0, 0.0, 0.0), r, (1.0, 0.0, 0.0))], light=None)
    _, _, mask = scenes.render_scene(scene, _camera((0.0, 0.0, D), size=size, focal=f))
    expected = math.pi * f ** 2 * r ** 2 / (D ** 2 - r ** 2)
    assert mask.sum().item() == pytest.approx(expected, rel=0.02)
    # pixel by pixel: hit exactly where the pixel centre lies inside that disc
    y, x = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    disc = (x - size / 2) ** 2 + (y - size / 2) ** 2 < f ** 2 * r ** 2 / (D ** 2 - r ** 2)
    assert torch.equal(mask, disc)
    assert not mask[0].any() and not mask[:, 0].any()                     # fully in view


def test_box_seen_face_on_is_a_square_at_the_near_face():
    """A cube of side s centred on the axis at distance D: depth D − s/2 at the centre and a
    silhouette square of side f·s / (D − s/2) pixels (its near face)."""
    D, s, f, size = 5.0, 1.0, 60.0, 41
    scene = scenes.Scene([scenes.Box((-0.5, -0.5, -0.5), (0.5, 0.5, 0.5), (0.0, 1.0, 0.0))])
    _, depth, mask = scenes.render_scene(scene, _camera((0.0, 0.0, D), size=size, focal=f))
    assert depth[20, 20].item() == pytest.approx(D - s / 2, abs=1e-5)
    side = f * s / (D - s / 2)                                           # 13.3 pixels
    assert mask.sum().item() == pytest.approx(side ** 2, rel=0.06)
    inside = 2 * math.floor(side / 2) + 1                                 # pixel centres within ±side/2
    assert mask.sum().item() == inside ** 2 and mask[20].sum().item() == inside


def test_the_nearer_object_hides_the_farther_one_and_shading_follows_the_normal():
    near = scenes.Sphere((0.0, 0.0, 1.0), 0.3, (1.0, 0.0, 0.0))
    far = scenes.Box((-1.0, -1.0, -1.2), (1.0, 1.0, -0.8), (0.0, 0.0, 1.0))
    for objects in ([far, near], [near, far]):                            # the order does not matter
        flat = scenes.Scene(objects, background=(0.5, 0.5, 0.5), light=None)
        rgb, depth, _ = scenes.render_scene(flat, _camera((0.0, 0.0, 4.0), size=33))
        assert rgb[16, 16].tolist() == [1.0, 0.0, 0.0] and depth[16, 16].item() == pytest.approx(2.7, abs=1e-5)
        assert rgb[16, 10].tolist() == [0.0, 0.0, 1.0] and rgb[0, 0].tolist() == [0.5, 0.5, 0.5]
    # lit from the camera: the centre faces the light fully, the rim grazes it
    lit = scenes.Scene([near], light=(0.0, 0.0, 1.0), ambient=0.2)
    rgb, _, mask = scenes.render_scene(lit, _camera((0.0, 0.0, 4.0), size=33))
    assert rgb[16, 16, 0].item() == pytest.approx(1.0, abs=1e-4)
    rim = rgb[..., 0][mask].min().item()
    assert 0.2 <= rim < 0.6                                               # ambient + a little


def test_ray_primitives_on_hand_made_rays():
    o = torch.tensor([[0.0, 0, 5], [0.0, 0, 0], [3.0, 3, 5], [0.0, 2, 5]])
    d = torch.tensor([[0.0, 0, -1], [1.0, 0, 0], [0.0, 0, -1], [0.0, 0, -1]])
    t, n = scenes.ray_sphere(o, d, (0.0, 0.0, 0.0), 1.0)
    assert t[:2].tolist() == [4.0, 1.0] and t[2:].isinf().all()           # outside, inside, misses
    assert n[0].tolist() == [0.0, 0.0, 1.0] and n[1].tolist() == [1.0, 0.0, 0.0]
    t, n = scenes.ray_box(o, d, (-1.0, -1.0, -1.0), (1.0, 1.0, 1.0))
    assert t[:2].tolist() == [4.0, 1.0] and t[2:].isinf().all()
    assert n[0].tolist() == [0.0, 0.0, 1.0] and n[1].tolist() == [1.0, 0.0, 0.0]


def test_default_scene_fits_in_the_unit_ball_and_shows_three_colours():
    scene = scenes.default_scene()
    assert len(scene.objects) == 3 and scene.radius <= 1.0
    rgb, _, mask = scenes.render_scene(scene, cam.orbit_camera(20.0, 25.0, 4.0, 48, 48, 40.0))
    assert 0.1 < mask.float().mean().item() < 0.6
    dominant = rgb[mask].argmax(dim=-1).bincount(minlength=3)
    assert (dominant > 10).all(), dominant                                 # red, green and blue seen
    assert rgb.min() >= 0 and rgb.max() <= 1


def test_make_views_holds_out_cameras_between_the_training_ones():
    views = scenes.make_views(scenes.default_scene(), n_train=8, n_test=3, size=16, seed=0)
    train, test = views.train, views.test
    assert train.images.shape == (8, 16, 16, 3) and test.images.shape == (3, 16, 16, 3)
    assert train.depths.shape == train.masks.shape == (8, 16, 16)
    assert train.azimuths == [45.0 * k for k in range(8)]
    assert all(a % 45.0 == pytest.approx(22.5) for a in test.azimuths) and len(set(test.azimuths)) == 3
    assert all(10.0 <= e <= 40.0 for e in train.elevations) and len(set(train.elevations)) == 8
    assert torch.equal(train.masks, torch.isfinite(train.depths))
    assert views.near == pytest.approx(4.0 - views.scene.radius) and views.far > views.near
    assert (train.depths[train.masks] > views.near).all() and (train.depths[train.masks] < views.far).all()
    again = scenes.make_views(scenes.default_scene(), n_train=8, n_test=3, size=16, seed=0)
    assert torch.equal(again.train.images, train.images) and torch.equal(again.test.images, test.images)
    other = scenes.make_views(scenes.default_scene(), n_train=8, n_test=3, size=16, seed=1)
    assert other.train.elevations != train.elevations and torch.equal(other.test.images, test.images)
    origins, directions, colours = train.rays()
    assert origins.shape == directions.shape == colours.shape == (8 * 16 * 16, 3)
    rgb, _, _ = scenes.trace(views.scene, origins[:256], directions[:256])
    torch.testing.assert_close(rgb, colours[:256])                       # the rays see the images


@pytest.mark.parametrize("call, name", [
    (lambda: scenes.make_views(scenes.default_scene(), 4, 5), "n_test"),
    (lambda: scenes.make_views(scenes.default_scene(), 0, 0), "n_train"),
    (lambda: scenes.make_views(scenes.default_scene(), 4, 2, size=0), "size"),
    (lambda: scenes.make_views(scenes.default_scene(), 4, 2, radius=0.5), "radius"),
    (lambda: scenes.Sphere((0, 0, 0), -1.0, (1, 0, 0)), "radius"),
    (lambda: scenes.Sphere((0, 0, 0), 1.0, (1.5, 0, 0)), "color"),
    (lambda: scenes.Box((0, 0, 0), (1, -1, 1), (1, 0, 0)), "hi"),
    (lambda: scenes.Scene([], background=(0, 0)), "background"),
    (lambda: scenes.trace(scenes.default_scene(), torch.zeros(4, 3), torch.zeros(5, 3)), "directions"),
])
def test_bad_scene_inputs_name_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# ----------------------------------------------------------------------------- volume

def _rays(R=4):
    return torch.zeros(R, 3), torch.tensor([[0.0, 0.0, -1.0]]).expand(R, 3)


def test_constant_density_gives_the_closed_form_opacity():
    """σ on [near, far], nothing beyond: Â = 1 − exp(−σ (far − near)), for any sampling."""
    near, far = 2.0, 6.0
    for sigma in (0.05, 0.3, 1.0):
        for S, perturb in ((2, False), (64, False), (17, False)):
            t = volume.stratified_samples(*_rays(3), near, far, S, perturb=perturb)
            density = torch.full((3, S), sigma)
            density[:, -1] = 0                                            # the last sample is at far
            w = volume.render_weights(density, t)
            _, _, opacity = volume.composite(w, torch.zeros(3, S, 3), t)
            torch.testing.assert_close(opacity, torch.full((3,), 1 - math.exp(-sigma * (far - near))))
    # with density everywhere the last interval (δ = 1e10) stops all the light
    t = volume.stratified_samples(*_rays(1), near, far, 8, perturb=False)
    assert volume.render_weights(torch.full((1, 8), 0.1), t).sum().item() == pytest.approx(1.0)


def test_homogeneous_medium_has_the_closed_form_expected_depth():
    """Σ w t → ∫ t σ e^{−σ(t−a)} dt over [a, b] = a(1 − e^{−σL}) + 1/σ − (L + 1/σ) e^{−σL},
    L = b − a, with an O(δ) quadrature error (δ/2 per unit of opacity)."""
    a, b, sigma, S = 2.0, 6.0, 0.7, 4001
    t = volume.stratified_samples(*_rays(1), a, b, S, perturb=False).double()
    density = torch.full((1, S), sigma, dtype=torch.float64)
    density[:, -1] = 0
    w = volume.render_weights(density, t)
    _, depth, opacity = volume.composite(w, torch.zeros(1, S, 3, dtype=torch.float64), t)
    L = b - a
    expected = a * (1 - math.exp(-sigma * L)) + 1 / sigma - (L + 1 / sigma) * math.exp(-sigma * L)
    delta = L / (S - 1)
    assert depth.item() == pytest.approx(expected, abs=delta)
    assert abs(depth.item() - expected) > 1e-2 * delta                    # the quadrature is visible
    # the mean depth of what is hit, for an infinite medium: a + 1/σ
    t = volume.stratified_samples(*_rays(1), a, 60.0, 20001, perturb=False).double()
    w = volume.render_weights(torch.full((1, 20001), sigma, dtype=torch.float64), t)
    assert ((w * t).sum() / w.sum()).item() == pytest.approx(a + 1 / sigma, abs=3e-3)


def test_weights_are_non_negative_and_sum_to_at_most_one():
    g = torch.Generator().manual_seed(3)
    t = volume.stratified_samples(*_rays(64), 0.5, 4.0, 32, generator=g)
    sigma = torch.rand(64, 32, generator=g) * torch.rand(64, 1, generator=g) * 5
    sigma[:32, -1] = 0                        # half the rays may leave the volume; with the
    w = volume.render_weights(sigma, t)       # last δ = 1e10 the others cannot
    assert (w >= 0).all() and (w.sum(-1) <= 1 + 1e-6).all()
    assert (w.sum(-1) < 0.999).any() and (w.sum(-1) > 0.999).any()          # both kinds of ray


def test_a_single_opaque_sample_takes_all_the_weight():
    t = torch.linspace(1.0, 3.0, 6).expand(2, 6)
    sigma = torch.zeros(2, 6)
    sigma[0, 2], sigma[1, 0] = 1e4, 1e4
    w = volume.render_weights(sigma, t)
    expected = torch.zeros(2, 6)
    expected[0, 2], expected[1, 0] = 1.0, 1.0
    torch.testing.assert_close(w, expected)                              # an inclusive cumprod gives 0
    rgb = torch.rand(2, 6, 3, generator=torch.Generator().manual_seed(4))
    color, depth, opacity = volume.composite(w, rgb, t, background=torch.tensor([0.0, 1.0, 0.0]))
    torch.testing.assert_close(color, torch.stack([rgb[0, 2], rgb[1, 0]]))
    torch.testing.assert_close(depth, torch.tensor([t[0, 2].item(), 1.0]))


def test_transmittance_excludes_the_current_sample():
    alpha = torch.tensor([[0.3, 0.5, 0.2, 0.9], [0.0, 1.0, 0.5, 0.5]])
    T = volume.transmittance(alpha)
    loop = torch.tensor([[math.prod(1 - a for a in row[:i]) for i in range(4)] for row in alpha.tolist()])
    torch.testing.assert_close(T, loop)
    assert T[:, 0].tolist() == [1.0, 1.0]                                # nothing in front of sample 1
    w = volume.alpha_weights(alpha)
    torch.testing.assert_close(w[0], torch.tensor([0.3, 0.7 * 0.5, 0.35 * 0.2, 0.28 * 0.9]))
    inclusive = torch.cumprod(1 - alpha, dim=-1) * alpha
    assert not torch.allclose(w, inclusive)


def test_composite_adds_the_background_behind_what_is_left():
    g = torch.Generator().manual_seed(5)
    w = torch.rand(5, 7, generator=g) / 10
    rgb, t = torch.rand(5, 7, 3, generator=g), torch.rand(5, 7, generator=g).sort(-1).values
    bg = torch.tensor([0.2, 0.9, 0.4])
    color, depth, opacity = volume.composite(w, rgb, t, background=bg)
    ref = torch.einsum("rs,rsc->rc", w, rgb) + (1 - w.sum(-1))[:, None] * bg
    torch.testing.assert_close(color, ref)
    torch.testing.assert_close(depth, (w * t).sum(-1))
    torch.testing.assert_close(opacity, w.sum(-1))
    torch.testing.assert_close(volume.composite(w, rgb, t, background=1.0)[0],
                               torch.einsum("rs,rsc->rc", w, rgb) + (1 - w.sum(-1))[:, None])
    empty, _, _ = volume.composite(torch.zeros(5, 7), rgb, t, background=bg)
    torch.testing.assert_close(empty, bg.expand(5, 3))


def test_volume_rendering_a_solid_sphere_recovers_the_traced_depth():
    """A density field σ = 1e3 inside a sphere, rendered with 512 samples, sees the surface
    the ray tracer finds (within a sample spacing)."""
    camera = _camera((0.0, 0.5, 3.0), size=9, focal=12.0)
    origins, directions = (x.reshape(-1, 3) for x in camera_rays(camera))
    sphere = scenes.Scene([scenes.Sphere((0.0, 0.0, 0.0), 0.7, (1.0, 1.0, 1.0))], light=None)
    _, traced, hit = scenes.trace(sphere, origins, directions)
    t = volume.stratified_samples(origins, directions, 1.0, 5.0, 512, perturb=False)
    inside = volume.ray_points(origins, directions, t).norm(dim=-1) < 0.7
    w = volume.render_weights(inside * 1e3, t)
    _, depth, opacity = volume.composite(w, torch.ones(*t.shape, 3), t)
    assert hit.any() and (~hit).any()
    torch.testing.assert_close(opacity[hit], torch.ones(int(hit.sum())))
    assert (depth[hit] - traced[hit]).abs().max() < 4.0 / 511
    assert (opacity[~hit] == 0).all()


def test_stratified_samples_lie_one_per_stratum_and_are_reproducible():
    o, d = _rays(50)
    t = volume.stratified_samples(o, d, 1.0, 3.0, 9, generator=torch.Generator().manual_seed(0))
    assert t.shape == (50, 9) and (t >= 1.0).all() and (t <= 3.0).all()
    assert (t.diff(dim=-1) >= 0).all()
    grid = torch.linspace(1.0, 3.0, 9)
    edges = torch.cat([torch.tensor([1.0]), (grid[1:] + grid[:-1]) / 2, torch.tensor([3.0])])
    assert ((t >= edges[:-1]) & (t <= edges[1:])).all()
    assert t.std(dim=0).min() > 0.01                                       # rays differ
    again = volume.stratified_samples(o, d, 1.0, 3.0, 9, generator=torch.Generator().manual_seed(0))
    assert torch.equal(t, again)
    torch.testing.assert_close(volume.stratified_samples(o, d, 1.0, 3.0, 9, perturb=False), grid.expand(50, 9))


def test_sample_pdf_follows_the_weights():
    g = torch.Generator().manual_seed(6)
    bins = torch.linspace(2.0, 6.0, 11).expand(3, 11)
    weights = torch.full((3, 10), 0.05 / 9)
    weights[:, 4] = 0.95                                                  # [3.6, 4.0) holds 95 %
    samples = volume.sample_pdf(bins, weights, 200, generator=g)
    assert samples.shape == (3, 200) and (samples.diff(dim=-1) >= 0).all()
    in_bin = ((samples >= 3.6) & (samples < 4.0)).float().mean(dim=-1)
    assert (in_bin >= 0.9).all(), in_bin
    assert (samples >= 2.0).all() and (samples <= 6.0).all()
    # the inverse of the piecewise-linear CDF, as numpy interpolates it
    u = (np.arange(64) + 0.5) / 64
    w = weights[0].double().numpy() + 1e-5
    cdf = np.concatenate([[0.0], np.cumsum(w / w.sum())])
    det = volume.sample_pdf(bins, weights, 64, deterministic=True)
    np.testing.assert_allclose(det[0].numpy(), np.interp(u, cdf, bins[0].numpy()), atol=1e-5)
    # all-zero weights: uniform
    flat = volume.sample_pdf(bins[:1], torch.zeros(1, 10), 4, deterministic=True)
    torch.testing.assert_close(flat[0], torch.tensor([2.5, 3.5, 4.5, 5.5]))


@pytest.mark.parametrize("call, name", [
    (lambda: volume.stratified_samples(*_rays(), 1.0, 2.0, -3), "n_samples"),
    (lambda: volume.stratified_samples(*_rays(), 1.0, 2.0, 0), "n_samples"),
    (lambda: volume.stratified_samples(*_rays(), 2.0, 2.0, 8), "far"),
    (lambda: volume.stratified_samples(*_rays(), -1.0, 2.0, 8), "near"),
    (lambda: volume.stratified_samples(torch.zeros(4, 2), torch.zeros(4, 3), 1.0, 2.0, 8), "origins"),
    (lambda: volume.stratified_samples(torch.zeros(4, 3), torch.zeros(5, 3), 1.0, 2.0, 8), "directions"),
    (lambda: volume.render_weights(torch.zeros(4, 8), torch.zeros(4, 7)), "t"),
    (lambda: volume.render_weights(torch.zeros(4, 8, 1), torch.zeros(4, 8)), "sigma"),
    (lambda: volume.composite(torch.zeros(4, 8), torch.zeros(4, 8), torch.zeros(4, 8)), "rgb"),
    (lambda: volume.composite(torch.zeros(4, 8), torch.zeros(4, 8, 3), torch.zeros(4, 8),
                              background=torch.zeros(2)), "background"),
    (lambda: volume.sample_pdf(torch.zeros(4, 8), torch.zeros(4, 8), 5), "bins"),
    (lambda: volume.sample_pdf(torch.zeros(4, 9), torch.zeros(4, 8), -1), "n"),
    (lambda: volume.transmittance(torch.zeros(8)), "alpha"),
])
def test_bad_volume_inputs_name_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()
