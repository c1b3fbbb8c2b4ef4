"""A Wav2Lip-style lip-sync generator: redraw the mouth of a face so it says new audio.

    model = LipSyncGenerator(LipSyncConfig())         # trained by lipsync_train.train_lipsync
    frames = dub(model, face_clip_frames, new_wave16k)       # (T, 3, H, W) in [0, 1]

Wav2Lip (Prajwal et al., 2020) in miniature. For every output frame t the generator sees
- a **reference** frame of the same person (another frame of the clip): who it is;
- the **target** frame with its lower half masked out (`mask_lower_half`): the pose,
  but no mouth, so the mouth can only come from the audio;
- the 16 mel frames (0.2 s) **centred** on frame t (`generator_mel_windows`: video
  frames t - 2 .. t + 2), because the lips move before and after the sound they make.
A small U-Net encodes the 6 stacked image channels; an audio encoder turns the mel
window into a vector a, concatenated at the bottleneck and modulating the bottleneck
and every decoder block by FiLM, h <- h * (1 + gamma(a)) + beta(a) (zero-initialised:
the untrained model is a plain U-Net). The generated frame is then **pasted** into the
pose frame through a feathered mask (`paste`): rows above the mouth come from the pose,
the lower half from the generator, with a 3-row ramp between, so there is no seam.

Loss, on windows of 5 consecutive frames (so the expert can judge them), on the pasted
frames P:

    L = (1 - w) * sum(m * |P - x|) / sum(m)  +  w * E_sync,
    E_sync = -log sim(expert(P_lower), expert(mel))

m weights the mouth box (`mouth_weights`: 1 + mouth_weight there, 1 elsewhere), so the
few pixels that carry the speech are not drowned by the face around them. The expert is
frozen: only the generator learns from it, like a discriminator that is never updated.
When w switches on (Wav2Lip: once the expert's loss on generated frames is below 0.75;
ours: from the first step) is the recipe's, in `lipsync_train.py` with the size presets,
the window batches and `train_lipsync`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.checks import check_shape
from course_lib.sync.avsync import MEL_RATE, VIDEO_FPS
from course_lib.sync.syncnet import MEL_WINDOW, WINDOW, SyncNet, normalize_mel, pad_mel, sync_loss

__all__ = ["mask_lower_half", "paste_weights", "paste", "mouth_weights", "generator_mel_windows",
           "LipSyncConfig", "LipSyncGenerator", "generator_loss", "dub", "n_video_frames"]


def mask_lower_half(frames: Tensor) -> Tensor:
    """A copy of frames (..., C, H, W) with rows H // 2 .. H - 1 set to 0 (the mouth hidden)."""
    if not isinstance(frames, Tensor) or frames.ndim < 3:
        raise ValueError(f"frames must be a (..., C, H, W) tensor; got "
                         f"{tuple(frames.shape) if isinstance(frames, Tensor) else type(frames).__name__}")
    out = frames.clone()
    out[..., frames.shape[-2] // 2:, :] = 0
    return out


def paste_weights(size: int, ramp: int = 3) -> Tensor:
    """(size, 1) weights of the generated frame in the composite,
    w_r = clamp((r - (size/2 - ramp + 0.5)) / ramp, 0, 1): 0 up to row size/2 - ramp + 0.5
    (from the pose frame), 1 from row size/2 + 1 on (from the generator), a linear ramp
    between. Size 32, ramp 3: rows 14, 15, 16 take 1/6, 1/2, 5/6 of the generated frame, so
    the first masked row (16) still keeps 1/6 of the pose frame's pixels."""
    rows = torch.arange(size, dtype=torch.float32)
    return ((rows - (size / 2 - ramp + 0.5)) / ramp).clamp(0, 1)[:, None]


def paste(generated: Tensor, pose: Tensor) -> Tensor:
    """The generated frames blended into the pose frames, both (..., C, H, W):
    w * generated + (1 - w) * pose with w = paste_weights(H) per row (no hard seam)."""
    w = paste_weights(generated.shape[-2]).to(generated)
    return w * generated + (1 - w) * pose


def mouth_weights(size: int, mouth_weight: float) -> Tensor:
    """(size, size) L1 weights: 1 + mouth_weight on the mouth box (the lower half, central
    half of the columns), 1 elsewhere."""
    w = torch.ones(size, size)
    w[size // 2:, size // 4: size - size // 4] += mouth_weight
    return w


def generator_mel_windows(mel: Tensor, n: int, lead: int) -> Tensor:
    """(n, n_mels, 16) mel windows for n video frames, window t starting `lead` video
    frames early: mel frames round((t - lead) * 3.2) .. + 15, i.e. video frames
    t - lead .. t - lead + 4 (lead 2: centred on t). mel: (n_mels, F). Before the start
    and after the end the windows hear silence (the mel's quietest value)."""
    mel = pad_mel(mel, n)                                                        # the end fits
    mel = F.pad(mel, (MEL_WINDOW, 0), value=float(mel.min()))                     # silence before
    start = torch.floor((torch.arange(n) - lead).double() * MEL_RATE / VIDEO_FPS + 0.5).long() + MEL_WINDOW
    return mel[:, start[:, None] + torch.arange(MEL_WINDOW)].permute(1, 0, 2)


@dataclass(frozen=True)
class LipSyncConfig:
    """Sizes: frame side, image channels, base conv width, audio embedding size, mel bands;
    mel_lead: how many video frames before its frame the mel window starts (2: centred)."""
    size: int = 32
    channels: int = 3
    width: int = 12
    audio_dim: int = 64
    n_mels: int = 80
    mel_lead: int = 2

    def __post_init__(self):
        if not isinstance(self.mel_lead, int) or not 0 <= self.mel_lead < WINDOW:
            raise ValueError(f"mel_lead must be an int in [0, {WINDOW}) so that window t still hears frame t; "
                             f"got {self.mel_lead!r}")


def _block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1), nn.BatchNorm2d(c_out), nn.ReLU())


