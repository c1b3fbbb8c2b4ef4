"""course_lib.speech.service: the ElevenLabs-shaped TTS server and its client."""

from __future__ import annotations

import io
import json
import time
import wave as wavelib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests

from course_lib.speech import service
from course_lib.speech.service import (TTSClientError, parse_request, serve, text_to_speech,
                                       wav_bytes)

KEY = "test-key"
VOICES = ["en-us", "en-us+f3"]


def stub(text: str, voice_id: str, settings: dict) -> np.ndarray:
    """A tone whose length follows the text and speed, whose pitch follows the voice."""
    if "zzz" in text:
        raise ValueError("symbols not in the table: ['z']")
    if "boom" in text:
        raise RuntimeError("out of memory")
    f0 = 120.0 if voice_id == "en-us" else 220.0
    n = int(800 * len(text.split()) / settings.get("speed", 1.0))
    return 0.5 * np.sin(2 * np.pi * f0 * np.arange(n) / 16_000)


@pytest.fixture(scope="module")
def server():
    with serve(stub, VOICES, KEY) as s:
        yield s


def _post(server, voice="en-us", body=None, key=KEY, raw=None):
    headers = {} if key is None else {"xi-api-key": key}
    if raw is not None:
        return requests.post(f"{server.url}/v1/text-to-speech/{voice}", data=raw, headers=headers, timeout=10)
    return requests.post(f"{server.url}/v1/text-to-speech/{voice}", json=body, headers=headers, timeout=10)


def _read_wav(data: bytes) -> tuple[np.ndarray, int]:
    with wavelib.open(io.BytesIO(data)) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), "<i2") / 32767, w.getframerate()


def test_wav_bytes_round_trip():
    x = 0.5 * np.sin(np.arange(1000) / 7)
    y, sr = _read_wav(wav_bytes(x, 16_000))
    assert sr == 16_000 and np.abs(y - x).max() < 1e-4
    with pytest.raises(ValueError, match=r"\(T,\)"):
        wav_bytes(np.zeros((2, 10)))


def test_binds_loopback_by_default(server):
    assert server.httpd.server_address[0] == "127.0.0.1" and server.port > 0


def test_synthesis_returns_the_stub_audio_as_wav(server):
    r = _post(server, body={"text": "four two", "model_id": "eleven_multilingual_v2",
                            "voice_settings": {"speed": 2.0}})
    assert r.status_code == 200 and r.headers["Content-Type"] == "audio/wav"
    audio, sr = _read_wav(r.content)
    expected = stub("four two", "en-us", {"speed": 2.0})
    assert sr == 16_000 and len(audio) == len(expected) == 800
    assert np.abs(audio - expected).max() < 1e-4
    assert r.headers["x-model-id"] == "eleven_multilingual_v2"


def test_voices_listing(server):
    r = requests.get(f"{server.url}/v1/voices", headers={"xi-api-key": KEY}, timeout=10)
    assert r.status_code == 200
    assert [v["voice_id"] for v in r.json()["voices"]] == VOICES


@pytest.mark.parametrize("kwargs, status, code", [
    (dict(key=None, body={"text": "hi"}), 401, "missing_api_key"),
    (dict(key="wrong", body={"text": "hi"}), 401, "invalid_api_key"),
    (dict(voice="nobody", body={"text": "hi"}), 404, "voice_not_found"),
    (dict(raw=b"{not json"), 400, "invalid_json"),
    (dict(raw=b"[1, 2]"), 400, "invalid_json"),
    (dict(body={"model_id": "x"}), 422, "invalid_text"),
    (dict(body={"text": "   "}), 422, "empty_text"),
    (dict(body={"text": "a" * (service.MAX_TEXT_CHARS + 1)}), 422, "text_too_long"),
    (dict(body={"text": "hi", "voice_settings": {"speed": 9}}), 422, "invalid_voice_settings"),
    (dict(body={"text": "hi", "voice_settings": {"timbre": 1}}), 422, "invalid_voice_settings"),
    (dict(body={"text": "hi", "voice_settings": [1]}), 422, "invalid_voice_settings"),
    (dict(body={"text": "zzz"}), 422, "cannot_synthesize"),
    (dict(body={"text": "boom"}), 500, "synthesis_failed"),
])
def test_errors_are_json_with_the_right_status(server, kwargs, status, code):
    r = _post(server, **kwargs)
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/json"
    detail = r.json()["detail"]
    assert detail["status"] == code and detail["message"]


