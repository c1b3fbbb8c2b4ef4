"""A Wav2Lip-style lip-sync generator: redraw the mouth of a face so it says new audio.

    expert = syncnet.train_syncnet()
    gen = train_lipsync(expert)                       # cached under artifacts/checkpoints/
    frames = dub(gen.model, face_clip_frames, new_wave16k)    # (T, 3, H, W) in [0, 1]

Wav2Lip (Prajwal et al., 2020) in miniature. For every output frame t the generator sees
- a **reference** frame of the same person (another frame of the clip): who it is;
- the **target** frame with its lower half masked out (`mask_lower_half`): the pose,
  but no mouth, so the mouth can only come from the audio;
- the 16 mel frames (0.2 s) starting at frame t (`avsync.mel_windows`): what is said.
A small U-Net encodes the 6 stacked image channels, an audio encoder turns the mel
window into a vector that is added to the bottleneck, and the decoder paints the frame.

Loss, on windows of 5 consecutive frames (so the expert can judge them):

    L = (1 - w) * |G - x|_1  +  w * E_sync,   E_sync = -log sim(expert(G_lower), expert(mel))

w = 0 until the expert's sync loss on the generated frames falls below `sync_start`
(Wav2Lip: 0.75), then `sync_weight` (Wav2Lip: 0.03). The expert is frozen: only the
generator learns from it, like a discriminator that is never updated.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.runtime import settings_key
from course_lib.sync.avsync import VIDEO_FPS, mel_windows
from course_lib.sync.syncnet import (MEL_WINDOW, WINDOW, FaceWindows, SyncNet, TrainedSyncNet,
                                     normalize_mel, pad_mel, sync_loss)

__all__ = ["mask_lower_half", "LipSyncConfig", "LipSyncGenerator", "LipSyncRecipe",
           "TrainedLipSync", "train_lipsync", "generator_loss", "dub", "n_video_frames"]


def mask_lower_half(frames: Tensor) -> Tensor:
    """A copy of frames (..., C, H, W) with rows H // 2 .. H - 1 set to 0 (the mouth hidden)."""
    if not isinstance(frames, Tensor) or frames.ndim < 3:
        raise ValueError(f"frames must be a (..., C, H, W) tensor; got "
                         f"{tuple(frames.shape) if isinstance(frames, Tensor) else type(frames).__name__}")
    out = frames.clone()
    out[..., frames.shape[-2] // 2:, :] = 0
    return out


@dataclass
class LipSyncConfig:
    """Sizes: frame side, image channels, base conv width, audio embedding size."""
    size: int = 32
    channels: int = 3
    width: int = 12
    audio_dim: int = 64
    n_mels: int = 80


def _block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1), nn.BatchNorm2d(c_out), nn.ReLU())


