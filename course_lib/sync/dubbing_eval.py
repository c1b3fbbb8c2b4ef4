"""Judging a lip-sync generator with what it was not trained on (day 17).

    ruler = OpeningRuler.fit(train_clips)                  # pixels -> mouth opening
    judge = train_syncnet(judge_recipe(recipe.expert))     # a second expert, never a loss
    score = score_dubbing(model, dubbing_pairs(test_clips, "other"), ruler, judge.model)
    score.corr, score.mae, score.undubbed_mae, score.ratio, score.within_one

The real task of a dubbing model is to put *another* sound into a face: then nothing in
the face can give the answer away. Three settings (`dubbing_pairs`):
- "other": each test face with the audio of the next test clip (another sentence and
  speaker, same data set);
- "new": each test face saying a sentence that is in no clip (`NEW_SENTENCES`), drawn by
  `faces.make_clip` in the face's style so its true mouth track is known;
- "own": each test face with its own audio (Wav2Lip's LRS2 setting: reconstruction).
Two judges that share nothing with training:
- the **ruler** reads the mouth opening from the pixels (`faces.mouth_height`, a line fit
  on real training clips) and compares it with the heard audio's true opening track:
  correlation over all frames, and the mean absolute error against the undubbed mouth's;
- an **independent expert**: a SyncNet of another seed than the one the generator
  learned from, searching each dubbed clip's audio-video offset (0 is right).
`seam_ratio` measures the paste: the error on the two rows around the mask's edge over
the mean error of the lower half (1: the boundary is no worse than elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import Tensor

from course_lib.data import faces
from course_lib.data.speech import log_mel
from course_lib.sync.avsync import offset_search
from course_lib.sync.lipsync import LipSyncGenerator, dub
from course_lib.sync.syncnet import SyncNet, embed_clip
from course_lib.sync.syncnet_train import SyncNetRecipe

__all__ = ["NEW_SENTENCES", "SETTINGS", "OpeningRuler", "DubbingScore", "judge_recipe", "dubbing_pairs",
           "score_dubbing", "seam_ratio"]

NEW_SENTENCES = ("the birch canoe slid on the smooth planks", "glue the sheet to the dark blue background",
                 "it is easy to tell the depth of a well", "these days a chicken leg is a rare dish",
                 "rice is often served in round bowls", "the juice of lemons makes fine punch")
SETTINGS = ("other", "new", "own")


@dataclass(frozen=True)
class OpeningRuler:
    """mouth_height (px) = slope * opening + intercept, fitted on real frames; `corr` is the
    fit's correlation (how well pixels can tell the opening at all)."""
    slope: float
    intercept: float
    corr: float

    @classmethod
    def fit(cls, clips) -> OpeningRuler:
        """Least-squares line of every frame's measured height against its true opening."""
        if not clips:
            raise ValueError("clips is empty: the ruler needs real clips to calibrate on")
        heights = torch.cat([faces.mouth_height(c.video()) for c in clips]).numpy()
        truth = torch.cat([c.mouth[:, 0] for c in clips]).numpy()
        slope, intercept = np.polyfit(truth, heights, 1)
        return cls(float(slope), float(intercept), float(np.corrcoef(heights, truth)[0, 1]))

    def __call__(self, frames: Tensor) -> Tensor:
        """(T, 3, H, W) frames -> (T,) openings read from the pixels."""
        return (faces.mouth_height(frames) - self.intercept) / self.slope


@dataclass
class DubbingScore:
    """Ruler and judge results over all dubbed clips of one setting."""
    corr: float                 # Pearson correlation of measured and true opening, all frames
    mae: float                  # mean |measured - true| opening
    undubbed_mae: float         # the same for the face's own (looped) frames: no lip-sync
    offsets: list[int] = field(default_factory=list)   # the independent expert's offset per clip

    @property
    def ratio(self) -> float:
        """mae / undubbed_mae: below 1, dubbing moved the mouth towards the new audio."""
        return self.mae / self.undubbed_mae

    @property
    def within_one(self) -> float:
        """Share of clips whose offset the independent expert found within +-1 frame of 0."""
        return float(np.mean(np.abs(self.offsets) <= 1)) if self.offsets else float("nan")


def judge_recipe(expert: SyncNetRecipe) -> SyncNetRecipe:
    """The evaluation expert: the generator's expert recipe with the next training seed
    (same data and architecture, its own weights: the generator never saw its gradients)."""
    return replace(expert, train=replace(expert.train, seed=expert.train.seed + 1))


def dubbing_pairs(test_clips, setting: str) -> list[tuple]:
    """(face clip, wave (N,) at 16 kHz, true opening (T,) of that wave) for every test clip,
    in one of SETTINGS (see the module docstring)."""
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {SETTINGS}; got {setting!r}")
    pairs = []
    for i, c in enumerate(test_clips):
        if setting == "own":
            pairs.append((c, c.wave, c.mouth[:, 0]))
        elif setting == "other":
            other = test_clips[(i + 1) % len(test_clips)]
            pairs.append((c, other.wave, other.mouth[:, 0]))
        else:
            truth = faces.make_clip(NEW_SENTENCES[i % len(NEW_SENTENCES)], ("en-us", "en-us+f3")[i % 2],
                                    style=c.style, seed=1)
            pairs.append((c, truth.wave, truth.mouth[:, 0]))
    return pairs


def score_dubbing(model: LipSyncGenerator, pairs: list[tuple], ruler: OpeningRuler,
                  judge: SyncNet | None = None) -> DubbingScore:
    """Dub each pair's face with its wave (`dub`), read the openings with the ruler and
    compare with the true track (frames where both exist); with a judge, also search each
    dubbed clip's offset (max 15 frames)."""
    measured, true, undubbed, offsets = [], [], [], []
    for clip, wave, opening in pairs:
        frames = dub(model, clip.video(), wave)
        n = min(len(frames), len(opening))
        measured.append(ruler(frames[:n]))
        true.append(opening[:n])
        undubbed.append(ruler(clip.video()[torch.arange(n) % clip.n_frames]))
        if judge is not None:
            v, a = embed_clip(judge, frames, log_mel(wave.float()))
            offsets.append(offset_search(v, a, max_offset=15).offset)
    measured, true, undubbed = torch.cat(measured), torch.cat(true), torch.cat(undubbed)
    return DubbingScore(corr=float(np.corrcoef(measured.numpy(), true.numpy())[0, 1]),
                        mae=float((measured - true).abs().mean()),
                        undubbed_mae=float((undubbed - true).abs().mean()), offsets=offsets)


def seam_ratio(model: LipSyncGenerator, clips) -> float:
    """Reconstruct each clip from its own audio; the mean |error| of rows H/2 - 1 and H/2
    (where the pose and the generated half meet) over the mean error of the lower half."""
    rows = 0
    for c in clips:
        frames = dub(model, c.video(), c.wave)
        n = min(len(frames), c.n_frames)
        rows = rows + (frames[:n] - c.video()[:n]).abs().mean(dim=(0, 1, 3))     # (H,)
    h = len(rows)
    return float(rows[h // 2 - 1: h // 2 + 1].mean() / rows[h // 2:].mean())