@pytest.mark.parametrize("setting, value", [("stability", 0.5), ("similarity_boost", 0.75),
                                            ("style", 0.0), ("use_speaker_boost", True)])
def test_elevenlabs_settings_we_cannot_follow_are_refused_by_name(server, setting, value):
    """Never silently ignored: a client that sets stability expects it to do something."""
    r = _post(server, body={"text": "hi", "voice_settings": {setting: value, "speed": 1.0}})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail["status"] == "unsupported_voice_setting"
    assert f"voice_settings.{setting}" in detail["message"]
    assert "speed" in detail["message"] and "pitch" in detail["message"], "say what is supported"


def test_unknown_paths_and_methods(server):
    r = requests.get(f"{server.url}/v2/voices", headers={"xi-api-key": KEY}, timeout=10)
    assert r.status_code == 404 and r.json()["detail"]["status"] == "not_found"
    r = requests.delete(f"{server.url}/v1/voices", headers={"xi-api-key": KEY}, timeout=10)
    assert r.status_code == 405
    r = requests.get(f"{server.url}/v1/voices", timeout=10)
    assert r.status_code == 401


def test_parse_request_directly():
    text, model, settings = parse_request(json.dumps({"text": "hi", "voice_settings": {"pitch": -2}}).encode())
    assert (text, model, settings) == ("hi", service.MODEL_ID, {"pitch": -2.0})
    with pytest.raises(service.TTSError) as info:
        parse_request(b'{"text": true}')
    assert info.value.http_status == 422


def test_client_writes_the_file_and_raises_the_servers_message(server, tmp_path):
    out = tmp_path / "a.wav"
    data = text_to_speech("four two", "en-us+f3", KEY, base_url=server.url, out_path=out)
    assert out.read_bytes() == data and _read_wav(data)[0].size == 1600
    with pytest.raises(TTSClientError, match="unknown voice_id") as info:
        text_to_speech("four", "nobody", KEY, base_url=server.url)
    assert info.value.status == 404 and info.value.code == "voice_not_found"
    with pytest.raises(TTSClientError) as info:
        text_to_speech("four", "en-us", "wrong", base_url=server.url)
    assert info.value.status == 401


def test_client_timeout_and_refused_connection():
    def slow(text, voice_id, settings):
        time.sleep(1.0)
        return np.zeros(100)

    with serve(slow, ["v"], KEY) as s:
        with pytest.raises(TTSClientError, match="within 0.2 s") as info:
            text_to_speech("hi", "v", KEY, base_url=s.url, timeout=0.2)
        assert info.value.status is None and info.value.code == "timeout"
        url = s.url
    with pytest.raises(TTSClientError) as info:
        text_to_speech("hi", "v", KEY, base_url=url, timeout=2)
    assert info.value.code == "connection_error"


def test_bounded_concurrent_load_all_answered(server):
    n, workers = 24, 6

    def call(i):
        start = time.perf_counter()
        r = _post(server, voice=VOICES[i % 2], body={"text": "one two three " * (1 + i % 3)})
        return r.status_code, len(r.content), time.perf_counter() - start

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(call, range(n)))
    wall = time.perf_counter() - start
    latencies = sorted(t for _, _, t in results)
    assert all(status == 200 for status, _, _ in results)
    assert all(size > 44 for _, size, _ in results)
    print(f"{n} requests from {workers} threads in {wall:.2f} s; latency median "
          f"{1000 * latencies[n // 2]:.0f} ms, max {1000 * latencies[-1]:.0f} ms")


def test_start_server_argument_errors():
    with pytest.raises(TypeError, match="synthesizer must be callable"):
        service.start_server("not callable", ["v"], KEY)
    with pytest.raises(ValueError, match="api_key"):
        service.start_server(stub, ["v"], "")
