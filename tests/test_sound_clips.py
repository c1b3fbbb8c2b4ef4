"""Day 15's labelled sound clips: exact attributes, determinism, caching, prompts."""

import pytest
import torch

from course_lib.data import sound_clips as sc


def test_prompts_and_note_names():
    assert sc.note_name(60) == "C4" and sc.note_name(69) == "A4" and sc.note_name(48) == "C3"
    assert sc.prompt("bright", 64, True) == "bright E4 loud"
    assert sc.prompt("snare", 60, False) == "snare soft"
    with pytest.raises(ValueError, match="kind must be one of"):
        sc.prompt("violin", 60, True)


def test_a_note_clip_has_its_pitch_onset_and_loudness():
    import librosa

    clip = sc.make_clip("mellow", pitch=57, loud=False, onset=0.1)
    assert clip.shape == (sc.CLIP_SAMPLES,)
    assert clip[:1600].abs().max() == 0 and clip[1600:].abs().max() > 0          # silent before the onset
    assert torch.isclose(clip.abs().max(), torch.tensor(sc.LOUDNESS["soft"]))
    f0, voiced, _ = librosa.pyin(clip[1600:8000].numpy(), fmin=80, fmax=1000, sr=sc.SAMPLE_RATE)
    median = float(torch.tensor(f0[voiced]).median())
    assert abs(12 * torch.log2(torch.tensor(median / 220.0))) < 0.3              # MIDI 57 = A3 = 220 Hz
    with pytest.raises(ValueError, match="onset"):
        sc.make_clip("kick", onset=1.0)
    with pytest.raises(ValueError, match="pitch"):
        sc.make_clip("dark", pitch=30)


def test_clips_are_balanced_deterministic_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path))
    clips = sc.load_sound_clips("train", n=33, seed=1)
    assert clips.waves.shape == (33, sc.CLIP_SAMPLES) and len(clips.prompts) == 33
    assert torch.bincount(clips.labels, minlength=len(sc.CLASSES)).tolist() == [3] * len(sc.CLASSES)
    assert ((clips.pitches >= 0) == (clips.labels < len(sc.TIMBRES))).all()
    assert list(tmp_path.glob("data/sound_clips_*.pt"))
    again = sc.make_sound_clips("train", n=33, seed=1)
    assert torch.equal(again.waves, clips.waves) and again.prompts == clips.prompts
    test = sc.make_sound_clips("test", n=33, seed=1)
    assert not torch.equal(test.waves, clips.waves)
    with pytest.raises(ValueError, match="split"):
        sc.make_sound_clips("valid")


def test_a_melody_plays_its_notes_in_order():
    from course_lib.data.sound_clips import make_melody
    from course_lib.data.sound_judge import note_pitch

    melody = [55, 60, 64, 67]
    wave = make_melody("bright", melody, note_seconds=0.25)
    assert wave.shape == (16000,) and 0.85 < wave.abs().max() < 0.95
    heard = [note_pitch(wave[i * 4000 + 800:(i + 1) * 4000 - 800]) for i in range(4)]
    assert all(abs(h - p) < 0.3 for h, p in zip(heard, melody))
    assert make_melody("soft", melody, loud=False).abs().max() < 0.35
    for kwargs, match in ((dict(kind="kick"), "timbres"), (dict(pitches=[30]), "pitches"),
                          (dict(note_seconds=0.3), "fit")):
        with pytest.raises(ValueError, match=match):
            make_melody(**{"kind": "bright", "pitches": melody, **kwargs})


def test_prompts_parse_back_to_their_attributes():
    for kind, pitch, loud in (("bright", 60, True), ("dark", 61, False), ("snare", -1, False), ("speech", -1, True)):
        text = sc.prompt(kind, pitch, loud)
        assert sc.parse_prompt(text) == (sc.CLASSES.index(kind), pitch, loud, 0)
    assert sc.parse_prompt("Mellow A4") == (1, 69, True, 0)                  # loudness left out: loud
    assert sc.prompt("kick", -1, False, 180) == "kick at 180 bpm soft"
    assert sc.parse_prompt("kick at 180 bpm soft") == (sc.CLASSES.index("kick"), -1, False, 180)
    for bad, match in (("violin C4", "start with a class"), ("bright", "needs a pitch"), ("bright C9", "needs a pitch"),
                       ("snare C4 loud", "could not read"), ("", "prompt such as"), ("snare at 100 bpm", "tempo"),
                       ("bright C4 at 120 bpm", "tempo"), ("bright C4 D4", "could not read"), ("beep at 120 bpm", "tempo")):
        with pytest.raises(ValueError, match=match):
            sc.parse_prompt(bad)


def test_repeated_drums_hit_on_every_beat_and_the_tempo_reads_back():
    from course_lib.data.sound_judge import clip_tempo, hit_onsets

    assert sc.hit_times(0.1, 0) == [0.1]
    assert sc.hit_times(0.1, 120) == [0.1, 0.6]
    assert [round(t, 3) for t in sc.hit_times(0.0, 240)] == [0.0, 0.25, 0.5, 0.75]
    for tempo in sc.TEMPI:
        wave = sc.make_clip("snare", onset=0.05, tempo=tempo, seed=3)
        heard = hit_onsets(wave)
        assert len(heard) == len(sc.hit_times(0.05, tempo))
        assert all(abs(h - t) <= 0.011 for h, t in zip(heard, sc.hit_times(0.05, tempo)))
        assert abs(clip_tempo(wave) - tempo) <= 0.05 * tempo
    assert clip_tempo(sc.make_clip("kick", onset=0.05)) == 0.0
    clips = sc.make_sound_clips("train", n=220)
    drums = [sc.CLASSES.index(d) for d in sc.DRUMS]
    repeated = clips.tempi > 0
    assert bool(torch.isin(clips.labels[repeated], torch.tensor(drums)).all())
    assert 0.3 < repeated.sum().item() / torch.isin(clips.labels, torch.tensor(drums)).sum().item() < 0.7
    assert all(("bpm" in p) == bool(r) for p, r in zip(clips.prompts, repeated))
    with pytest.raises(ValueError, match="tempo"):
        sc.make_clip("beep", tempo=120)
