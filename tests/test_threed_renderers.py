"""Day 21's renderers against closed forms: NeRF's positional encoding and volume-rendered
fields, the hash grid's indexing and trilinear interpolation, and Gaussian splatting's
rotations, EWA projection and compositing."""

import math

import pytest
import torch
from torch import nn

from course_lib.threed.cameras import camera_rays, focal_from_fov, look_at, orbit_camera, project, Camera
from course_lib.threed.fields import FrequencyEncoding, RadianceField, render_image, render_rays
from course_lib.threed.hashgrid import PRIMES, HashGridEncoding, corner_index
from course_lib.threed.occupancy import OccupancyGrid
from course_lib.threed.scenes import ray_sphere
from course_lib.threed.volume import ray_points
from course_lib.threed.splats import (LOW_PASS, GaussianSplats, covariance_3d, project_gaussians,
                                      quaternion_to_rotation, render_splats)


def test_frequency_encoding_uses_powers_of_two():
    enc = FrequencyEncoding(3)
    p = torch.tensor([[0.25, 0.0, 0.5]])
    out = enc(p)
    assert enc.out_dim == 3 + 18 and out.shape == (1, 21)
    sines = out[0, 3:12].reshape(3, 3)                        # (frequency k, axis)
    expected = torch.sin(torch.tensor([1.0, 2.0, 4.0])[:, None] * math.pi * p[0])
    torch.testing.assert_close(sines, expected)
    torch.testing.assert_close(out[0, :3], p[0])
    assert FrequencyEncoding(0)(p).shape == (1, 3)


class SolidSphere(nn.Module):
    """A field with density `sigma` inside a sphere of radius r at the origin, red."""

    def __init__(self, r=0.5, sigma=200.0):
        super().__init__()
        self.r, self.sigma = r, sigma
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, points):
        inside = (points.norm(dim=-1) < self.r).float()
        rgb = torch.tensor([1.0, 0.0, 0.0]).expand(*points.shape[:-1], 3)
        return inside * self.sigma, rgb


def test_rendering_a_solid_sphere_finds_its_surface_and_hierarchical_sampling_sharpens_it():
    camera = orbit_camera(30.0, 20.0, 3.0, 16, 16, 40.0)
    origins, directions = (x.reshape(-1, 3) for x in __import__("course_lib.threed.cameras",
                                                                fromlist=["camera_rays"]).camera_rays(camera))
    hit_t, _ = ray_sphere(origins, directions, torch.zeros(3), 0.5)
    hit = torch.isfinite(hit_t)
    assert hit.sum() > 20
    coarse = render_rays(SolidSphere(), origins, directions, 2.0, 4.0, samples=16)
    fine = render_rays(SolidSphere(), origins, directions, 2.0, 4.0, samples=16, hierarchical=32)
    assert coarse.opacity[hit].min() > 0.99 and coarse.opacity[~hit].max() < 1e-6
    torch.testing.assert_close(coarse.rgb[~hit], torch.ones(int((~hit).sum()), 3))      # white background
    err_coarse = (coarse.depth[hit] - hit_t[hit]).abs().mean()
    err_fine = (fine.depth[hit] - hit_t[hit]).abs().mean()
    assert err_coarse < 2.0 / 15 and err_fine < 0.5 * err_coarse
    image, depth = render_image(SolidSphere(), camera, 2.0, 4.0, samples=16, chunk=50)
    assert image.shape == (16, 16, 3) and torch.allclose(depth.reshape(-1), coarse.depth, atol=1e-5)


def test_a_radiance_field_gives_densities_and_colours_in_range():
    field = RadianceField(FrequencyEncoding(4), hidden=32, depth=2)
    sigma, rgb = field(torch.randn(5, 7, 3))
    assert sigma.shape == (5, 7) and rgb.shape == (5, 7, 3)
    assert (sigma >= 0).all() and (rgb >= 0).all() and (rgb <= 1).all()
    with pytest.raises(ValueError, match="hidden"):
        RadianceField(FrequencyEncoding(4), hidden=0)


