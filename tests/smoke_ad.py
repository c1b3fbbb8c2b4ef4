"""Smoke functions (tests/smoke.py) for day 22's presets: the banned-face check's
identity encoder."""

import random
from functools import partial

import torch

from course_lib.ad.face_id import face_id_loss, face_views, identity_embedding, identity_style, new_face_id
from tests.smoke import smoke, train_one_step


@smoke("course_lib.ad.face_id.PRESETS")
def face_id(recipe):
    model = new_face_id(recipe)
    rng = random.Random(0)
    views = [face_views(identity_style(i), 2, rng) for i in range(3)]
    batch = (torch.stack([v[0] for v in views]), torch.stack([v[1] for v in views]))
    train_one_step(model, partial(face_id_loss, temperature=recipe.temperature), batch)
    z = identity_embedding(model, views[0])
    assert z.shape == (recipe.model.dim,) and abs(float(z.norm()) - 1) < 1e-5
