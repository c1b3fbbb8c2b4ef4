"""Procedural talking faces: small videos whose mouth follows eSpeak NG's phonemes.

    clip = make_clip("turn on the kitchen lights", voice="en-us", style=FACE_STYLES[2])
    clip.video()        # (T, 3, 32, 32) float32 in [0, 1], 25 frames per second
    clip.wave           # (N,) float32 at 16 kHz, N // 640 == T
    clip.mel            # (80, F) log-mel at 80 frames/s (data.speech.log_mel)
    clip.visemes        # T viseme names ("aa", "PP", ...); clip.mouth: (T, 3) parameters
    faces = load_faces()               # a cached, deterministic data set with splits

How a clip is made (`make_clip`):
1. eSpeak NG speaks the text and reports when each phoneme starts (day 09's binding);
   the wave is resampled from 22,050 Hz to 16 kHz and turned into a log-mel.
2. Each phoneme maps to a **viseme**, the mouth shape seen while saying it
   (`viseme_of`: IPA phoneme -> one of the 15 visemes of the MPEG-4 / Oculus set), and
   each viseme to three **mouth parameters** in [0, 1] (`VISEME_SHAPES`): opening (jaw
   drop), width (lip spread) and rounding (lip protrusion).
3. The parameters form a step function over time; smoothing it with a Gaussian of
   `SMOOTH_S` seconds imitates coarticulation (lips move towards the next shape before
   its sound starts). Video frame t shows the mouth at time (t + 0.5) / 25 s.
4. `render_face` draws each frame with anti-aliased ellipses: face, hair, eyes that
   blink, nose, lips and a dark mouth opening, on a coloured background; the head sways
   by about a pixel. A `FaceStyle` fixes skin tone, face shape, eye spacing, hair...

Everything is a pure function of (text, voice, style, seed): regeneration gives
identical clips. `load_faces` caches the data set under artifacts/faces_v{VERSION}/.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from course_lib.audio.io import resample
from course_lib.runtime import artifacts_dir, torch_threads
from course_lib.speech import espeak

__all__ = ["VERSION", "FPS", "SAMPLE_RATE", "SAMPLES_PER_FRAME", "SIZE", "VISEMES",
           "VISEME_SHAPES", "PHONEME_TO_VISEME", "SMOOTH_S", "FaceStyle", "FACE_STYLES",
           "FaceClip", "FaceDataset", "viseme_of", "mouth_track", "render_face",
           "make_clip", "load_faces", "clip_texts", "mouth_darkness", "mouth_height"]

VERSION = 2
FPS = 25                        # video frames per second
SAMPLE_RATE = 16_000            # audio, as data.speech
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS   # 640
SIZE = 32                       # frames are SIZE x SIZE RGB
SMOOTH_S = 0.03                 # coarticulation: std of the Gaussian smoothing, seconds
TRACK_RATE = 400                # Hz at which the step function is smoothed

# ---------------------------------------------------------------- visemes

#: The 15 visemes of the MPEG-4 / Oculus lip-sync set.
VISEMES = ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR",
           "aa", "E", "I", "O", "U")

#: Mouth parameters (opening, width, rounding), each in [0, 1], per viseme.
VISEME_SHAPES: dict[str, tuple[float, float, float]] = {
    "sil": (0.00, 0.45, 0.00),   # closed, relaxed
    "PP": (0.00, 0.40, 0.10),    # p b m: lips pressed together
    "FF": (0.12, 0.50, 0.00),    # f v: lower lip under the teeth
    "TH": (0.25, 0.55, 0.00),    # θ ð: tongue between the teeth
    "DD": (0.30, 0.55, 0.00),    # t d l ɾ: tongue tip on the ridge
    "kk": (0.40, 0.50, 0.00),    # k ɡ ŋ h: back of the tongue, jaw half open
    "CH": (0.30, 0.30, 0.70),    # ʃ ʒ tʃ dʒ: lips pushed out
    "SS": (0.15, 0.70, 0.00),    # s z: teeth together, lips spread
    "nn": (0.22, 0.50, 0.00),    # n: like DD, a little more closed
    "RR": (0.28, 0.30, 0.60),    # ɹ w j: rounded, narrow
    "aa": (1.00, 0.60, 0.00),    # ɑ æ ʌ aɪ: jaw wide open
    "E": (0.60, 0.65, 0.00),     # ɛ ə eɪ ɜ: half open
    "I": (0.30, 1.00, 0.00),     # i ɪ: spread
    "O": (0.70, 0.35, 0.80),     # ɔ oʊ: open and round
    "U": (0.28, 0.20, 1.00),     # u ʊ: small and round
}

#: IPA phoneme (stress marks removed) -> viseme. Covers eSpeak NG's en-us inventory
#: (and en-gb's extra vowels); `viseme_of` falls back on the first sound for others.
PHONEME_TO_VISEME: dict[str, str] = {
    espeak.PAUSE: "sil", "ʔ": "sil",
    # consonants
    "p": "PP", "b": "PP", "m": "PP", "m̩": "PP",
    "f": "FF", "v": "FF",
    "θ": "TH", "ð": "TH",
    "t": "DD", "d": "DD", "l": "DD", "ɾ": "DD", "əl": "DD", "l̩": "DD", "ɬ": "DD",
    "k": "kk", "ɡ": "kk", "g": "kk", "ŋ": "kk", "h": "kk", "x": "kk",
    "ʃ": "CH", "ʒ": "CH", "tʃ": "CH", "dʒ": "CH",
    "s": "SS", "z": "SS",
    "n": "nn", "n̩": "nn",
    "ɹ": "RR", "r": "RR", "w": "RR", "j": "RR",
    # open vowels
    "ɑ": "aa", "ɑː": "aa", "a": "aa", "aː": "aa", "æ": "aa", "ʌ": "aa", "ɐ": "aa",
    "aɪ": "aa", "aʊ": "aa", "ɑːɹ": "aa", "aɪɚ": "aa", "aɪə": "aa", "aʊɚ": "aa", "aʊə": "aa",
    # mid vowels
    "ɛ": "E", "e": "E", "eɪ": "E", "ə": "E", "ɚ": "E", "ɜː": "E", "ɜ": "E", "ɛɹ": "E",
    "eə": "E", "ɛː": "E", "ᵻ": "E",
    # close front vowels
    "i": "I", "iː": "I", "ɪ": "I", "iə": "I", "ɪɹ": "I", "ɪə": "I", "ɪː": "I",
    # rounded vowels
    "ɔ": "O", "ɔː": "O", "o": "O", "oʊ": "O", "əʊ": "O", "ɔɪ": "O", "ɔːɹ": "O", "ɒ": "O",
    "oː": "O", "ɔɚ": "O",
    "u": "U", "uː": "U", "ʊ": "U", "ʊɹ": "U", "ʊə": "U", "ju": "U", "juː": "U",
}
_STRESS = str.maketrans("", "", "ˈˌ")


def viseme_of(symbol: str, strict: bool = False) -> str:
    """The viseme of one eSpeak phoneme event symbol (IPA, stress marks allowed).

    Lookup: the symbol without stress marks; then without length marks (ː); then, unless
    `strict`, its longest known prefix (a diphthong looks like its start), else "E".
    strict=True raises ValueError for a symbol not in PHONEME_TO_VISEME.
    """
    if not isinstance(symbol, str):
        raise TypeError(f"symbol must be a str; got {type(symbol).__name__}")
    key = symbol.translate(_STRESS)
    for candidate in (key, key.replace("ː", "")):
        if candidate in PHONEME_TO_VISEME:
            return PHONEME_TO_VISEME[candidate]
    if strict:
        raise ValueError(f"no viseme for phoneme {symbol!r}; add it to PHONEME_TO_VISEME")
    for n in range(len(key) - 1, 0, -1):
        if key[:n] in PHONEME_TO_VISEME:
            return PHONEME_TO_VISEME[key[:n]]
    return "E"


def mouth_track(events: Sequence[espeak.PhonemeEvent], n_samples: int, sample_rate: int,
                n_frames: int, fps: int = FPS, smooth_s: float = SMOOTH_S) -> tuple[list[str], torch.Tensor]:
    """Per-frame visemes and smoothed mouth parameters from phoneme events.

    events: eSpeak's phoneme events (start in samples at `sample_rate`), n_samples: the
    wave's length. Frame t shows time tau_t = (t + 0.5) / fps. Returns
    visemes: n_frames names (the viseme sounding at tau_t, "sil" outside the speech) and
    mouth: (n_frames, 3) float32 [opening, width, rounding] =
    (g * p)(tau_t), the step function p(tau) of the sounding viseme's VISEME_SHAPES
    convolved with a Gaussian g of std `smooth_s` seconds.
    """
    if n_frames < 0:
        raise ValueError(f"n_frames must be >= 0; got {n_frames}")
    # The step function on a fine grid, with a margin of silence on both sides.
    margin = 4 * smooth_s
    length_s = max(n_samples / sample_rate, n_frames / fps)
    grid = np.arange(-margin, length_s + margin, 1.0 / TRACK_RATE)
    starts = np.array([e.start / sample_rate for e in events], dtype=np.float64)
    names = [viseme_of(e.symbol) for e in events]
    index = np.searchsorted(starts, grid, side="right") - 1       # sounding event per grid time
    inside = (index >= 0) & (grid < n_samples / sample_rate)
    shapes = np.array([VISEME_SHAPES[n] for n in names] or [VISEME_SHAPES["sil"]])
    steps = np.where(inside[:, None], shapes[np.clip(index, 0, None)], VISEME_SHAPES["sil"])
    if smooth_s > 0:
        half = int(math.ceil(3 * smooth_s * TRACK_RATE))
        taps = np.exp(-0.5 * (np.arange(-half, half + 1) / (smooth_s * TRACK_RATE)) ** 2)
        taps /= taps.sum()
        padded = np.pad(steps, ((half, half), (0, 0)), mode="edge")
        steps = np.stack([np.convolve(padded[:, c], taps, mode="valid") for c in range(3)], 1)
    tau = (np.arange(n_frames) + 0.5) / fps
    mouth = np.stack([np.interp(tau, grid, steps[:, c]) for c in range(3)], 1)
    at = np.searchsorted(starts, tau, side="right") - 1
    visemes = [names[i] if i >= 0 and t < n_samples / sample_rate else "sil" for i, t in zip(at, tau)]
    return visemes, torch.from_numpy(mouth.astype(np.float32)).reshape(n_frames, 3)


# ---------------------------------------------------------------- drawing

@dataclass(frozen=True)
class FaceStyle:
    """How a face looks. Colours are RGB in [0, 1]; sizes are fractions of the frame."""
    skin: tuple[float, float, float] = (0.93, 0.76, 0.62)
    hair: tuple[float, float, float] = (0.25, 0.16, 0.10)
    background: tuple[float, float, float] = (0.55, 0.70, 0.85)
    lips: tuple[float, float, float] = (0.75, 0.35, 0.35)
    face_width: float = 0.34        # half-width of the face ellipse
    face_height: float = 0.44       # half-height
    eye_spacing: float = 0.13       # eye centre to face centre, horizontally
    eye_size: float = 0.05
    mouth_width: float = 0.13       # half-width of the mouth at width = 0.5
    hairline: float = 0.22          # hair covers the face above centre - hairline


FACE_STYLES: tuple[FaceStyle, ...] = (
    FaceStyle(),
    FaceStyle(skin=(0.55, 0.38, 0.26), hair=(0.05, 0.04, 0.04), background=(0.90, 0.85, 0.60),
              lips=(0.45, 0.22, 0.20), face_width=0.37, face_height=0.42, eye_spacing=0.15),
    FaceStyle(skin=(0.98, 0.85, 0.75), hair=(0.85, 0.70, 0.30), background=(0.45, 0.65, 0.45),
              face_width=0.31, face_height=0.46, eye_spacing=0.11, mouth_width=0.11),
    FaceStyle(skin=(0.78, 0.58, 0.40), hair=(0.30, 0.30, 0.32), background=(0.80, 0.55, 0.55),
              lips=(0.60, 0.30, 0.28), face_width=0.36, face_height=0.40, eye_size=0.06,
              hairline=0.26),
    FaceStyle(skin=(0.36, 0.24, 0.17), hair=(0.10, 0.08, 0.07), background=(0.70, 0.70, 0.72),
              lips=(0.35, 0.18, 0.16), face_width=0.33, face_height=0.45, eye_spacing=0.14,
              mouth_width=0.14),
    FaceStyle(skin=(0.90, 0.70, 0.55), hair=(0.55, 0.20, 0.08), background=(0.35, 0.40, 0.60),
              face_width=0.35, face_height=0.43, eye_spacing=0.12, eye_size=0.045,
              hairline=0.18),
    FaceStyle(skin=(0.68, 0.50, 0.36), hair=(0.95, 0.95, 0.95), background=(0.60, 0.80, 0.75),
              lips=(0.55, 0.28, 0.26), face_width=0.32, face_height=0.41, eye_spacing=0.13,
              mouth_width=0.12),
    FaceStyle(skin=(0.96, 0.80, 0.70), hair=(0.20, 0.10, 0.30), background=(0.95, 0.75, 0.55),
              face_width=0.38, face_height=0.44, eye_spacing=0.16, hairline=0.24),
)


def _ellipse(x: np.ndarray, y: np.ndarray, cx, cy, rx, ry) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of an ellipse (broadcasts over frames)."""
    rx, ry = np.maximum(rx, 1e-3), np.maximum(ry, 1e-3)
    d = np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2)     # 1 on the boundary
    r = np.minimum(rx, ry)
    # (1 - d) r approximates the distance inside the boundary in pixels; a half-pixel
    # ramp anti-aliases it, and ellipses thinner than half a pixel fade out.
    return np.clip((1.0 - d) * r + 0.5, 0.0, 1.0) * np.clip(2 * r, 0.0, 1.0)


