"""Neural-network building blocks shared by every model.

- `attention`: scaled dot-product attention, masks, `MultiHeadAttention` (self and
  cross), `KVCache` for incremental decoding, chunked (online-softmax) attention, and
  the `attend` hook relative attention plugs into.
- `embeddings`: timestep embeddings, sin-cos position tables (1-D, 2-D), patch
  embeddings and patchify / unpatchify for images and spacetime volumes.
- `transformer`: the pre-norm encoder block (self-attention with a padding mask, MLP)
  shared by the audio encoder (day 12) and the caption encoder (day 08).
- `text_encoder`: a small caption encoder (embeddings, positions, encoder blocks with a
  padding mask) for text-conditioned models (day 08).
- `lowbit`: weight-only int8 (per output channel) and FP8 e4m3 storage for every
  `nn.Linear` of a model, and the bytes it saves (day 07).
- `lora`: low-rank adapters on frozen linear layers, merged into and out of the
  weights (day 07).
"""
