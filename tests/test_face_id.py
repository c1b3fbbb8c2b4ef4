"""The banned-face check's building blocks (day 22): identities, views, InfoNCE against
a direct computation, the encoder's shapes, the gate's errors."""

from __future__ import annotations

import math
import random

import pytest
import torch

from course_lib.ad import face_id
from course_lib.data.faces import FaceStyle


def test_identities_are_deterministic_distinct_and_valid():
    assert face_id.identity_style(5) == face_id.identity_style(5)
    styles = {face_id.identity_style(i) for i in range(50)}
    assert len(styles) == 50
    for s in styles:
        assert all(0 <= c <= 1 for c in (*s.skin, *s.hair, *s.lips))
    with pytest.raises(ValueError, match="identity"):
        face_id.identity_style(-1)


def test_views_vary_everything_but_the_face():
    views = face_id.face_views(face_id.identity_style(3), 6, random.Random(0))
    assert views.shape == (6, 3, 32, 32) and 0 <= views.min() and views.max() <= 1
    corners = views[:, :, 0, 0]                                   # background pixels
    assert torch.cdist(corners, corners).max() > 0.2               # the background is redrawn per view
    again = face_id.face_views(face_id.identity_style(3), 6, random.Random(0))
    assert torch.equal(views, again)


def test_info_nce_matches_its_definition():
    torch.manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(5, 8), dim=-1)
    b = torch.nn.functional.normalize(torch.randn(5, 8), dim=-1)
    tau = 0.2
    direct = 0.0
    for x, y in ((a, b), (b, a)):
        for i in range(5):
            logits = [float(x[i] @ y[j]) / tau for j in range(5)]
            direct -= logits[i] - math.log(sum(math.exp(v) for v in logits))
    assert face_id.info_nce(a, b, tau).item() == pytest.approx(direct / 10, rel=1e-5)
    # orthonormal pairs: each row picks its own with probability e^(1/tau) / (e^(1/tau) + P - 1)
    eye = torch.eye(4)
    assert face_id.info_nce(eye, eye, 0.5).item() == pytest.approx(-math.log(math.e ** 2 / (math.e ** 2 + 3)))


def test_encoder_gives_unit_embeddings_and_refuses_bad_shapes():
    model = face_id.FaceIdEncoder()
    z = model(torch.rand(3, 3, 32, 32))
    assert z.shape == (3, face_id.FaceIdConfig().dim)
    assert torch.allclose(z.norm(dim=-1), torch.ones(3), atol=1e-5)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.rand(3, 32, 32))


def test_gate_and_recipe_refuse_bad_arguments():
    model = face_id.FaceIdEncoder()
    with pytest.raises(ValueError, match="banned"):
        face_id.BannedFaces(model, [], 0.9)
    with pytest.raises(ValueError, match="threshold"):
        face_id.BannedFaces(model, [FaceStyle()], 1.5)
    with pytest.raises(ValueError, match="n_train"):
        face_id.FaceIdRecipe(n_train=1)
    with pytest.raises(ValueError, match="temperature"):
        face_id.FaceIdRecipe(temperature=0)