def _paint(image: np.ndarray, alpha: np.ndarray, colour) -> np.ndarray:
    """Alpha-blend `colour` over image (T, H, W, 3) in place: image += alpha (colour - image)."""
    alpha = np.broadcast_to(alpha, image.shape[:3]).astype(np.float32)[..., None]
    image += alpha * (np.asarray(colour, dtype=np.float32) - image)
    return image


def render_face(mouth: torch.Tensor, style: FaceStyle = FACE_STYLES[0], size: int = SIZE,
                head: torch.Tensor | None = None, eyes: torch.Tensor | None = None) -> torch.Tensor:
    """Draw frames (T, 3, size, size) float32 in [0, 1] from mouth parameters.

    mouth: (T, 3) [opening, width, rounding] in [0, 1]. head: (T, 2) head offset (dx, dy)
    in pixels (default none). eyes: (T,) eye openness in [0, 1] (default 1: open).
    The mouth is an ellipse of half-width mouth_width * (0.6 + 0.8 width) * (1 - 0.45
    rounding) and half-height 0.4 px + 0.09 * size * opening, framed by lips.
    """
    mouth = torch.as_tensor(mouth, dtype=torch.float32)
    if mouth.ndim != 2 or mouth.shape[1] != 3:
        raise ValueError(f"mouth must be (T, 3) [opening, width, rounding]; got {tuple(mouth.shape)}")
    if not isinstance(size, int) or size < 16:
        raise ValueError(f"size must be an int >= 16; got {size!r}")
    t = mouth.shape[0]
    m = mouth.clamp(0, 1).numpy()
    head = np.zeros((t, 2), np.float32) if head is None else torch.as_tensor(head).float().numpy()
    eyes = np.ones(t, np.float32) if eyes is None else torch.as_tensor(eyes).float().numpy()
    if head.shape != (t, 2) or eyes.shape != (t,):
        raise ValueError(f"head must be ({t}, 2) and eyes ({t},); got {head.shape}, {eyes.shape}")
    s = float(size)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5                 # pixel centres
    x, y = x[None], y[None]                                                   # (1, H, W)
    cx = (0.5 * s + head[:, 0])[:, None, None]                                # (T, 1, 1)
    cy = (0.52 * s + head[:, 1])[:, None, None]
    img = np.broadcast_to(np.asarray(style.background, dtype=np.float32), (t, size, size, 3))
    img = img * (0.85 + 0.15 * (1 - y[..., None] / s))                        # soft gradient
    fw, fh = style.face_width * s, style.face_height * s
    # hair behind the head: a rim at the sides and top, never below the chin
    img = _paint(img, _ellipse(x, y, cx, cy - 0.03 * s, fw + 1.0, fh + 0.5), style.hair)
    face = _ellipse(x, y, cx, cy, fw, fh)
    img = _paint(img, face, style.skin)
    hair = face * np.clip(cy - style.hairline * s - y + 0.5, 0, 1)            # hair above the hairline
    img = _paint(img, hair, style.hair)
    ey = cy - 0.08 * s
    er = style.eye_size * s
    for side in (-1, 1):
        ex = cx + side * style.eye_spacing * s
        img = _paint(img, _ellipse(x, y, ex, ey, er * 1.3, er * (0.2 + 0.8 * eyes)[:, None, None]),
                     (0.97, 0.97, 0.97))
        img = _paint(img, _ellipse(x, y, ex, ey, er * 0.7, er * 0.7 * eyes[:, None, None]),
                     (0.08, 0.08, 0.12))
    img = _paint(img, 0.6 * _ellipse(x, y, cx, cy + 0.06 * s, 0.03 * s, 0.05 * s),
                 np.asarray(style.skin) * 0.7)                                # nose
    opening, width, rounding = (m[:, i][:, None, None] for i in range(3))
    mx = style.mouth_width * s * (0.6 + 0.8 * width) * (1 - 0.45 * rounding)
    my = 0.4 + 0.09 * s * opening
    mcy = cy + 0.22 * s
    img = _paint(img, _ellipse(x, y, cx, mcy, mx + 1.2, my + 1.0 + 0.5 * rounding), style.lips)
    img = _paint(img, _ellipse(x, y, cx, mcy, mx, my) * np.clip(opening * 6, 0, 1),
                 (0.20, 0.03, 0.05))                                           # the open mouth
    out = torch.from_numpy(np.clip(img, 0, 1).astype(np.float32))             # (T, H, W, 3)
    return out.permute(0, 3, 1, 2).contiguous()                               # (T, 3, H, W)


