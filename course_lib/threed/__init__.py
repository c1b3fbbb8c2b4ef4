"""3D from images (day 21): the geometry under NeRF, hash grids and Gaussian splatting.

- `cameras`: pinhole cameras in the OpenGL / NeRF convention (look down −z, +y up),
  `look_at`, cameras on an orbit, one ray per pixel (`camera_rays`) and its exact
  inverse (`project`).
- `scenes`: analytic scenes of spheres and axis-aligned boxes, ray-traced exactly (colour,
  depth, silhouette, a Lambertian shade), and the multi-view data set built from them
  (`make_views`: training cameras and held-out cameras between them).
- `volume`: volume rendering — stratified samples along a ray, densities to alphas to
  weights (transmittance excludes the current sample), compositing colour / depth /
  opacity, and inverse-transform sampling for NeRF's hierarchical (fine) samples.
- `fields`: radiance fields — NeRF's frequency encoding, a field MLP (σ, colour), rays
  volume-rendered with optional hierarchical samples, whole images in chunks.
- `hashgrid`: Instant-NGP's multiresolution hash encoding (dense or hashed corners,
  trilinear interpolation), in plain PyTorch.
- `occupancy`: Instant-NGP's occupancy grid — a coarse grid of where the density is not
  negligible, refreshed from the field while it trains, so rendering skips empty space.
- `field_train`: the multi-view data spec (`ViewsSpec`), PSNR, and the recipes that train
  a tiny NeRF (`NERF_PRESETS`) and a hash-grid field (`HASH_PRESETS`).
- `splats`: 3D Gaussian splatting — quaternions to covariances, EWA projection to the
  image, depth-sorted alpha compositing within each Gaussian's 3σ ellipse — as one
  matrix, tile by tile, or from (pixel, Gaussian) pairs; pruning, and frozen splats for
  viewing.
- `splat_train`: Gaussians fitted to the training views, per-parameter learning rates
  (`SPLAT_PRESETS`).
- `shapes`: text-to-3D data: points uniform by area on the surfaces of a sphere, cube,
  torus and cone (`SHAPES`), posed by a rotation about +y and a scale; the Chamfer
  distance (squared, both directions) and the distance to a shape family.
- `pointcloud_model`: Point-E-style text-to-3D: a transformer over points (no positions,
  DiT's adaLN-Zero blocks, the shape word with a null row for guidance) predicting eps,
  sampled with DDIM; its recipe (`POINT_CLOUD_PRESETS`); the PointNet judge (one recipe).
"""