def test_hash_grid_indexes_densely_when_the_grid_fits_and_hashes_otherwise():
    corners = torch.tensor([[1, 2, 3], [4, 0, 5]])
    assert corner_index(corners, 4, 2 ** 12).tolist() == [1 + 2 * 5 + 3 * 25, 4 + 0 + 5 * 25]
    big = torch.tensor([[70000, 123456, 99999], [5, 6, 7]])                   # products overflow 32 bits
    expected = [(x * PRIMES[0] ^ y * PRIMES[1] ^ z * PRIMES[2]) % 1024 for x, y, z in big.tolist()]
    assert corner_index(big, 200000, 1024).tolist() == expected
    with pytest.raises(ValueError, match="table_size"):
        HashGridEncoding(table_size=1000)
    enc = HashGridEncoding(levels=4, table_size=2 ** 10, features=2, min_res=4, max_res=32)
    assert enc.resolutions == [4, 8, 16, 32] and enc.out_dim == 8


def test_hash_grid_interpolates_trilinearly():
    enc = HashGridEncoding(levels=1, table_size=2 ** 12, features=1, min_res=8, max_res=8, bound=1.0)
    side = 9
    grid = torch.stack(torch.meshgrid(*[torch.arange(side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    a, b = torch.tensor([0.3, -1.2, 2.0]), 0.7
    with torch.no_grad():                        # features at the corners: a linear function of the corner
        enc.tables[0, corner_index(grid, 8, enc.table_size), 0] = (grid.float() @ a) + b
    points = torch.rand(100, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
    expected = ((points + 1) / 2 * 8) @ a + b    # trilinear interpolation reproduces a linear function
    torch.testing.assert_close(enc(points)[:, 0], expected, atol=1e-4, rtol=0)


def test_a_hash_grid_step_touches_eight_rows_per_point_and_level():
    enc = HashGridEncoding(levels=2, table_size=2 ** 14, features=2, min_res=4, max_res=8)
    enc(torch.tensor([[0.1, 0.2, -0.3]])).sum().backward()
    touched = (enc.tables.grad.abs().sum(-1) > 0).sum(-1)
    assert touched.tolist() == [8, 8]


def test_quaternions_give_rotations():
    q = torch.tensor([[math.cos(math.pi / 4), 0.0, 0.0, math.sin(math.pi / 4)], [2.0, 0.0, 0.0, 0.0]])
    r = quaternion_to_rotation(q)
    torch.testing.assert_close(r[0], torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    torch.testing.assert_close(r[1], torch.eye(3))                          # any norm: normalised first
    random = quaternion_to_rotation(torch.randn(20, 4))
    torch.testing.assert_close(random @ random.transpose(1, 2), torch.eye(3).expand(20, 3, 3), atol=1e-5, rtol=0)
    assert torch.allclose(torch.linalg.det(random), torch.ones(20), atol=1e-5)
    cov = covariance_3d(torch.tensor([[0.1, 0.2, 0.3]]), q[:1])
    torch.testing.assert_close(torch.linalg.eigvalsh(cov[0]), torch.tensor([0.01, 0.04, 0.09]))


def test_the_projected_covariance_matches_projected_samples():
    camera = Camera(64, 64, focal_from_fov(64, 30.0), look_at((0.4, 0.8, 5.0)))
    mean = torch.tensor([[0.2, -0.1, 0.3]])
    q = torch.tensor([[0.9, 0.3, -0.2, 0.4]])
    cov3d = covariance_3d(torch.tensor([[0.08, 0.03, 0.05]]), q)
    means2d, cov2d, depth = project_gaussians(mean, cov3d, camera)
    g = torch.Generator().manual_seed(0)
    samples = mean + torch.randn(200_000, 3, generator=g, dtype=torch.float64).float() @ torch.linalg.cholesky(cov3d[0]).T
    pixels, _ = project(samples, camera)
    empirical = torch.cov(pixels.T)
    torch.testing.assert_close(cov2d[0] - LOW_PASS * torch.eye(2), empirical, rtol=0.03, atol=0.02)
    torch.testing.assert_close(means2d[0], pixels.mean(0), atol=0.05, rtol=0)
    assert depth[0] > 0


def test_one_splat_renders_its_closed_form_footprint():
    camera = Camera(32, 32, focal_from_fov(32, 40.0), look_at((0.0, 0.0, 4.0)))
    splats = GaussianSplats(torch.tensor([[0.1, 0.05, 0.0]]), torch.tensor([[-1.5, -2.0, -1.8]]),
                            torch.tensor([[0.8, 0.1, 0.3, 0.2]]), torch.tensor([0.5]), torch.tensor([[2.0, -1.0, 0.0]]))
    image, alpha = render_splats(splats, camera, background=0.0)
    mu, cov, _ = project_gaussians(splats.means, splats.covariances(), camera)
    ys, xs = torch.meshgrid(torch.arange(32) + 0.5, torch.arange(32) + 0.5, indexing="ij")
    d = torch.stack([xs, ys], -1) - mu[0]
    m = torch.einsum("hwi,ij,hwj->hw", d, torch.linalg.inv(cov[0]), d)        # squared Mahalanobis distance
    expected = torch.where(m <= 9, torch.sigmoid(torch.tensor(0.5)) * torch.exp(-0.5 * m), 0.0)   # cut at 3σ
    assert (m <= 9).sum() > 20 and (m > 9).sum() > 20
    torch.testing.assert_close(alpha, expected.detach(), atol=1e-5, rtol=0)
    torch.testing.assert_close(image, (alpha[..., None] * splats.colors[0]).detach(), atol=1e-5, rtol=0)


def test_splats_composite_front_to_back_and_train():
    camera = Camera(16, 16, focal_from_fov(16, 40.0), look_at((0.0, 0.0, 4.0)))
    quats = torch.tensor([[1.0, 0.0, 0.0, 0.0]] * 2)
    splats = GaussianSplats(torch.tensor([[0.0, 0.0, 0.5], [0.0, 0.0, -0.5]]), torch.full((2, 3), -1.0), quats,
                            torch.tensor([8.0, 8.0]), torch.tensor([[8.0, -8.0, -8.0], [-8.0, -8.0, 8.0]]))
    image, _ = render_splats(splats, camera)
    centre = image[8, 8]
    assert centre[0] > 0.95 and centre[2] < 0.05                     # the nearer (red) one hides the blue one
    flipped = GaussianSplats(splats.means.detach() * -1, splats.log_scales.detach(), quats,
                             splats.opacity_logits.detach(), splats.color_logits.detach())
    assert render_splats(flipped, camera)[0][8, 8, 2] > 0.95
    random = GaussianSplats.random(50, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():                       # anisotropic and rotated: otherwise the rotation has no effect
        random.log_scales.add_(0.3 * torch.randn(50, 3))
        random.quats.add_(0.3 * torch.randn(50, 4))
    loss = render_splats(random, camera)[0].mean()
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in random.parameters())


def busy_splats(seed):
    """A 24 x 20 camera and 300 coloured, fairly opaque Gaussians of varied sizes in front of it."""
    camera = Camera(24, 20, focal_from_fov(24, 40.0), look_at((0.5, 1.0, 4.0)))
    splats = GaussianSplats.random(300, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        splats.color_logits.add_(torch.randn(300, 3))
        splats.opacity_logits.add_(2.0)
        splats.log_scales.add_(0.5 * torch.randn(300, 3))
    return camera, splats


def test_tiles_render_the_same_image_as_one_matrix():
    camera, splats = busy_splats(1)
    dense, dense_alpha = render_splats(splats, camera)
    tiled, tiled_alpha = render_splats(splats, camera, tile=8)
    torch.testing.assert_close(tiled, dense, atol=1e-5, rtol=0)
    torch.testing.assert_close(tiled_alpha, dense_alpha, atol=1e-5, rtol=0)
    assert dense_alpha.max() > 0.5


def test_the_hash_grids_table_gradient_equals_autograd_through_indexing():
    enc = HashGridEncoding(levels=3, table_size=2 ** 8, features=2, min_res=4, max_res=16)
    points = torch.rand(64, 3, generator=torch.Generator().manual_seed(2)) * 2 - 1
    weights = torch.randn(64, 6, generator=torch.Generator().manual_seed(3))
    (enc(points) * weights).sum().backward()
    ours = enc.tables.grad.clone()
    enc.tables.grad = None
    from course_lib.threed import hashgrid
    saved = hashgrid._TableLookup.apply
    hashgrid._TableLookup.apply = lambda table, rows: table[rows]          # plain indexing, autograd's backward
    try:
        (enc(points) * weights).sum().backward()
    finally:
        hashgrid._TableLookup.apply = saved
    torch.testing.assert_close(ours, enc.tables.grad)


class CountingBox(nn.Module):
    """Density `sigma` inside the cube [−half, half]³, green; counts the points it is asked about."""

    def __init__(self, sigma=30.0, half=0.5):
        super().__init__()
        self.sigma, self.half, self.points_seen = sigma, half, 0
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, points):
        self.points_seen += points[..., 0].numel()
        inside = (points.abs() < self.half).all(-1).float()
        return inside * self.sigma, torch.tensor([0.0, 1.0, 0.0]).expand(*points.shape[:-1], 3)


def test_an_occupancy_grid_finds_the_dense_cells_and_skips_the_rest_exactly():
    grid = OccupancyGrid(resolution=4, bound=1.0, threshold=0.01, decay=0.5)   # cells 0.5 wide: the cube is 2³ of them
    inside, outside = torch.tensor([[0.1, 0.2, -0.3]]), torch.tensor([[0.9, 0.9, 0.9], [1.5, 0.0, 0.0]])
    assert grid(inside).all() and not grid(outside[1:]).any()              # before any update: all of the box
    field = CountingBox()
    grid.update(field, generator=torch.Generator().manual_seed(0))
    occupied = grid.density > grid.threshold
    assert occupied[1:3, 1:3, 1:3].all() and occupied.sum() == 8 and grid.fraction() == 8 / 64
    assert grid(inside).all() and not grid(outside).any()
    camera = orbit_camera(30.0, 20.0, 3.0, 12, 12, 40.0)
    origins, directions = (x.reshape(-1, 3) for x in camera_rays(camera))
    plain = render_rays(field, origins, directions, 1.5, 4.5, samples=48)
    field.points_seen = 0
    fast = render_rays(WithGrid(field, grid), origins, directions, 1.5, 4.5, samples=48)
    torch.testing.assert_close(fast.rgb, plain.rgb)                         # the skipped samples had σ = 0
    torch.testing.assert_close(fast.depth, plain.depth)
    in_cells = grid(ray_points(origins, directions, plain.t))
    assert field.points_seen == int(in_cells.sum()) < 0.25 * plain.t.numel()   # only the cube's cells' samples


class WithGrid(nn.Module):
    """`field` behind an occupancy grid, as RadianceField holds one."""

    def __init__(self, field, grid):
        super().__init__()
        self.field, self.occupancy = field, grid

    def forward(self, points):
        return self.field(points)


def test_an_occupancy_grid_forgets_emptied_cells_at_its_decay():
    grid = OccupancyGrid(resolution=2, bound=1.0, threshold=0.1, decay=0.5)
    grid.update(CountingBox(sigma=1.0, half=2.0))                         # dense everywhere
    assert grid.fraction() == 1.0
    empty = CountingBox(sigma=0.0)
    grid.update(empty)
    torch.testing.assert_close(grid.density, torch.full((2, 2, 2), 0.5))   # max(0.5 · 1, 0)
    grid.update(empty)
    grid.update(empty)
    assert grid.fraction() == 1.0                                          # 0.125: still above the threshold
    grid.update(empty)
    assert grid.fraction() == 0.0                                          # 0.0625: forgotten
    with pytest.raises(ValueError, match="decay"):
        OccupancyGrid(decay=1.5)


def test_pruning_transparent_splats_and_freezing_them_for_a_viewer_keep_the_image():
    camera = Camera(16, 16, focal_from_fov(16, 40.0), look_at((0.0, 0.5, 4.0)))
    splats = GaussianSplats.random(80, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        splats.opacity_logits.add_(3.0)
        splats.opacity_logits[::2] = -40.0                                 # half of them invisible
    pruned = splats.pruned(1e-6)
    assert len(pruned) == 40
    torch.testing.assert_close(render_splats(pruned, camera)[0], render_splats(splats, camera)[0])
    torch.testing.assert_close(render_splats(pruned.frozen(), camera, pairs=True)[0], render_splats(splats, camera)[0])
    with pytest.raises(ValueError, match="min_opacity"):
        splats.pruned(2.0)


def test_pixel_gaussian_pairs_render_the_same_image_and_gradients_as_one_matrix():
    camera, splats = busy_splats(3)
    target = torch.rand(20, 24, 3, generator=torch.Generator().manual_seed(4))
    grads = []
    for pairs in (False, True):
        splats.zero_grad()
        image, alpha = render_splats(splats, camera, pairs=pairs)
        ((image - target) ** 2).mean().backward()
        grads.append([p.grad.clone() for p in splats.parameters()])
        if pairs:
            torch.testing.assert_close(image, dense, atol=1e-5, rtol=0)
            torch.testing.assert_close(alpha, dense_alpha, atol=1e-5, rtol=0)
        dense, dense_alpha = image.detach(), alpha.detach()
    assert dense_alpha.max() > 0.5
    for g_dense, g_pairs in zip(*grads):
        torch.testing.assert_close(g_pairs, g_dense, atol=1e-5, rtol=1e-3)