# ---------------------------------------------------------------- measuring a mouth

def mouth_darkness(frames: Tensor) -> Tensor:
    """How much each pixel looks like the inside of an open mouth, (T, H, W) in [0, 1].

    The mouth interior is drawn almost black-red (green 0.03); skin, lips and background
    all have green >= 0.18 in every style, so clip((0.15 - green) / 0.1, 0, 1) finds it.
    frames: (T, 3, H, W) in [0, 1].
    """
    if frames.ndim != 4 or frames.shape[1] != 3:
        raise ValueError(f"frames must be (T, 3, H, W) RGB; got {tuple(frames.shape)}")
    return ((0.15 - frames[:, 1].float()) / 0.1).clamp(0, 1)


def mouth_height(frames: Tensor) -> Tensor:
    """The height of the open mouth in pixels, per frame, (T,), read from the pixels alone.

    In the lower half and the central half of the columns (hair and the face outline
    stay outside), each column's summed `mouth_darkness` is its mouth height; the tallest
    column is the mouth's height: 2 * (0.4 + 0.09 * H * opening) for an open mouth.
    """
    dark = mouth_darkness(frames)                                  # (T, H, W)
    h, w = dark.shape[1:]
    box = dark[:, h // 2:, w // 4: w - w // 4]                     # (T, H/2, W/2)
    return box.sum(dim=1).amax(dim=1)                              # (T,)


# ---------------------------------------------------------------- clips

def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:8], "big")


