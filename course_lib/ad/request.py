"""The ad request and its safety gate (day 22): what a client asks for, checked before
anything is generated.

    request = AdRequest(product_image=digit_image, script="...", avatar=identity_style(3))
    verdict = safety_gate(request, PromptFilter(), banned_faces)
    if verdict.refused: print(verdict.reasons)          # nothing is generated

`AdRequest` refuses malformed input at construction, naming the argument and what was
expected. The gate runs the script through day 20's prompt filter (public figures and
abuse terms, evasions included) and the avatar through the banned-face check
(`face_id.BannedFaces`); a refusal names every reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from course_lib.data.faces import FACE_STYLES, FaceStyle

__all__ = ["MAX_SCRIPT_WORDS", "AdRequest", "GateVerdict", "safety_gate"]

# A 15 s ad read at about 2.5 words per second (broadcast voice-over pace).
MAX_SCRIPT_WORDS = 38


@dataclass(frozen=True)
class AdRequest:
    """One ad to make.

    product_image: the product still, (H, W) grey or (H, W, 3) RGB, uint8 or float in
    [0, 1], sides 8 to 512 px. script: what the avatar says (1 to MAX_SCRIPT_WORDS
    words). avatar: the presenter's face (a `data.faces.FaceStyle`, or an index into
    FACE_STYLES). voice: a voice id of the TTS service. seed: every random choice."""
    product_image: np.ndarray
    script: str
    avatar: FaceStyle | int = 0
    voice: str = "en-us"
    seed: int = 0

    def __post_init__(self):
        image = self.product_image
        if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
            raise ValueError("product_image must be a numpy array (H, W) or (H, W, 3); got "
                             f"{type(image).__name__} {getattr(image, 'shape', '')}")
        if not (8 <= image.shape[0] <= 512 and 8 <= image.shape[1] <= 512):
            raise ValueError(f"product_image sides must be 8 to 512 pixels; got {image.shape[:2]}")
        if image.dtype != np.uint8:
            if not np.issubdtype(image.dtype, np.floating) or not np.isfinite(image).all() \
                    or image.min() < 0 or image.max() > 1:
                raise ValueError(f"product_image must be uint8, or float in [0, 1]; got {image.dtype} "
                                 f"in [{image.min()}, {image.max()}]")
        if not isinstance(self.script, str) or not self.script.strip():
            raise ValueError("script must be a non-empty string (what the avatar says)")
        words = len(self.script.split())
        if words > MAX_SCRIPT_WORDS:
            raise ValueError(f"script has {words} words; a 15 s ad holds at most {MAX_SCRIPT_WORDS} "
                             "(about 2.5 words per second)")
        if isinstance(self.avatar, int) and not isinstance(self.avatar, bool):
            if not 0 <= self.avatar < len(FACE_STYLES):
                raise ValueError(f"avatar must be a FaceStyle or an index in [0, {len(FACE_STYLES)}); got {self.avatar}")
        elif not isinstance(self.avatar, FaceStyle):
            raise ValueError(f"avatar must be a FaceStyle or an int index; got {type(self.avatar).__name__}")
        if not isinstance(self.voice, str) or not self.voice:
            raise ValueError(f"voice must be a voice id string; got {self.voice!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ValueError(f"seed must be an int; got {self.seed!r}")

    @property
    def face(self) -> FaceStyle:
        """The avatar as a FaceStyle."""
        return FACE_STYLES[self.avatar] if isinstance(self.avatar, int) else self.avatar

    def image_rgb(self) -> np.ndarray:
        """The product still as (H, W, 3) float32 in [0, 1]."""
        x = self.product_image.astype(np.float32) / (255.0 if self.product_image.dtype == np.uint8 else 1.0)
        return np.repeat(x[..., None], 3, axis=2) if x.ndim == 2 else x


@dataclass(frozen=True)
class GateVerdict:
    """refused: whether the request stops here; reasons: one line per rule it broke;
    face_score: the avatar's largest cosine to a banned face."""
    refused: bool
    reasons: tuple[str, ...]
    face_score: float


def safety_gate(request: AdRequest, prompt_filter, banned_faces) -> GateVerdict:
    """Check `request` before anything is generated: its script against `prompt_filter`
    (a `provenance.safety.PromptFilter`) and its avatar against `banned_faces` (a
    `face_id.BannedFaces`). Both checks always run, so a refusal lists every reason."""
    reasons = []
    found = prompt_filter.check(request.script)
    if found.blocked:
        reasons.append(f"the script names blocked terms: {', '.join(found.matches)}")
    match = banned_faces.check(request.face, seed=request.seed)
    if match.banned:
        reasons.append(f"the avatar matches banned face #{match.nearest} (cosine {match.score:.3f} >= "
                       f"{banned_faces.threshold:.3f})")
    return GateVerdict(bool(reasons), tuple(reasons), match.score)
