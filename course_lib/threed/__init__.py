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
"""