def _head_and_blinks(n_frames: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Head sway (T, 2) in pixels (two slow sines per axis) and eye openness (T,) with blinks."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / FPS
    head = np.zeros((n_frames, 2))
    for axis, amp in ((0, 1.2), (1, 0.6)):
        for _ in range(2):
            f, phase = rng.uniform(0.2, 0.8), rng.uniform(0, 2 * np.pi)
            head[:, axis] += amp / 2 * np.sin(2 * np.pi * f * t + phase)
    eyes = np.ones(n_frames)
    frame = int(rng.integers(5, 40))
    while frame < n_frames:                       # a blink (4 frames) every 1-3 s
        for k, v in enumerate((0.4, 0.0, 0.3, 0.8)):
            if frame + k < n_frames:
                eyes[frame + k] = v
        frame += int(rng.integers(25, 75))
    return torch.from_numpy(head.astype(np.float32)), torch.from_numpy(eyes.astype(np.float32))


@dataclass
class FaceClip:
    """One talking-face clip.

    frames: (T, 3, H, W) uint8 (see `video()`); wave: (T * 640 + r,) float32 at 16 kHz,
    0 <= r < 640; mel: (80, 1 + len(wave) // 200) log-mel; visemes: T names;
    mouth: (T, 3) float32 [opening, width, rounding]; head: (T, 2) head offset in pixels.
    """
    id: str
    text: str
    voice: str
    style: int
    split: str
    frames: torch.Tensor = field(repr=False)
    wave: torch.Tensor = field(repr=False)
    mel: torch.Tensor = field(repr=False)
    visemes: list[str] = field(repr=False)
    mouth: torch.Tensor = field(repr=False)
    head: torch.Tensor = field(repr=False)

    @property
    def n_frames(self) -> int:
        return self.frames.shape[0]

    def video(self) -> torch.Tensor:
        """Frames as float32 in [0, 1], (T, 3, H, W)."""
        return self.frames.float() / 255.0

    def viseme_ids(self) -> torch.Tensor:
        """(T,) int64 indices into VISEMES."""
        return torch.tensor([VISEMES.index(v) for v in self.visemes], dtype=torch.int64)


def make_clip(text: str, voice: str = "en-us", style: int | FaceStyle = 0, size: int = SIZE,
              seed: int = 0, split: str = "train") -> FaceClip:
    """Speak `text` (already normalised) with eSpeak NG and draw the talking face.

    style: an index into FACE_STYLES or a FaceStyle. seed: head sway and blinks.
    The video has T = len(wave16k) // 640 frames (every frame has its 40 ms of audio).
    """
    from course_lib.data.speech import log_mel

    if isinstance(style, int):
        if not 0 <= style < len(FACE_STYLES):
            raise ValueError(f"style must be in [0, {len(FACE_STYLES)}); got {style}")
        style_index, style = style, FACE_STYLES[style]
    elif isinstance(style, FaceStyle):
        style_index = -1
    else:
        raise TypeError(f"style must be an int or a FaceStyle; got {type(style).__name__}")
    syn = espeak.synthesize(text, voice=voice)
    with torch_threads(1):
        wave = resample(torch.from_numpy(syn.wave), syn.sample_rate, SAMPLE_RATE)   # (N,)
        mel = log_mel(wave)                                                         # (80, F)
    n_frames = len(wave) // SAMPLES_PER_FRAME
    visemes, mouth = mouth_track(syn.events, len(syn.wave), syn.sample_rate, n_frames)
    head, eyes = _head_and_blinks(n_frames, _seed("motion", text, voice, style_index, seed))
    frames = render_face(mouth, style, size, head, eyes)
    uid = f"{voice}/{style_index}/{_seed('id', text, seed) % 10**8:08d}"
    return FaceClip(uid, text, voice, style_index, split, (frames * 255).round().to(torch.uint8),
                    wave, mel, visemes, mouth, head)


# ---------------------------------------------------------------- the data set

def clip_texts(n: int) -> list[tuple[str, str]]:
    """n (normalised text, split) pairs: commands and everyday sentences, then digits.

    The split is data.speech.split_of(text), so a sentence is in one split only.
    """
    from course_lib.data.speech import sentences, split_of

    texts = [t for d in ("commands", "general", "times", "digits") for _, t in sentences(d)]
    if not 1 <= n <= len(texts):
        raise ValueError(f"n must be in [1, {len(texts)}]; got {n}")
    return [(t, split_of(t)) for t in texts[:n]]


@dataclass
class FaceDataset:
    clips: list[FaceClip]

    def split(self, name: str) -> list[FaceClip]:
        if name not in ("train", "valid", "test"):
            raise ValueError(f"split must be 'train', 'valid' or 'test'; got {name!r}")
        return [c for c in self.clips if c.split == name]

    def __len__(self) -> int:
        return len(self.clips)

    def seconds(self) -> float:
        return sum(c.n_frames for c in self.clips) / FPS


def load_faces(n_clips: int = 200, size: int = SIZE, voices: Sequence[str] = ("en-us", "en-us+f3"),
               progress: bool = True) -> FaceDataset:
    """`n_clips` talking-face clips, from artifacts/faces_v{VERSION}/ or made (and cached).

    Clip i speaks clip_texts(n_clips)[i] with voices[i % len(voices)] and face style
    i % len(FACE_STYLES); its split is that of its text (about 80 / 10 / 10).
    """
    if isinstance(voices, str) or not voices:
        raise TypeError("voices must be a non-empty sequence of voice names, e.g. ('en-us',)")
    key = hashlib.sha256(repr((n_clips, size, tuple(voices), [asdict(s) for s in FACE_STYLES]))
                         .encode()).hexdigest()[:10]
    path = artifacts_dir(f"faces_v{VERSION}") / f"faces_{key}.pt"
    if path.exists():
        records = torch.load(path, weights_only=False)
    else:
        pairs = clip_texts(n_clips)
        clips = [make_clip(t, voices[i % len(voices)], i % len(FACE_STYLES), size, seed=i, split=s)
                 for i, (t, s) in enumerate(tqdm(pairs, desc="faces", disable=not progress))]
        records = [{**c.__dict__, "wave": c.wave.half(), "mel": c.mel.half()} for c in clips]
        tmp = path.with_suffix(".tmp")
        torch.save(records, tmp)
        tmp.replace(path)
    return FaceDataset([FaceClip(**{**r, "wave": r["wave"].float(), "mel": r["mel"].float()})
                        for r in records])
