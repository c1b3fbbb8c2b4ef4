"""Day 19's streaming video: the steered-digit physics and windows, the model's condition
channels, chunk-by-chunk rollouts, live commands and change latency (untrained models;
the trained model's quality is asserted in test_streaming_video_trained.py and the lesson)."""

from dataclasses import replace

import pytest
import torch

from course_lib.data.digits import digits_split, load_digits, moving_digit_clip
from course_lib.data.steered_digits import ACTIONS, MOVES, SteeredWindowsSpec, action_id, render, steer
from course_lib.diffusion.schedules import make_schedule
from course_lib.diffusion.video_dit import VideoDiT
from course_lib.streaming.video import (StreamSession, first_visible, frame_scores, generate_chunk, live_commands,
                                        rollout)
from course_lib.streaming.video_model import (STREAM_VIDEO_PRESETS, StreamVideoRecipe, TrainedStreamVideo,
                                              new_stream_model, stream_condition)
from course_lib.train import TrainingRun
from tests.smoke import as_if_trained

SPEC = SteeredWindowsSpec(windows=400)


def test_steer_moves_one_pixel_and_stops_at_the_walls():
    right, up_left = action_id("right"), action_id("up-left")
    positions = steer(torch.tensor([[1, 2]]), torch.tensor([[0] + [right] * 4 + [up_left] * 3]), span=4)
    assert positions[0].tolist() == [[1, 2], [1, 3], [1, 4], [1, 4], [1, 4], [0, 3], [0, 2], [0, 1]]
    assert MOVES.shape == (len(ACTIONS), 2)
    with pytest.raises(ValueError, match="action"):
        action_id("sideways")
    with pytest.raises(ValueError, match="start"):
        steer(torch.tensor([[5, 0]]), torch.zeros(1, 3, dtype=torch.long), span=4)
    with pytest.raises(ValueError, match="actions"):
        steer(torch.tensor([[0, 0]]), torch.full((1, 3), 9), span=4)


def test_render_pastes_like_the_moving_digit_clips():
    images, _ = load_digits()
    clip = moving_digit_clip(images[7], frames=3, canvas=12, start=(1, 3), velocity=(1, -1))   # (T, 1, H, W)
    positions = torch.tensor([[[1, 3], [2, 2], [3, 1]]])
    torch.testing.assert_close(render(images[7:8], positions, 12)[0], clip.transpose(0, 1))
    with pytest.raises(ValueError, match="positions"):
        render(images[7:8], positions + 4, 12)


def test_windows_follow_the_physics_and_their_buffer():
    w = SPEC.load("train")
    assert w.videos.shape == (400, 1, 8, 12, 12) and set(w.context.tolist()) == set(SPEC.contexts)
    torch.testing.assert_close(steer(w.positions[:, 0], w.actions, 4), w.positions)
    # every frame shows the digit's ink where `positions` says (the top-left 8x8 window holds it all)
    ink = (w.videos[:, 0] > -1).float()
    inside = torch.stack([ink[i, f, r:r + 8, c:c + 8].sum() for i in range(50) for f, (r, c)
                          in enumerate(w.positions[i].tolist())])
    assert torch.equal(inside, ink[:50].sum((-2, -1)).flatten())
    assert abs(w.swapped.float().mean() - SPEC.swap) < 0.07
    again = SPEC.load("train")
    assert torch.equal(again.videos, w.videos)
    test = SPEC.load("test")
    assert not torch.equal(test.videos, w.videos)
    with pytest.raises(ValueError, match="contexts"):
        SteeredWindowsSpec(contexts=(8,))
    with pytest.raises(ValueError, match="split"):
        SPEC.load("valid")


def test_windows_hold_only_their_splits_digits():
    images, _ = load_digits()
    train_idx, test_idx = digits_split()
    test = SPEC.load("test")
    crops = torch.stack([test.videos[i, 0, 0, r:r + 8, c:c + 8] for i, (r, c) in enumerate(test.positions[:, 0].tolist())])
    flat = images[:, 0].flatten(1)
    nearest = torch.cdist(crops.flatten(1), flat).argmin(1)
    assert set(nearest.tolist()) <= set(test_idx.tolist())


def test_the_condition_channels_hold_buffer_mask_and_moves():
    w = SPEC.load("train")
    cond = stream_condition(w.videos[:20], w.context[:20], w.actions[:20])
    assert cond.shape == (20, 4, 8, 12, 12)
    for i in range(20):
        c = int(w.context[i])
        torch.testing.assert_close(cond[i, 0, :c], w.videos[i, 0, :c])
        assert cond[i, 0, c:].abs().max() == 0 and cond[i, 2:, :c].abs().max() == 0
        assert cond[i, 1, :c].min() == 1 and cond[i, 1, c:].max() == 0
        moves = MOVES[w.actions[i, c:]].T.float()                          # (2, T - c)
        torch.testing.assert_close(cond[i, 2:, c:, 5, 7], moves)
    noisy = stream_condition(w.videos[:20], w.context[:20], w.actions[:20], 0.1, torch.Generator().manual_seed(0))
    assert 0.05 < (noisy[:, 0] - cond[:, 0])[cond[:, 1] > 0].std() < 0.15
    assert torch.equal(noisy[:, 1:], cond[:, 1:])


def tiny_trained(seed: int = 0) -> TrainedStreamVideo:
    recipe = STREAM_VIDEO_PRESETS["cpu"]
    torch.manual_seed(seed)
    model = as_if_trained(new_stream_model(recipe))          # zero-initialised outputs would make every sample 0
    return TrainedStreamVideo(model, make_schedule("cosine", recipe.base.num_steps), TrainingRun(history=[]), recipe)


