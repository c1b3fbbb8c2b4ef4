"""Neural-network building blocks shared by every model.

- `attention`: scaled dot-product attention, masks, `MultiHeadAttention` (self and
  cross), `KVCache` for incremental decoding, chunked (online-softmax) attention, and
  the `attend` hook relative attention plugs into.
- `embeddings`: timestep embeddings, sin-cos position tables (1-D, 2-D), patch
  embeddings and patchify / unpatchify for images and spacetime volumes.
"""
