"""Day 19's streaming endpoint of the local TTS service: chunked transfer that reaches the
client before synthesis ends, the same samples as the whole-file endpoint, and errors."""

from __future__ import annotations

import time

import numpy as np
import pytest
import requests

from course_lib.speech.service import (TTSClientError, pcm16_bytes, serve, stream_text_to_speech, text_to_speech,
                                       wav_bytes)

KEY = "stream-key"
PAUSE = 0.4                   # seconds the stub "computes" between its two halves


def whole(text: str, voice_id: str, settings: dict) -> np.ndarray:
    if "zzz" in text:
        raise ValueError("symbols not in the table: ['z']")
    return 0.5 * np.sin(np.arange(1600 * len(text.split())) * 0.05)


def halves(text: str, voice_id: str, settings: dict):
    wave = whole(text, voice_id, settings)          # raises before the first chunk, as a model would
    yield wave[: len(wave) // 2]
    time.sleep(PAUSE)
    yield wave[len(wave) // 2:]


@pytest.fixture(scope="module")
def server():
    with serve(whole, ["en-us"], KEY, streamer=halves) as s:
        yield s


def test_pieces_arrive_before_synthesis_ends_and_match_the_whole_file(server):
    start = time.perf_counter()
    arrivals, data = [], b""
    for piece in stream_text_to_speech("one two three four", "en-us", KEY, base_url=server.url):
        arrivals.append(time.perf_counter() - start)
        data += piece
    assert arrivals[0] < PAUSE / 2 and arrivals[-1] >= PAUSE     # the first half came before the pause ended
    wav = text_to_speech("one two three four", "en-us", KEY, base_url=server.url)
    assert wav[44:] == data == pcm16_bytes(whole("one two three four", "en-us", {}))
    assert wav == wav_bytes(whole("one two three four", "en-us", {}))


def test_streaming_errors_are_json(server):
    with pytest.raises(TTSClientError) as err:
        list(stream_text_to_speech("zzz", "en-us", KEY, base_url=server.url))
    assert err.value.status == 422 and err.value.code == "cannot_synthesize"
    with pytest.raises(TTSClientError) as err:
        list(stream_text_to_speech("one", "en-us", "wrong", base_url=server.url))
    assert err.value.status == 401
    r = requests.post(f"{server.url}/v1/text-to-speech/en-us/stream?output_format=mp3_44100_128",
                      json={"text": "one"}, headers={"xi-api-key": KEY}, timeout=10)
    assert r.status_code == 422 and "pcm_16000" in r.json()["detail"]["message"]
    r = requests.post(f"{server.url}/v1/text-to-speech/en-us/other", json={"text": "one"},
                      headers={"xi-api-key": KEY}, timeout=10)
    assert r.status_code == 404


def test_no_streamer_means_no_streaming_endpoint():
    with serve(whole, ["en-us"], KEY) as plain:
        with pytest.raises(TTSClientError) as err:
            list(stream_text_to_speech("one", "en-us", KEY, base_url=plain.url))
        assert err.value.status == 404
