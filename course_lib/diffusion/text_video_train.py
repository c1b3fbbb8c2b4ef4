"""Day 08's caption-conditioned video DiT: the recipe, size presets, load-or-train.

    recipe = preset(TEXT_VIDEO_PRESETS, DEVICE)
    trained = train_text_video_dit(recipe)          # trains once; later calls load
    ids, _ = captions.tokenize(["a 3 moving up-left"])
    videos = sample_video(trained.model, ids, trained.schedule, guidance=4.0, kind="x0")

The model is day 05's video DiT with its class labels replaced by captions (`VideoDiT`
with `config.text`: a caption encoder, the pooled caption in adaLN, cross-attention after
every spatial block). It starts from day 05's trained weights (`video_dit_train`):
every shared weight is copied, the caption paths start at zero and the pooled-caption
projection's bias is day 05's null-label embedding — so before training it computes
exactly day 05's *unconditional* model, and training only has to learn what the words
add. Checkpoint: artifacts/checkpoints/text_video_dit_<recipe key>.pt.

Image-to-video (`IMAGE_TO_VIDEO_PRESETS`) is the same recipe with `first_frame` (the
clip's first frame as extra input channels) and `start_from` = the caption model: it is
fine-tuned from that model's trained weights (input channels it lacks would start at zero).

    i2v = train_text_video_dit(preset(IMAGE_TO_VIDEO_PRESETS, DEVICE))   # trains the caption model first if needed
    cond = first_frame_condition(clips, layout=i2v.recipe.still_layout)
    videos = sample_video(i2v.model, ids, i2v.schedule, kind="x0", cond=cond)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial

import torch

from course_lib.checks import check_choice
from course_lib.data.captions import CaptionedClipsSpec, tokenize
from course_lib.diffusion.schedules import NoiseSchedule
from course_lib.diffusion.unet3d import UNet3D, UNet3DConfig
from course_lib.diffusion.video_dit import VideoDiT, first_frame_condition, video_loss
from course_lib.diffusion.video_dit_train import PRESETS as VIDEO_PRESETS
from course_lib.diffusion.video_dit_train import VideoRecipe, TrainedVideoDiT, train_video_dit
from course_lib.nn.text_encoder import TextEncoderConfig
from course_lib.runtime import settings_key
from course_lib.train import TrainingRun, TrainSettings, load_or_train, random_batches

__all__ = ["TextVideoRecipe", "TEXT_VIDEO_PRESETS", "IMAGE_TO_VIDEO_PRESETS", "UNET_VIDEO_PRESETS", "TrainedTextVideoDiT",
           "new_text_video_model", "captioned_loss", "train_text_video_dit"]


@dataclass(frozen=True)
class TextVideoRecipe:
    """The video DiT of `base` (day 05's recipe: sizes, schedule, prediction, starting
    weights) conditioned on captions encoded by `text`, with caption dropout
    `caption_dropout` for guidance, fine-tuned on `data` (no held-out pair in it)."""
    base: VideoRecipe = VideoRecipe()
    data: CaptionedClipsSpec = CaptionedClipsSpec()
    text: TextEncoderConfig = TextEncoderConfig()
    caption_dropout: float = 0.1
    architecture: str = "dit"           # "dit": day 05's video DiT; "unet": `unet3d`, always from scratch
    pretrained: bool = True             # a DiT starts from day 05's trained weights (False: from scratch)
    unet: UNet3DConfig = UNet3DConfig()  # the U-Net's sizes (its text, dropout, condition come from here)
    first_frame: bool = False           # image-to-video: the clip's first frame as a condition
    still_dropout: float = 0.5          # ... replaced by 0 (no still) this often: one model, both tasks
    still_noise: float = 0.1            # ... plus noise of std ~ U(0, still_noise) (SVD's augmentation)
    still_layout: str = "repeat"        # the still in every frame ("repeat", SVD) or frame 0 only ("first")
    train: TrainSettings = TrainSettings(steps=1500, batch_size=8, lr=3e-3, warmup=100, weight_decay=0.01)
    start_from: TextVideoRecipe | None = None   # a caption DiT to start from (its trained weights) instead of day 05's

    def __post_init__(self):
        check_choice(self.architecture, "architecture", ("dit", "unet"))
        check_choice(self.still_layout, "still_layout", ("repeat", "first"))
        for name in ("caption_dropout", "still_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1); got {getattr(self, name)!r}")
        if self.still_noise < 0:
            raise ValueError(f"still_noise must be >= 0; got {self.still_noise!r}")
        if self.start_from is not None:
            if not isinstance(self.start_from, TextVideoRecipe) or "unet" in (self.architecture,
                                                                                self.start_from.architecture):
                raise ValueError("start_from must be the TextVideoRecipe of a caption DiT, for a DiT; "
                                 f"got {type(self.start_from).__name__} for architecture {self.architecture!r}")
            if self.start_from.base != self.base or self.start_from.text != self.text:
                raise ValueError("start_from must have this recipe's base and text encoder (its weights are copied)")
        base = self.base.data
        if (self.data.frames, self.data.canvas) != (base.frames, base.canvas):
            raise ValueError(f"data must have the base model's {base.frames} frames of {base.canvas}x{base.canvas}; "
                             f"got {self.data.frames} of {self.data.canvas}x{self.data.canvas}")

    @property
    def model(self):
        """The caption model's config: the base video DiT's (or the U-Net's), with `text`,
        the caption dropout and the first frame's channels."""
        cond = self.base.model.in_channels if self.first_frame else 0
        sizes = self.base.model if self.architecture == "dit" else self.unet
        return replace(sizes, text=self.text, class_dropout=self.caption_dropout, cond_channels=cond)

    def key(self) -> str:
        """8 hex digits naming every field, the base recipe's included."""
        return settings_key(self)


# The caption DiT sees each training clip's first frame half the time (SVD's layout, the
# still in every frame): it learns "continue this motion from here", and its text-to-video
# follows directions far better. Measured on the 2-core CPU at 1,500 steps, DDIM-20, w = 2,
# seen pairs: direction 96-100 % with stills (seeds 0-2) against 56-89 % without.
TEXT_VIDEO_PRESETS = {
    "cpu": TextVideoRecipe(first_frame=True, still_dropout=0.5, still_noise=0.05),
    "gpu": TextVideoRecipe(base=VIDEO_PRESETS["gpu"], text=TextEncoderConfig(dim=128, depth=3),
                           first_frame=True, still_dropout=0.5, still_noise=0.05,
                           train=TrainSettings(steps=4000, batch_size=32, lr=3e-3, warmup=200, weight_decay=0.01)),
}
# Image-to-video: the caption DiT above, fine-tuned with CogVideoX's layout (the still in
# frame 0, zeros elsewhere; noise std up to 0.05, SVD's augmentation), always given a
# still. With the still repeated in every frame, the caption DiT's identity barely carries
# over (frame-to-still correlation 0.61 against 0.60 without a still); 300 steps in frame 0
# only lift it to about 0.68 and frame 0's PSNR from 15 to about 20 dB.
IMAGE_TO_VIDEO_PRESETS = {
    device: replace(text, start_from=text, first_frame=True, still_dropout=0.0, still_noise=0.05,
                    still_layout="first", train=replace(text.train, steps=steps, lr=2e-3, warmup=50))
    for device, text, steps in (("cpu", TEXT_VIDEO_PRESETS["cpu"], 300), ("gpu", TEXT_VIDEO_PRESETS["gpu"], 1500))
}
# The 3D U-Net on the same captions and clips, text-to-video only, trained from scratch
# (there is no day-05 U-Net to start from); the lesson compares it with a DiT from scratch.
UNET_VIDEO_PRESETS = {
    "cpu": replace(TEXT_VIDEO_PRESETS["cpu"], architecture="unet", first_frame=False),
    "gpu": replace(TEXT_VIDEO_PRESETS["gpu"], architecture="unet", first_frame=False,
                   unet=UNet3DConfig(channels=(64, 128, 192))),
}


@dataclass
class TrainedTextVideoDiT:
    """The caption-conditioned video DiT (eval mode), the base it started from, this run
    and the recipe."""
    model: VideoDiT | UNet3D
    base: TrainedVideoDiT
    run: TrainingRun
    recipe: TextVideoRecipe = field(repr=False)

    @property
    def schedule(self) -> NoiseSchedule:
        return self.base.schedule


def new_text_video_model(recipe: TextVideoRecipe, base: VideoDiT | None = None) -> VideoDiT | UNet3D:
    """The caption model of `recipe` (new weights seeded by `recipe.train.seed`). A DiT
    starts from `base`'s weights when given — day 05's label model or a caption model
    (`recipe.start_from`): every weight both share is copied; the input channels `base`
    lacks (the first frame's) start at zero; from a label model, the pooled caption's
    projection gets the base's null-label embedding as its bias. A U-Net starts from
    scratch."""
    torch.manual_seed(recipe.train.seed)
    if recipe.architecture == "unet":
        return UNet3D(recipe.model)
    model = VideoDiT(recipe.model)
    if base is not None:
        from_labels = base.config.text is None
        shared = {k: v for k, v in base.state_dict().items() if not (from_labels and k.startswith("y_embedder."))}
        stem = shared.pop("patch_embed.proj.weight")                    # (D, C [+ cond], pt, ph, pw)
        missing, unexpected = model.load_state_dict(shared, strict=False)
        new_parts = ("y_embedder.", "cross_blocks.", "patch_embed.proj.weight") if from_labels else \
            ("patch_embed.proj.weight",)
        assert not unexpected and all(k.startswith(new_parts) for k in missing), (missing, unexpected)
        with torch.no_grad():
            if from_labels:
                model.y_embedder.pool_proj.bias.copy_(base.y_embedder.table.weight[base.null_label])
            weight = model.patch_embed.proj.weight                      # (D, C + cond, pt, ph, pw)
            weight.zero_()                                              # the condition's channels start at 0
            weight[:, :stem.shape[1]] = stem
    return model


def captioned_loss(model: VideoDiT, batch: tuple[torch.Tensor, torch.Tensor], schedule: NoiseSchedule,
                   recipe: TextVideoRecipe, generator: torch.Generator | None = None) -> torch.Tensor:
    """`video_loss` on (clips (B, C, T, H, W), caption ids (B, L)); with `first_frame`, the
    condition is each clip's first frame (`first_frame_condition`, noise std drawn per clip
    from U(0, still_noise)), replaced by zeros — no still — with probability
    `still_dropout`."""
    videos, _ = batch
    if not recipe.first_frame:
        return video_loss(model, batch, schedule, kind=recipe.base.prediction, generator=generator)
    std = torch.rand(len(videos), generator=generator) * recipe.still_noise
    cond = first_frame_condition(videos, std, generator, layout=recipe.still_layout)
    keep = (torch.rand(len(videos), generator=generator) >= recipe.still_dropout).to(videos)
    return video_loss(model, batch, schedule, kind=recipe.base.prediction, generator=generator,
                      cond=cond * keep.view(-1, 1, 1, 1, 1))


def train_text_video_dit(recipe: TextVideoRecipe | None = None, device: torch.device | None = None,
                         progress: bool = True) -> TrainedTextVideoDiT:
    """Fine-tune the caption model of `recipe` from day 05's video DiT — or from the caption
    DiT of `recipe.start_from`, trained (or loaded) first — or load it. (A U-Net, or a DiT
    with `pretrained=False`, trains from scratch; day 05's model still gives the schedule.)

    Batches: `batch_size` random training clips with their tokenized captions; loss:
    `video_loss` with the base's prediction (captions dropped to the null caption inside
    the model with probability `caption_dropout`)."""
    recipe = recipe or TEXT_VIDEO_PRESETS["cpu"]
    base = train_video_dit(recipe.base, device=device, progress=progress)
    start = base.model if recipe.pretrained else None
    if recipe.start_from is not None:
        start = train_text_video_dit(recipe.start_from, device=device, progress=progress).model
    model = new_text_video_model(recipe, start)
    model = model.to(next(base.model.parameters()).device)
    clips = recipe.data.load("train")
    ids, _ = tokenize(clips.captions)
    data = random_batches(clips.videos, ids, batch_size=recipe.train.batch_size, seed=recipe.train.seed)
    loss = partial(captioned_loss, schedule=base.schedule, recipe=recipe)
    run = load_or_train(f"text_video_{recipe.architecture}", recipe, model, loss, data, device=device,
                        desc=f"text-to-video {recipe.architecture}", progress=progress)
    return TrainedTextVideoDiT(model.eval(), base, run, recipe)
