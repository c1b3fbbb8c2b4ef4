"""Video DiT: spacetime patches, factorized space/time attention, inflation, coherent noise.

API (day 05 builds it; day 06 trains the same model on VAE latents):

    config = VideoDiTConfig(in_channels=1, frames=8, height=12, width=12, patch=(1, 4, 4),
                            dim=64, depth=3, heads=4, attention="factorized", num_classes=10)
    model = VideoDiT(config)                   # forward(x (B, C, T, H, W), t (B,), labels (B,)) -> eps
    model = inflate(image_dit, frames=8)       # a day-04 `DiT` -> VideoDiT, temporal blocks at zero
    noise = coherent_noise((B, C, T, H, W), rho=0.5, generator=g)   # corr(frame i, frame j) = rho
    loss = video_loss(model, (videos, labels), schedule, rho=0.0, kind="eps")   # ready for train.fit
    videos = sample_video(model, labels, schedule, steps=20, guidance=3.0, kind="eps")   # DDIM + batched CFG
    edited = edit_video(model, videos, new_labels, schedule, strength=0.6)            # SDEdit (day 08)

Training on moving digits (the recipe, its presets, load-or-train) is in `video_dit_train.py`:

    trained = train_video_dit(preset(PRESETS, DEVICE))    # trained.model, .schedule, .run, .image

Three ways to mix information between the N = T' * S tokens (T' = T / pt frames of
S = (H / ph)(W / pw) tokens each), set by `config.attention`:

    "spatial"     per-frame model: attention over (B*T') S D only; frames never meet
    "factorized"  each layer: spatial attention over (B*T') S D, then temporal attention
                  over (B*S) T' D (the same patch position across frames), with a
                  temporal sin-cos position table inside the temporal branch. Cost per
                  layer ~ T' S^2 + S T'^2 instead of (T' S)^2.
    "full"        3-D attention over all T' S tokens of a clip: (B, T' S, D)

Temporal blocks are adaLN-Zero blocks whose modulation starts at zero, so a freshly
inflated factorized model computes exactly what the image DiT computes on every frame
(Video LDM, AnimateDiff and SVD start their temporal layers the same way).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import Tensor, nn

from course_lib.checks import check_choice, check_range, check_shape
from course_lib.diffusion import ddpm
from course_lib.diffusion.dit import AdaLNZeroBlock, DiT, DiTConfig, FinalLayer, LabelEmbedder, TimestepEmbedder
from course_lib.diffusion.schedules import NoiseSchedule
from course_lib.diffusion.text_cond import NULL_ID, CaptionEmbedder, CrossAttentionBlock
from course_lib.nn.text_encoder import TextEncoderConfig
from course_lib.nn.embeddings import SpacetimePatchEmbed, sincos_1d, sincos_2d, unpatchify3d

ATTENTION_MODES = ("spatial", "factorized", "full")


@dataclass(frozen=True)
class VideoDiTConfig:
    """Sizes of a video DiT. A model inflated from an image DiT takes its sizes from the
    image DiT's `DiTConfig` (`inflated_config`)."""
    in_channels: int = 1
    frames: int = 8                 # T
    height: int = 12                # H
    width: int = 12                 # W
    patch: tuple[int, int, int] = (1, 4, 4)   # (pt, ph, pw)
    dim: int = 64
    depth: int = 3
    heads: int = 4
    mlp_ratio: float = 4.0
    attention: str = "factorized"   # "spatial" | "factorized" | "full"
    num_classes: int = 10           # the null label for guidance is index num_classes
    class_dropout: float = 0.1      # with `text`: the caption dropout
    text: TextEncoderConfig | None = None   # None: class labels; else captions (day 08, `text_cond`)
    cond_channels: int = 0          # extra input channels concatenated to x (day 08: the first frame)

    def __post_init__(self):
        object.__setattr__(self, "patch", tuple(self.patch))
        check_choice(self.attention, "attention", ATTENTION_MODES)
        if len(self.patch) != 3 or any(not isinstance(p, int) or p < 1 for p in self.patch):
            raise ValueError(f"patch must be three positive ints (pt, ph, pw); got {self.patch!r}")
        for name, size, p in zip(("frames", "height", "width"), (self.frames, self.height, self.width), self.patch):
            if size % p:
                raise ValueError(f"{name} ({size}) must be a multiple of its patch size ({p})")
        if self.dim % 4 or self.dim % self.heads:
            raise ValueError(f"dim ({self.dim}) must be divisible by 4 and by heads ({self.heads})")

    @property
    def grid(self) -> tuple[int, int, int]:
        """(T', gh, gw) = (T / pt, H / ph, W / pw)."""
        return tuple(s // p for s, p in zip((self.frames, self.height, self.width), self.patch))

    @property
    def tokens_per_frame(self) -> int:
        return self.grid[1] * self.grid[2]

    @property
    def num_tokens(self) -> int:
        return self.grid[0] * self.tokens_per_frame


class TemporalBlock(nn.Module):
    """An adaLN-Zero block over time: x (B*S, T', D), c (B*S, D) -> (B*S, T', D).

    The temporal positions p (T', D) are added to the branch input only, not to the
    residual stream (as AnimateDiff's motion modules do):

        out = x + [Block(x + p, c) - (x + p)]

    so with the zero-initialised modulation (all gates 0) the block is exactly the identity.
    """

    def __init__(self, dim: int, heads: int, frames: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.block = AdaLNZeroBlock(dim, heads, mlp_ratio)
        self.register_buffer("pos", sincos_1d(torch.arange(frames), dim), persistent=False)   # (T', D)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        h = x + self.pos                                                 # (B*S, T', D)
        return x + (self.block(h, c) - h)


class VideoDiT(nn.Module):
    """Class-conditional video DiT predicting eps. forward(x (B, C, T, H, W), t (B,), labels (B,))."""

    def __init__(self, config: VideoDiTConfig):
        super().__init__()
        self.config = cfg = config
        d, (gt, gh, gw) = cfg.dim, cfg.grid
        self.patch_embed = SpacetimePatchEmbed(cfg.in_channels + cfg.cond_channels, d, cfg.patch)
        self.register_buffer("pos_space", sincos_2d(gh, gw, d), persistent=False)          # (S, D)
        self.register_buffer("pos_time", sincos_1d(torch.arange(gt), d), persistent=False)  # (T', D)
        self.t_embedder = TimestepEmbedder(d)
        if cfg.text is None:
            self.y_embedder = LabelEmbedder(cfg.num_classes, d, cfg.class_dropout)
        else:                                                    # captions: adaLN + cross-attention
            self.y_embedder = CaptionEmbedder(cfg.text, d, cfg.class_dropout)
            self.cross_blocks = nn.ModuleList(CrossAttentionBlock(d, cfg.heads, cfg.text.dim)
                                              for _ in range(cfg.depth))
        self.blocks = nn.ModuleList(AdaLNZeroBlock(d, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        n_temporal = cfg.depth if cfg.attention == "factorized" else 0
        self.temporal_blocks = nn.ModuleList(TemporalBlock(d, cfg.heads, gt, cfg.mlp_ratio) for _ in range(n_temporal))
        # One "pixel" of pt*ph*pw*C numbers per token: FinalLayer(dim, patch=1, channels=P*C).
        self.final_layer = FinalLayer(d, 1, math.prod(cfg.patch) * cfg.in_channels)
        self.initialize_weights()

    @property
    def null_label(self) -> int:
        """The label guidance fills its null pass with: the null class, or with captions the
        id of <null> (a row of it is the null caption)."""
        return self.config.num_classes if self.config.text is None else NULL_ID

    def initialize_weights(self) -> None:
        """DiT's initialisation (`DiT.initialize_weights`), plus zero temporal modulation:
        every spatial and temporal block starts as the identity, the output at 0."""
        DiT.initialize_weights(self)
        zero = [block.block.adaLN_modulation[-1] for block in self.temporal_blocks]
        if self.config.text is not None:               # captions enter through zero layers too
            zero += [block.attn.out_proj for block in self.cross_blocks] + [self.y_embedder.pool_proj]
        for layer in zero:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor, t: Tensor, labels: Tensor, cond: Tensor | None = None) -> Tensor:
        """x (B, C, T, H, W), t (B,), labels (B,) class ids — or, with `config.text`,
        caption ids (B, L) (`data.captions.tokenize`) -> (B, C, T, H, W). With
        `config.cond_channels`, cond (B, cond_channels, T, H, W) is concatenated to x's
        channels (image-to-video: `first_frame_condition`)."""
        cfg = self.config
        check_shape(x, "x", "B C T H W", C=cfg.in_channels, T=cfg.frames, H=cfg.height, W=cfg.width)
        check_shape(t, "t", "B", B=len(x))
        b, gt, s = len(x), cfg.grid[0], cfg.tokens_per_frame
        if cfg.cond_channels:
            if cond is None:
                raise ValueError(f"this model takes a condition of {cfg.cond_channels} channel(s): pass cond")
            check_shape(cond, "cond", "B C T H W", B=b, C=cfg.cond_channels, T=cfg.frames, H=cfg.height, W=cfg.width)
            x = torch.cat([x, cond.to(x)], dim=1)
        elif cond is not None:
            raise ValueError("cond given, but this model has no condition channels (config.cond_channels = 0)")
        tokens = self.patch_embed(x)                                     # (B, T'*S, D), time-major
        if cfg.text is None:
            check_shape(labels, "labels", "B", B=len(x))
            c, text = self.t_embedder(t) + self.y_embedder(labels), None  # (B, D)
        else:
            check_shape(labels, "labels (caption ids)", "B L", B=len(x), L=cfg.text.max_len)
            pooled, text, pad = self.y_embedder(labels)                  # (B, D), (B, L, Dt), (B, L)
            c = self.t_embedder(t) + pooled
        cross = self.cross_blocks if text is not None else [None] * cfg.depth
        if cfg.attention == "full":
            pos = (self.pos_time[:, None] + self.pos_space[None]).reshape(gt * s, -1)   # (T'*S, D)
            tokens = tokens + pos
            for block, cross_block in zip(self.blocks, cross):
                tokens = block(tokens, c)                                # (B, T'*S, D)
                if cross_block is not None:
                    tokens = cross_block(tokens, text, pad)              # every token reads the caption
            out = self.final_layer(tokens, c)                            # (B, T'*S, P*C)
        else:
            tokens = rearrange(tokens, "b (t s) d -> (b t) s d", t=gt) + self.pos_space   # (B*T', S, D)
            c_space = repeat(c, "b d -> (b t) d", t=gt)                  # (B*T', D)
            c_time = repeat(c, "b d -> (b s) d", s=s)                    # (B*S, D)
            temporal = self.temporal_blocks if cfg.attention == "factorized" else [None] * cfg.depth
            if text is not None:                                         # each frame reads the caption
                text, pad = repeat(text, "b l d -> (b t) l d", t=gt), repeat(pad, "b l -> (b t) l", t=gt)
            for block, cross_block, temporal_block in zip(self.blocks, cross, temporal):
                tokens = block(tokens, c_space)                          # (B*T', S, D): within a frame
                if cross_block is not None:
                    tokens = cross_block(tokens, text, pad)              # (B*T', S, D): reads the caption
                if temporal_block is not None:
                    tokens = rearrange(tokens, "(b t) s d -> (b s) t d", b=b)
                    tokens = temporal_block(tokens, c_time)              # (B*S, T', D): across frames
                    tokens = rearrange(tokens, "(b s) t d -> (b t) s d", b=b)
            out = self.final_layer(tokens, c_space)                      # (B*T', S, P*C)
            out = rearrange(out, "(b t) s p -> b (t s) p", b=b)          # (B, T'*S, P*C)
        return unpatchify3d(out, cfg.patch, cfg.in_channels, cfg.grid)   # (B, C, T, H, W)


# ---------------------------------------------------------------- inflation

def inflated_config(image: DiTConfig, frames: int, attention: str = "factorized", pt: int = 1) -> VideoDiTConfig:
    """The config of the video DiT that `inflate` makes from an image DiT of config `image`:
    the same width, depth, heads, classes; `frames` frames of input_size x input_size;
    spacetime patches (pt, patch, patch)."""
    return VideoDiTConfig(in_channels=image.in_channels, frames=frames, height=image.input_size,
                          width=image.input_size, patch=(pt, image.patch, image.patch), dim=image.dim,
                          depth=image.depth, heads=image.heads, mlp_ratio=image.mlp_ratio, attention=attention,
                          num_classes=image.num_classes, class_dropout=image.class_dropout)


def inflate(image_dit: DiT, frames: int, attention: str = "factorized", pt: int = 1) -> VideoDiT:
    """A VideoDiT whose spatial parts are copies of a trained image DiT (Video LDM / AnimateDiff).

    The Conv2d patch weights (D, C, p, p) become Conv3d weights (D, C, pt, p, p) / pt (a
    time-average over each pt-frame patch), the output layer is repeated for each of the pt
    frames, everything else (blocks, embedders, final adaLN) is copied. New temporal blocks
    start at zero, so with pt = 1 the factorized (and the spatial) video model is exactly the
    image DiT applied frame by frame.
    """
    if not isinstance(image_dit, DiT):
        raise TypeError(f"image_dit must be a course_lib.diffusion.dit.DiT; got {type(image_dit).__name__}")
    video = VideoDiT(inflated_config(image_dit.config, frames, attention, pt)).to(next(image_dit.parameters()).device)
    with torch.no_grad():
        w = image_dit.patch_embed.proj.weight                            # (D, C, p, p)
        video.patch_embed.proj.weight.copy_(w[:, :, None].repeat(1, 1, pt, 1, 1) / pt)
        video.patch_embed.proj.bias.copy_(image_dit.patch_embed.proj.bias)
        for name in ("t_embedder", "y_embedder", "blocks"):
            getattr(video, name).load_state_dict(getattr(image_dit, name).state_dict())
        final = image_dit.final_layer
        video.final_layer.adaLN_modulation.load_state_dict(final.adaLN_modulation.state_dict())
        video.final_layer.linear.weight.copy_(final.linear.weight.repeat(pt, 1))   # (pt*p*p*C, D)
        video.final_layer.linear.bias.copy_(final.linear.bias.repeat(pt))
    return video


# ---------------------------------------------------------------- noise, loss, sampling

def coherent_noise(shape: tuple[int, ...], rho: float = 0.0, generator: torch.Generator | None = None,
                   device=None) -> Tensor:
    """Gaussian noise (B, C, T, H, W) whose frames are correlated: "mixed" noise (PYoCo, Ge et al. 2023)

        eps_t = sqrt(rho) * eps_shared + sqrt(1 - rho) * eps_t',   eps_shared, eps_t' ~ N(0, I)

    Each element is still N(0, 1); corr(eps_t, eps_t') = rho for t != t'. rho = 0 is
    ordinary i.i.d. noise, rho = 1 the same noise in every frame.
    """
    if len(shape) != 5:
        raise ValueError(f"shape must be (B, C, T, H, W); got {tuple(shape)}")
    check_range(rho, "rho", 0.0, 1.0)
    b, c, _, h, w = shape
    shared = torch.randn((b, c, 1, h, w), generator=generator)
    own = torch.randn(tuple(shape), generator=generator)
    return (math.sqrt(rho) * shared + math.sqrt(1 - rho) * own).to(device or "cpu")


def video_loss(model: nn.Module, batch: tuple[Tensor, Tensor], schedule: NoiseSchedule, rho: float = 0.0,
               kind: str = "eps", generator: torch.Generator | None = None, cond: Tensor | None = None) -> Tensor:
    """The DDPM eps-loss on videos, with (optionally) coherent noise: batch = (x0 (B, C, T, H, W), labels (B,)).

    || eps - model(sqrt(a_t) x0 + sqrt(1 - a_t) eps, t, labels) ||^2,  eps = coherent_noise(rho)
    (kind="x0" regresses x0 instead, kind="v" the velocity sqrt(a_t) eps - sqrt(1 - a_t) x0).
    Ready for `train.fit`: fit(model, lambda m, b: video_loss(m, b, schedule), ...).
    cond: the model's extra input channels (image-to-video), passed on unchanged.
    """
    x0, labels = batch
    check_shape(x0, "videos", "B C T H W")
    schedule = schedule.to(x0.device)
    t = torch.randint(0, schedule.num_steps, (len(x0),), generator=generator).to(x0.device)
    noise = coherent_noise(tuple(x0.shape), rho, generator, x0.device)
    target = {"eps": noise, "x0": x0}.get(kind)
    if kind == "v":
        target = ddpm.v_from_eps(x0, noise, t, schedule)
    elif target is None:
        raise ValueError(f"kind must be one of {ddpm.PREDICTIONS}; got {kind!r}")
    x_t = ddpm.q_sample(x0, t, noise, schedule)
    prediction = model(x_t, t, labels) if cond is None else model(x_t, t, labels, cond=cond)
    return F.mse_loss(prediction, target)


@torch.no_grad()
def sample_video(model: VideoDiT, labels: Tensor, schedule: NoiseSchedule, steps: int = 20,
                 guidance: float = 3.0, rho: float = 0.0, generator: torch.Generator | None = None,
                 x_T: Tensor | None = None, progress: bool = False, batch: int = 64,
                 kind: str = "eps", cond: Tensor | None = None) -> Tensor:
    """DDIM (eta = 0) video sampling with classifier-free guidance (conditional and null
    passes in one batch, `ddpm.guided`). labels (B,) — or caption ids (B, L) for a model
    with `config.text` — -> videos (B, C, T, H, W) on the CPU.

    kind: what the model predicts ("eps", "x0", "v"); guidance combines predictions of
    any kind linearly. x_T: starting noise; default `coherent_noise(rho)` from `generator`. Samples `batch`
    videos at a time (2 * batch network inputs per step with guidance). cond: the
    condition channels of an image-to-video model (B, cond_channels, T, H, W), the same
    in the conditional and the null pass (guidance is over the labels / caption).
    """
    cfg = model.config
    check_shape(labels, "labels", "B" if cfg.text is None else "B L")
    shape = (len(labels), cfg.in_channels, cfg.frames, cfg.height, cfg.width)
    if x_T is None:
        x_T = coherent_noise(shape, rho, generator)
    elif tuple(x_T.shape) != shape:
        raise ValueError(f"x_T must be {shape}; got {tuple(x_T.shape)}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, len(labels), batch):
        y = labels[i:i + batch].to(device)
        net = model if cond is None else _conditioned(model, cond[i:i + batch].to(device))
        model_fn = ddpm.guided(net, y, model.null_label, guidance)
        out.append(ddpm.sample_ddim(model_fn, (len(y), *shape[1:]), schedule.to(device), steps=steps,
                                    device=device, x_T=x_T[i:i + batch], kind=kind, progress=progress).cpu())
    model.train(was_training)
    return torch.cat(out)


def _conditioned(model: nn.Module, cond: Tensor):
    """model(x, t, y) with the condition `cond` (B, ...) given to every pass: guidance
    stacks the conditional and the null pass, so x may hold k * B clips."""
    return lambda x, t, y: model(x, t, y, cond=cond.repeat(len(x) // len(cond), *[1] * (cond.ndim - 1)))


@torch.no_grad()
def edit_video(model: VideoDiT, videos: Tensor, labels: Tensor, schedule: NoiseSchedule, strength: float = 0.6,
               steps: int = 20, guidance: float = 3.0, generator: torch.Generator | None = None,
               kind: str = "eps", cond: Tensor | None = None) -> Tensor:
    """SDEdit (Meng et al. 2022) on clips: noise `videos` (B, C, T, H, W) to
    t_s = round(strength · (T − 1)) and denoise them with guided DDIM toward `labels`
    (classes, or caption ids for a caption model), from t_s down over the trailing grid of
    `steps` steps. What the noise at t_s leaves (layout, motion) stays; what it erases
    (details, identity) follows the new condition. strength 0 returns the clips. cond: an
    image-to-video model's condition channels, as in `sample_video`."""
    check_shape(videos, "videos", "B C T H W")
    check_range(strength, "strength", 0.0, 1.0)
    if strength == 0:
        return videos.clone()
    device = next(model.parameters()).device
    start = round(strength * (schedule.num_steps - 1))
    t = torch.full((len(videos),), start, dtype=torch.int64)
    noisy = ddpm.q_sample(videos, t, torch.randn(videos.shape, generator=generator), schedule)
    was_training = model.training
    model.eval()
    net = model if cond is None else _conditioned(model, cond.to(device))
    model_fn = ddpm.guided(net, labels.to(device), model.null_label, guidance)
    out = ddpm.sample_ddim(model_fn, tuple(videos.shape), schedule.to(device), steps=steps, x_T=noisy.to(device),
                           kind=kind, progress=False, start=start, device=device).cpu()
    model.train(was_training)
    return out


def first_frame_condition(videos: Tensor, noise_std: float | Tensor = 0.0,
                          generator: torch.Generator | None = None, layout: str = "repeat") -> Tensor:
    """Image-to-video's condition (B, C, T, H, W) from clips (B, C, T, H, W): the clean
    first frame of each clip plus Gaussian noise of std `noise_std` (a number, or (B,) per
    clip: SVD's noise augmentation, so the model does not copy the still pixel for pixel
    and tolerates stills unlike its training frames), laid out over the T frames by
    `layout`: "repeat" — the still in every frame (Stable Video Diffusion); "first" — the
    still in frame 0 and zeros in the others (CogVideoX's image-to-video), which also tells
    every token which frame is the given one."""
    check_shape(videos, "videos", "B C T H W")
    check_choice(layout, "layout", ("repeat", "first"))
    still = videos[:, :, :1].expand_as(videos)
    std = torch.as_tensor(noise_std, dtype=videos.dtype).reshape(-1, 1, 1, 1, 1)
    if bool((std < 0).any()):
        raise ValueError(f"noise_std must be >= 0; got {noise_std}")
    cond = still + std * torch.randn(videos.shape, generator=generator).to(videos)
    if layout == "first":
        cond = torch.cat([cond[:, :, :1], torch.zeros_like(cond[:, :, 1:])], dim=2)
    return cond