def test_a_new_stream_model_starts_as_day_05s_model():
    recipe = STREAM_VIDEO_PRESETS["cpu"]
    torch.manual_seed(3)
    base = VideoDiT(recipe.base.model)
    for p in base.parameters():                                     # make the zero-initialised parts non-trivial
        p.data.add_(0.05 * torch.randn_like(p))
    model = new_stream_model(recipe, base).eval()
    x, t, y = torch.randn(2, 1, 8, 12, 12), torch.tensor([10, 500]), torch.tensor([3, 7])
    cond = torch.randn(2, 4, 8, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(model(x, t, y, cond=cond), base.eval()(x, t, y))
    with pytest.raises(ValueError, match="data"):
        StreamVideoRecipe(data=replace(SteeredWindowsSpec(), canvas=16))


def test_rollouts_go_chunk_by_chunk_from_the_buffer():
    trained = tiny_trained()
    start = SPEC.load("test").videos[:3, :, :2]
    digits, actions = torch.full((3, 21), 4), torch.randint(0, 9, (3, 21), generator=torch.Generator().manual_seed(0))
    run = rollout(trained, start, digits, actions, context=2, steps=2)
    assert run.frames.shape == (3, 1, 21, 12, 12) and torch.equal(run.frames[:, :, :2], start)
    assert run.chunk_starts == [2, 8, 14, 20] and len(run.chunk_seconds) == 4 and run.fps > 0
    assert run.frames.abs().max() <= 1
    again = rollout(trained, start, digits, actions, context=2, steps=2, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(again.frames, run.frames)
    with pytest.raises(ValueError, match="context"):
        rollout(trained, start, digits, actions, context=3)
    with pytest.raises(ValueError, match="buffer"):
        generate_chunk(trained, start, torch.tensor([1, 2, 3]), torch.zeros(3, 7, dtype=torch.long))


def test_live_commands_hold_each_chunks_first_command():
    commands = torch.arange(12)[None]
    assert live_commands(commands, context=2, per_chunk=4).tolist() == [[0, 1, 2, 2, 2, 2, 6, 6, 6, 6, 10, 10]]


def test_first_visible_counts_frames_until_a_change_holds():
    hits = torch.tensor([0, 0, 1, 0, 1, 1, 1], dtype=torch.bool)
    assert first_visible(hits, since=1) == 3                 # frames 4 and 5: 3 frames after frame 1
    assert first_visible(hits, since=1, hold=1) == 1
    assert first_visible(hits, since=6, hold=2) is None
    assert first_visible(torch.ones(3, dtype=torch.bool), since=0) == 0


def test_frame_scores_are_perfect_on_the_truth():
    w = SPEC.load("test")
    keep = ~w.swapped
    videos, digits = w.videos[keep][:16], w.digits[keep][:16, None].expand(-1, 8)
    scores = frame_scores(videos, videos, digits)
    assert scores["position"].abs().max() == 0 and scores["identity"].min() > 0.999
    assert scores["digit"].float().mean() > 0.8                 # the frame judge itself errs a little


def test_a_session_follows_its_commands():
    trained = tiny_trained()
    start = SPEC.load("test").videos[:1, :, :2]
    session = StreamSession(trained, start, digit=3, context=2, steps=2)
    first = session.step()
    session.command(action="left")
    session.command(digit=5)
    session.step()
    assert first.shape == (1, 1, 6, 12, 12) and session.frames.shape[2] == 14
    assert session.commands == [(2, 3, "stay"), (8, 3, "left"), (8, 5, "left")]
    assert (session.digit, ACTIONS[session.action]) == (5, "left") and len(session.chunk_seconds) == 2
    with pytest.raises(ValueError, match="digit"):
        session.command(digit=10)
    with pytest.raises(ValueError, match="action"):
        session.command(action="jump")


def test_the_player_steers_the_session_and_generates_when_its_queue_runs_dry():
    from course_lib.streaming.player import SessionPlayer, frame_png

    session = StreamSession(tiny_trained(), SPEC.load("test").videos[:1, :, :2], digit=3, context=2, steps=1)
    player = SessionPlayer(session, fps=8)
    player.actions.value = "down"
    player.digit.value = 6
    assert (session.digit, ACTIONS[session.action]) == (6, "down")
    assert session.commands[-2:] == [(2, 3, "down"), (2, 6, "down")]
    for _ in range(7):
        player.tick()
    assert len(session.chunk_seconds) == 2 and player.shown == 8 and session.frames.shape[2] == 14
    png = frame_png(session.frames[0, 0, 0], scale=4)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and player.png[:8] == png[:8]
    assert "frame 8" in player.status.value
    with pytest.raises(ValueError, match="fps"):
        SessionPlayer(session, fps=0)


def test_steering_scripts_hold_each_action_and_render_their_truth():
    from course_lib.data.steered_digits import steering_scripts

    scripts = steering_scripts(6, 40, seed=3)
    assert scripts.actions.shape == (6, 40) and scripts.images.shape == (6, 1, 8, 8)
    for row in scripts.actions.tolist():
        runs = [len(list(g)) for _, g in __import__("itertools").groupby(row)]
        assert all(r >= 6 for r in runs[:-1])           # equal neighbours merge, so runs can be longer than 10
    truth = scripts.render()
    torch.testing.assert_close(truth, render(scripts.images, steer(scripts.start, scripts.actions, 4), 12))
    assert not torch.equal(scripts.render(torch.zeros_like(scripts.actions)), truth)
    with pytest.raises(ValueError, match="hold"):
        steering_scripts(2, 10, hold=(0, 3))
