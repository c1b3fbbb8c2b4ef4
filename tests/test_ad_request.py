"""Day 22's request checks and safety gate: bad input refused with the argument named;
the gate lists every reason and uses day 20's prompt filter (evasions included)."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib.ad.face_id import FaceMatch
from course_lib.ad.request import MAX_SCRIPT_WORDS, AdRequest, safety_gate
from course_lib.data.faces import FACE_STYLES
from course_lib.provenance.safety import PromptFilter

IMAGE = np.zeros((16, 16), np.uint8)


class FakeBannedFaces:
    """Bans FACE_STYLES[1] only (the trained gate is tested in test_face_id_trained)."""
    threshold = 0.9

    def check(self, face, seed=0):
        return FaceMatch(face == FACE_STYLES[1], 0.97 if face == FACE_STYLES[1] else 0.2, 0)


@pytest.mark.parametrize("kwargs,argument", [
    ({"product_image": [[0, 1]]}, "product_image"),
    ({"product_image": np.zeros((4, 16))}, "product_image sides"),
    ({"product_image": np.full((16, 16), 2.0)}, "product_image must be uint8"),
    ({"product_image": np.zeros((16, 16, 4))}, "product_image"),
    ({"script": "   "}, "script must be a non-empty"),
    ({"script": "buy " * (MAX_SCRIPT_WORDS + 1)}, "a 15 s ad holds"),
    ({"avatar": 99}, "avatar"),
    ({"avatar": "bob"}, "avatar"),
    ({"voice": ""}, "voice"),
])
def test_bad_requests_are_refused_naming_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        AdRequest(**{"product_image": IMAGE, "script": "buy the red mug", **kwargs})


def test_request_gives_the_face_and_an_rgb_image():
    r = AdRequest(IMAGE + 255, "buy the red mug", avatar=2)
    assert r.face == FACE_STYLES[2]
    assert r.image_rgb().shape == (16, 16, 3) and r.image_rgb().max() == 1.0


def test_gate_passes_a_clean_request_and_lists_every_reason_for_a_bad_one():
    gate = (PromptFilter(), FakeBannedFaces())
    ok = safety_gate(AdRequest(IMAGE, "the new red mug, only nine ninety nine"), *gate)
    assert not ok.refused and ok.reasons == ()
    figure = safety_gate(AdRequest(IMAGE, "Jon 0kafor loves this mug"), *gate)       # an evasion of a name
    assert figure.refused and "Jon Okafor" in figure.reasons[0]
    both = safety_gate(AdRequest(IMAGE, "a d e e p f a k e of the mayor", avatar=1), *gate)
    assert both.refused and len(both.reasons) == 2 and "banned face" in both.reasons[1]
