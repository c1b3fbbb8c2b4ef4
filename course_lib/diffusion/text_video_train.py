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

__all__ = ["TextVideoRecipe", "TEXT_VIDEO_PRESETS", "UNET_VIDEO_PRESETS", "TrainedTextVideoDiT",
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
    train: TrainSettings = TrainSettings(steps=1500, batch_size=8, lr=3e-3, warmup=100, weight_decay=0.01)

    def __post_init__(self):
        check_choice(self.architecture, "architecture", ("dit", "unet"))
        for name in ("caption_dropout", "still_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1); got {getattr(self, name)!r}")
        if self.still_noise < 0:
            raise ValueError(f"still_noise must be >= 0; got {self.still_noise!r}")
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


TEXT_VIDEO_PRESETS = {
    "cpu": TextVideoRecipe(),
    "gpu": TextVideoRecipe(base=VIDEO_PRESETS["gpu"], text=TextEncoderConfig(dim=128, depth=3),
                           train=TrainSettings(steps=4000, batch_size=32, lr=3e-3, warmup=200, weight_decay=0.01)),
}
# The 3D U-Net on the same captions and clips, trained from scratch (there is no day-05 U-Net
# to start from); the lesson compares it with the DiT at a matched budget.
UNET_VIDEO_PRESETS = {
    "cpu": replace(TEXT_VIDEO_PRESETS["cpu"], architecture="unet"),
    "gpu": replace(TEXT_VIDEO_PRESETS["gpu"], architecture="unet", unet=UNet3DConfig(channels=(64, 128, 192))),
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
    starts from `base`'s weights when given: every weight both share is copied, and the
    pooled caption's projection gets the base's null-label embedding as its bias. A U-Net
    starts from scratch."""
    torch.manual_seed(recipe.train.seed)
    if recipe.architecture == "unet":
        return UNet3D(recipe.model)
    model = VideoDiT(recipe.model)
    if base is not None:
        shared = {k: v for k, v in base.state_dict().items() if not k.startswith("y_embedder.")}
        stem = shared.pop("patch_embed.proj.weight")                    # (D, C, pt, ph, pw)
        missing, unexpected = model.load_state_dict(shared, strict=False)
        assert not unexpected and all(k.startswith(("y_embedder.", "cross_blocks.", "patch_embed.proj.weight"))
                                      for k in missing), missing
        with torch.no_grad():
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
    cond = first_frame_condition(videos, std, generator)
    keep = (torch.rand(len(videos), generator=generator) >= recipe.still_dropout).to(videos)
    return video_loss(model, batch, schedule, kind=recipe.base.prediction, generator=generator,
                      cond=cond * keep.view(-1, 1, 1, 1, 1))


def train_text_video_dit(recipe: TextVideoRecipe | None = None, device: torch.device | None = None,
                         progress: bool = True) -> TrainedTextVideoDiT:
    """Fine-tune the caption model of `recipe` from day 05's video DiT (a U-Net: train it
    from scratch; day 05's model still gives the noise schedule), or load it.

    Batches: `batch_size` random training clips with their tokenized captions; loss:
    `video_loss` with the base's prediction (captions dropped to the null caption inside
    the model with probability `caption_dropout`)."""
    recipe = recipe or TEXT_VIDEO_PRESETS["cpu"]
    base = train_video_dit(recipe.base, device=device, progress=progress)
    model = new_text_video_model(recipe, base.model if recipe.pretrained else None)
    model = model.to(next(base.model.parameters()).device)
    clips = recipe.data.load("train")
    ids, _ = tokenize(clips.captions)
    data = random_batches(clips.videos, ids, batch_size=recipe.train.batch_size, seed=recipe.train.seed)
    loss = partial(captioned_loss, schedule=base.schedule, recipe=recipe)
    run = load_or_train(f"text_video_{recipe.architecture}", recipe, model, loss, data, device=device,
                        desc=f"text-to-video {recipe.architecture}", progress=progress)
    return TrainedTextVideoDiT(model.eval(), base, run, recipe)