class LipSyncGenerator(nn.Module):
    """(reference (B, C, H, W), masked target (B, C, H, W), mel (B, 80, 16)) -> frame (B, C, H, W).

    U-Net: 6C -> w (H) -> 2w (H/2) -> 4w (H/4) -> 4w (H/8) bottleneck + audio vector,
    decoded back with skip connections; a sigmoid gives pixels in [0, 1].
    """

    def __init__(self, config: LipSyncConfig = LipSyncConfig()):
        super().__init__()
        self.config = c = config
        if c.size % 8:
            raise ValueError(f"size must be a multiple of 8; got {c.size}")
        w = c.width
        self.enc1 = _block(2 * c.channels, w)          # (B, w, H, W)
        self.enc2 = _block(w, 2 * w, 2)                # (B, 2w, H/2, W/2)
        self.enc3 = _block(2 * w, 4 * w, 2)            # (B, 4w, H/4, W/4)
        self.enc4 = _block(4 * w, 4 * w, 2)            # (B, 4w, H/8, W/8)
        self.audio = nn.Sequential(                    # (B, 80, 16)
            nn.Conv1d(c.n_mels, c.audio_dim, 3, 1, 1), nn.ReLU(),
            nn.Conv1d(c.audio_dim, c.audio_dim, 3, 2, 1), nn.ReLU(),     # (B, A, 8)
            nn.Conv1d(c.audio_dim, c.audio_dim, 3, 2, 1), nn.ReLU(),     # (B, A, 4)
            nn.Flatten(), nn.Linear(c.audio_dim * MEL_WINDOW // 4, 4 * w))
        self.mid = _block(8 * w, 4 * w)
        self.dec3 = _block(8 * w, 2 * w)               # up to H/4, with enc3
        self.dec2 = _block(4 * w, w)                   # up to H/2, with enc2
        self.dec1 = _block(2 * w, w)                   # up to H, with enc1
        self.out = nn.Conv2d(w, c.channels, 1)

    def forward(self, reference: Tensor, masked: Tensor, mel: Tensor) -> Tensor:
        c = self.config
        shape = (c.channels, c.size, c.size)
        for name, x in (("reference", reference), ("masked", masked)):
            if x.ndim != 4 or tuple(x.shape[1:]) != shape:
                raise ValueError(f"{name} must be (B, {c.channels}, {c.size}, {c.size}); "
                                 f"got {tuple(x.shape)}")
        if mel.ndim != 3 or tuple(mel.shape[1:]) != (c.n_mels, MEL_WINDOW):
            raise ValueError(f"mel must be (B, {c.n_mels}, {MEL_WINDOW}); got {tuple(mel.shape)}")
        x = torch.cat([reference, masked], dim=1) * 2 - 1            # (B, 2C, H, W)
        e1 = self.enc1(x)                                            # (B, w, H, W)
        e2 = self.enc2(e1)                                           # (B, 2w, H/2, W/2)
        e3 = self.enc3(e2)                                           # (B, 4w, H/4, W/4)
        e4 = self.enc4(e3)                                           # (B, 4w, H/8, W/8)
        a = self.audio(normalize_mel(mel))[:, :, None, None]         # (B, 4w, 1, 1)
        h = self.mid(torch.cat([e4, a.expand_as(e4)], dim=1))        # (B, 4w, H/8, W/8)
        up = lambda t: F.interpolate(t, scale_factor=2.0, mode="nearest")
        h = self.dec3(torch.cat([up(h), e3], dim=1))                 # (B, 2w, H/4, W/4)
        h = self.dec2(torch.cat([up(h), e2], dim=1))                 # (B, w, H/2, W/2)
        h = self.dec1(torch.cat([up(h), e1], dim=1))                 # (B, w, H, W)
        return torch.sigmoid(self.out(h))                            # (B, C, H, W)


# ---------------------------------------------------------------- training

@dataclass
class LipSyncRecipe:
    """Everything that determines the trained generator (its hash names the checkpoint)."""
    steps: int = 500
    batch_size: int = 8              # windows of 5 frames: 40 frames per step
    lr: float = 2e-3
    sync_weight: float = 0.03        # Wav2Lip's weight, once switched on
    sync_start: float = 0.75         # switch on when the running expert loss drops below
    seed: int = 17
    config: dict = field(default_factory=lambda: asdict(LipSyncConfig()))

    def key(self, expert: TrainedSyncNet) -> str:
        return settings_key({"generator": asdict(self), "expert": expert.recipe.key()})


@dataclass
class TrainedLipSync:
    """model (eval mode), per-step total loss, L1 and expert loss, the step the sync loss started."""
    model: LipSyncGenerator
    history: list[float]
    l1_history: list[float]
    sync_history: list[float]
    sync_started: int | None
    recipe: LipSyncRecipe


def _window_batch(windows: FaceWindows, batch_size: int, rng: random.Random) -> dict[str, Tensor]:
    """batch_size windows of 5 frames: targets (B, 5, C, H, W), references (B, 5, C, H, W)
    (random frames of the same clips), mels (B, 5, 80, 16) (one window per frame) and
    sync_mel (B, 80, 16) (the window of the first frame, for the expert)."""
    targets, refs, mels, sync_mels = [], [], [], []
    for _ in range(batch_size):
        clip, t = rng.choice(windows.positions)
        frames = torch.arange(t, t + WINDOW)
        targets.append(windows.face(clip, torch.tensor([t])).unflatten(1, (WINDOW, -1)))
        r = torch.tensor([rng.randrange(windows.lengths[clip]) for _ in range(WINDOW)])
        refs.append(windows.frames[windows.frame_start[clip] + r][None])
        mels.append(windows.mel(clip, frames)[None])
        sync_mels.append(windows.mel(clip, torch.tensor([t])))
    return {"targets": torch.cat(targets), "references": torch.cat(refs),
            "mels": torch.cat(mels), "sync_mel": torch.cat(sync_mels)}


def generator_loss(model: LipSyncGenerator, expert: SyncNet, batch: dict[str, Tensor],
                   sync_weight: float) -> tuple[Tensor, Tensor, Tensor]:
    """(total, L1, expert sync loss) on a batch of 5-frame windows (see the module docstring).

    The expert loss is sync_loss(expert(generated window), expert(mel), y = 1): the
    generated lips must look in sync with the audio to the frozen expert.
    """
    targets = batch["targets"]                                   # (B, 5, C, H, W)
    b = targets.shape[0]
    flat = targets.flatten(0, 1)                                 # (5B, C, H, W)
    generated = model(batch["references"].flatten(0, 1), mask_lower_half(flat),
                      batch["mels"].flatten(0, 1))               # (5B, C, H, W)
    l1 = (generated - flat).abs().mean()
    window = generated.unflatten(0, (b, WINDOW)).flatten(1, 2)   # (B, 5C, H, W)
    e_sync = sync_loss(expert.embed_face(window), expert.embed_audio(batch["sync_mel"]),
                       torch.ones(b, device=window.device))
    return (1 - sync_weight) * l1 + sync_weight * e_sync, l1, e_sync


def train_lipsync(expert: TrainedSyncNet, recipe: LipSyncRecipe | None = None,
                  checkpoint: str | None = "lipsync", device: torch.device | None = None,
                  progress: bool = True) -> TrainedLipSync:
    """Train the generator with `train.fit` against the frozen `expert`, or load it.

    Data: the train clips of the expert's data set. The sync loss is switched on (weight
    `sync_weight`) at the first step where the mean expert loss of the last 20 steps is
    below `sync_start`. Checkpoint: artifacts/checkpoints/{checkpoint}_{key}.pt, the key
    hashing this recipe and the expert's.
    """
    from course_lib.data.faces import load_faces
    from course_lib.runtime import artifacts_dir, get_device
    from course_lib.train import fit

    recipe = recipe or LipSyncRecipe()
    device = device or get_device()
    data = load_faces(expert.recipe.n_clips, size=expert.recipe.config["size"], progress=progress)
    train = FaceWindows(data.split("train"))
    torch.manual_seed(recipe.seed)
    model = LipSyncGenerator(LipSyncConfig(**recipe.config))
    judge = expert.model.to(device).eval().requires_grad_(False)
    log = {"l1": [], "sync": [], "started": None}
    name = None if checkpoint is None else f"{checkpoint}_{recipe.key(expert)}"
    log_path = None if name is None else artifacts_dir("checkpoints") / f"{name}_log.pt"
    if log_path is not None and log_path.exists():
        log = torch.load(log_path, weights_only=False)

    def batches(step: int) -> dict[str, Tensor]:
        return _window_batch(train, recipe.batch_size, random.Random(recipe.seed * 1_000_003 + step))

    def loss_fn(model: LipSyncGenerator, batch: dict[str, Tensor]) -> Tensor:
        recent = log["sync"][-20:]
        if log["started"] is None and len(recent) == 20 and sum(recent) / 20 < recipe.sync_start:
            log["started"] = len(log["sync"])
        weight = recipe.sync_weight if log["started"] is not None else 0.0
        total, l1, e_sync = generator_loss(model, judge, batch, weight)
        log["l1"].append(l1.item())
        log["sync"].append(e_sync.item())
        return total

    history = fit(model, loss_fn, batches, steps=recipe.steps, lr=recipe.lr, device=device,
                  checkpoint=name, checkpoint_every=max(recipe.steps, 1), desc="lipsync",
                  progress=progress)
    if log_path is not None:
        torch.save(log, log_path)
    model.cpu().eval()
    return TrainedLipSync(model, history, log["l1"], log["sync"], log["started"], recipe)


# ---------------------------------------------------------------- dubbing

def n_video_frames(n_samples: int, sample_rate: int = 16_000, fps: int = VIDEO_FPS) -> int:
    """Video frames covered by a wave: floor(n_samples * fps / sample_rate)."""
    return n_samples * fps // sample_rate


@torch.no_grad()
def dub(model: LipSyncGenerator, face: Tensor, wave: Tensor, sample_rate: int = 16_000,
        reference: int = 0, batch_size: int = 64) -> Tensor:
    """Make `face` say `wave`: frames (T, C, H, W) in [0, 1], T = n_video_frames(len(wave)).

    face: a still (C, H, W) or a clip (T0, C, H, W) in [0, 1]; a clip gives the pose of
    each output frame (looped when shorter than the audio), a still is used for all.
    wave: (N,) float at 16 kHz (resample first). reference: which frame of `face` shows
    the identity to the generator.
    """
    from course_lib.data.speech import log_mel

    if not isinstance(face, Tensor) or face.ndim not in (3, 4):
        raise ValueError(f"face must be a (C, H, W) still or a (T, C, H, W) clip; got "
                         f"{tuple(face.shape) if isinstance(face, Tensor) else type(face).__name__}")
    if not isinstance(wave, Tensor) or wave.ndim != 1:
        raise ValueError(f"wave must be a (N,) tensor at 16 kHz; got "
                         f"{tuple(wave.shape) if isinstance(wave, Tensor) else type(wave).__name__}")
    if sample_rate != 16_000:
        raise ValueError(f"sample_rate must be 16000 (resample the wave first); got {sample_rate}")
    clip = face[None] if face.ndim == 3 else face
    n = n_video_frames(wave.shape[0], sample_rate)
    if n < 1:
        raise ValueError(f"wave is shorter than one video frame ({sample_rate // VIDEO_FPS} samples)")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    poses = clip[torch.arange(n) % clip.shape[0]].float()                    # (T, C, H, W)
    ref = clip[reference % clip.shape[0]].float()[None].expand_as(poses)     # (T, C, H, W)
    mels = mel_windows(pad_mel(log_mel(wave.float()), n), n, MEL_WINDOW)    # (T, 80, 16)
    out = [model(ref[i:i + batch_size].to(device), mask_lower_half(poses[i:i + batch_size]).to(device),
                 mels[i:i + batch_size].to(device)).cpu() for i in range(0, n, batch_size)]
    model.train(was_training)
    return torch.cat(out)
