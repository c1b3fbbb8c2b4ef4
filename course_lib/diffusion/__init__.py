"""Diffusion models, from DDPM to latent video diffusion (days 03-06) and fast sampling (07).

Model and sampling:
- `schedules`: noise schedules (linear, cosine): beta_t, alpha-bar_t, posterior terms.
- `ddpm`: the forward process, the training losses (eps / x0 / v), ancestral and DDIM
  samplers, classifier-free guidance.
- `denoisers`: a small MLP denoiser (`MLPDenoiserConfig`) for 2-D points and 8x8 digits.
- `dit`: the Diffusion Transformer with adaLN-Zero (`DiTConfig`, `DiT`).
- `video_dit`: the video DiT (spatial / factorized / full attention over spacetime
  patches; class labels or captions), `inflate` from an image DiT, coherent noise, the
  video loss and sampler.
- `vae`: a small VAE for frames and clips: reparameterisation, KL, loss, scale factor.
- `latent`: latent video diffusion: the FLOP count, the latent video DiT, sampling.
- `consistency`: consistency distillation as LCM does it: the boundary scaling
  (c_skip, c_out), the teacher's DDIM step, the distillation loss with an EMA target,
  multistep consistency sampling; progressive distillation (one student DDIM step =
  two teacher steps) as the comparison.
- `unet3d`: Ho et al.'s factorized space-time 3D U-Net (per-frame convolutions and
  norms, spatial/cross/temporal attention in the middle), caption-conditioned (day 08).
- `text_cond`: caption conditioning (day 08): the caption embedder (encoder, pooled
  vector, dropout to the null caption) and the zero-initialised cross-attention block
  that `video_dit` uses when its config has `text`.
- `controlnet`: a trainable copy of the DiT's first blocks steering the frozen model
  through zero-initialised projections; Sobel edge maps as the condition.

Training (recipes, `PRESETS`, load-or-train):
- `denoisers_train`: day 03's DDPMs on the 2-D ring (`RING_PRESETS`) and on digits.
- `dit_train`: day 04's DiT on 16x16 digits.
- `video_dit_train`: the image DiT on frames, then the video DiT on moving digits
  (`PRESETS`, `FULL_ATTENTION_PRESETS`).
- `vae_train`: the VAE on moving-digit frames, with its measured scale factor.
- `latent_train`: VAE -> latent image DiT -> latent video DiT.
- `distill_train`: day 07's consistency student of day 04's DiT (`CONSISTENCY_PRESETS`).
- `controlnet_train`: day 07's ControlNet on day 04's DiT, and the edge agreement
  (`edge_iou`) that measures it (`CONTROLNET_PRESETS`).
- `text_video_train`: day 08's caption-conditioned video DiT, fine-tuned from day 05's
  (`TEXT_VIDEO_PRESETS`), optionally image-to-video; the 3D U-Net on the same data
  (`UNET_VIDEO_PRESETS`).
- `camera_lora_train`: day 07's camera-move LoRAs on day 05's video DiT
  (`CAMERA_LORA_PRESETS`).
- `ddp_demo`: the same training in one process or under `torchrun`, for comparing.
"""
