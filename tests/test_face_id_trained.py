"""Day 22's banned-face check, trained and cached (about 40 s): identities it never saw
are told apart (ROC on held-out identities), and the gate refuses a banned face in any
view while letting others through."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.ad import face_id
from course_lib.provenance.safety import auc

pytestmark = pytest.mark.builds_cache          # day 22's lesson loads this model


def test_identity_encoder_tells_held_out_faces_apart_and_the_gate_refuses_banned_ones():
    enc = face_id.train_face_id(face_id.PRESETS["cpu"], device=torch.device("cpu"), progress=False)
    history = enc.run.history
    assert np.mean(history[-50:]) < 0.25 * np.mean(history[:20])        # measured 2.39 -> 0.19
    held_out = list(range(face_id.HELD_OUT_START, face_id.HELD_OUT_START + 60))
    scores, same = face_id.pair_scores(enc.model, held_out)
    assert auc(same, scores) >= 0.95, auc(same, scores)                  # measured 1.000 (seeds 0-2)
    banned = [face_id.identity_style(i) for i in held_out[:5]]
    gate = face_id.BannedFaces(enc.model, banned, threshold=0.9)
    for k, style in enumerate(banned):                                   # other views than the references
        match = gate.check(style, seed=100 + k)
        assert match.banned and match.nearest == k, match              # measured 0.98-1.00
    allowed = [gate.check(face_id.identity_style(i)) for i in held_out[5:]]
    assert np.mean([m.banned for m in allowed]) <= 0.05, [round(m.score, 3) for m in allowed]   # 0 of 55 (max 0.88)