class LipSyncGenerator(nn.Module):
    """(reference (B, C, H, W), masked target (B, C, H, W), mel (B, 80, 16)) -> frame (B, C, H, W).

    U-Net: 6C -> w (H) -> 2w (H/2) -> 4w (H/4) -> 4w (H/8), the audio vector a (A) is
    concatenated at the bottleneck, decoded back with skip connections; the bottleneck and
    each decoder block are modulated by FiLM, h * (1 + gamma(a)) + beta(a); a sigmoid gives
    pixels in [0, 1]. Paste the output into the pose frame with `paste`.
    """

    def __init__(self, config: LipSyncConfig = LipSyncConfig()):
        super().__init__()
        self.config = c = config
        if c.size % 8:
            raise ValueError(f"size must be a multiple of 8; got {c.size}")
        w, a = c.width, c.audio_dim
        self.enc1 = _block(2 * c.channels, w)          # (B, w, H, W)
        self.enc2 = _block(w, 2 * w, 2)                # (B, 2w, H/2, W/2)
        self.enc3 = _block(2 * w, 4 * w, 2)            # (B, 4w, H/4, W/4)
        self.enc4 = _block(4 * w, 4 * w, 2)            # (B, 4w, H/8, W/8)
        self.audio = nn.Sequential(                    # (B, 80, 16)
            nn.Conv1d(c.n_mels, a, 3, 1, 1), nn.ReLU(),
            nn.Conv1d(a, a, 3, 2, 1), nn.ReLU(),                        # (B, A, 8)
            nn.Conv1d(a, a, 3, 2, 1), nn.ReLU(),                        # (B, A, 4)
            nn.Flatten(), nn.Linear(a * MEL_WINDOW // 4, a), nn.ReLU())  # (B, A)
        self.mid = _block(4 * w + a, 4 * w)
        self.dec3 = _block(8 * w, 2 * w)               # up to H/4, with enc3
        self.dec2 = _block(4 * w, w)                   # up to H/2, with enc2
        self.dec1 = _block(2 * w, w)                   # up to H, with enc1
        self.out = nn.Conv2d(w, c.channels, 1)
        # FiLM: (gamma, beta) for mid, dec3, dec2, dec1 from the audio vector
        self.film = nn.ModuleList([nn.Linear(a, 2 * ch) for ch in (4 * w, 2 * w, w, w)])
        for layer in self.film:                        # gamma = beta = 0: a plain U-Net at first
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def modulate(self, i: int, h: Tensor, a: Tensor) -> Tensor:
        """FiLM layer i: h (B, ch, h, w) * (1 + gamma) + beta, (gamma, beta) = film[i](a) (B, 2ch)."""
        gamma, beta = self.film[i](a)[:, :, None, None].chunk(2, dim=1)
        return h * (1 + gamma) + beta

    def forward(self, reference: Tensor, masked: Tensor, mel: Tensor) -> Tensor:
        c = self.config
        check_shape(reference, "reference", "B C H W", C=c.channels, H=c.size, W=c.size)
        check_shape(masked, "masked", "B C H W", C=c.channels, H=c.size, W=c.size)
        check_shape(mel, "mel", "B n_mels T", n_mels=c.n_mels, T=MEL_WINDOW)
        x = torch.cat([reference, masked], dim=1) * 2 - 1            # (B, 2C, H, W)
        e1 = self.enc1(x)                                            # (B, w, H, W)
        e2 = self.enc2(e1)                                           # (B, 2w, H/2, W/2)
        e3 = self.enc3(e2)                                           # (B, 4w, H/4, W/4)
        e4 = self.enc4(e3)                                           # (B, 4w, H/8, W/8)
        a = self.audio(normalize_mel(mel))                           # (B, A)
        tiled = a[:, :, None, None].expand(-1, -1, *e4.shape[2:])    # (B, A, H/8, W/8)
        h = self.modulate(0, self.mid(torch.cat([e4, tiled], dim=1)), a)          # (B, 4w, H/8, W/8)
        up = lambda t: F.interpolate(t, scale_factor=2.0, mode="nearest")
        h = self.modulate(1, self.dec3(torch.cat([up(h), e3], dim=1)), a)         # (B, 2w, H/4, W/4)
        h = self.modulate(2, self.dec2(torch.cat([up(h), e2], dim=1)), a)         # (B, w, H/2, W/2)
        h = self.modulate(3, self.dec1(torch.cat([up(h), e1], dim=1)), a)         # (B, w, H, W)
        return torch.sigmoid(self.out(h))                            # (B, C, H, W)


# ---------------------------------------------------------------- the loss

def generator_loss(model: LipSyncGenerator, expert: SyncNet, batch: dict[str, Tensor],
                   sync_weight: float, mouth_weight: float = 0.0) -> tuple[Tensor, dict[str, Tensor]]:
    """(total, {"l1": L1, "sync": E_sync}) on a batch of 5-frame windows (see the module
    docstring); total = (1 - sync_weight) L1 + sync_weight E_sync.

    batch: targets (B, 5, C, H, W), references (B, 5, C, H, W), mels (B, 5, 80, 16) (each
    frame's generator window), sync_mel (B, 80, 16) (the expert's window of the first
    frame), as `lipsync_train.window_batch` draws them. The generated frames are pasted into
    the targets (`paste`) before both terms; L1 is weighted by `mouth_weights(H,
    mouth_weight)` (normalised by the weights' sum). The expert loss is
    sync_loss(expert(pasted window), expert(mel), y = 1): the lips must look in sync with
    the audio to the frozen expert. The parts are returned whatever the weight, so
    training can log E_sync before it counts.
    """
    targets = batch["targets"]                                   # (B, 5, C, H, W)
    b = targets.shape[0]
    flat = targets.flatten(0, 1)                                 # (5B, C, H, W)
    generated = paste(model(batch["references"].flatten(0, 1), mask_lower_half(flat),
                            batch["mels"].flatten(0, 1)), flat)  # (5B, C, H, W)
    weights = mouth_weights(flat.shape[-1], mouth_weight).to(flat)                 # (H, W)
    l1 = ((generated - flat).abs() * weights).mean() / weights.mean()
    window = generated.unflatten(0, (b, WINDOW)).flatten(1, 2)   # (B, 5C, H, W)
    e_sync = sync_loss(expert.embed_face(window), expert.embed_audio(batch["sync_mel"]),
                       torch.ones(b, device=window.device))
    return (1 - sync_weight) * l1 + sync_weight * e_sync, {"l1": l1, "sync": e_sync}


# ---------------------------------------------------------------- dubbing

def n_video_frames(n_samples: int, sample_rate: int = 16_000, fps: int = VIDEO_FPS) -> int:
    """Video frames covered by a wave: floor(n_samples * fps / sample_rate)."""
    return n_samples * fps // sample_rate


@torch.no_grad()
def dub(model: LipSyncGenerator, face: Tensor, wave: Tensor, sample_rate: int = 16_000,
        reference: int = 0, batch_size: int = 64) -> Tensor:
    """Make `face` say `wave`: frames (T, C, H, W) in [0, 1], T = n_video_frames(len(wave)):
    each pose frame with its lower half repainted from the audio (`paste`).

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
    mels = generator_mel_windows(log_mel(wave.float()), n, model.config.mel_lead)   # (T, 80, 16)
    out = [model(ref[i:i + batch_size].to(device), mask_lower_half(poses[i:i + batch_size]).to(device),
                 mels[i:i + batch_size].to(device)).cpu() for i in range(0, n, batch_size)]
    model.train(was_training)
    return paste(torch.cat(out), poses)
