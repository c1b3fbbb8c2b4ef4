"""The clients of the local ElevenLabs-shaped TTS service (`speech.service`), and the
constants of the API they share with it.

    text_to_speech("four two", "en-us", api_key, base_url=server.url, out_path="a.wav")   # the WAV
    for piece in stream_text_to_speech("four two", "en-us", api_key, base_url=server.url):
        play(piece)                                   # 16-bit PCM at 16 kHz, as it arrives (day 19)

Both raise `TTSClientError` with the server's JSON message on a 4xx/5xx answer, and with
status None on a timeout or a refused connection. `speech.service` re-exports them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

__all__ = ["MODEL_ID", "STREAM_FORMAT", "TTSClientError", "text_to_speech", "stream_text_to_speech"]

MODEL_ID = "course_fastspeech2"
STREAM_FORMAT = "pcm_16000"          # ElevenLabs' name for raw 16-bit PCM at 16 kHz


class TTSClientError(RuntimeError):
    """The service said no (status, code, message) or did not answer in time (status None)."""

    def __init__(self, status: int | None, code: str, message: str):
        super().__init__(f"{status or 'no answer'} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def text_to_speech(text: str, voice_id: str, api_key: str, base_url: str = "http://127.0.0.1:8011",
                   out_path: str | Path | None = None, model_id: str = MODEL_ID,
                   voice_settings: dict | None = None, timeout: float = 30.0) -> bytes:
    """The ElevenLabs client pattern: POST, check, write the WAV bytes to `out_path`.

    Returns the audio bytes. Raises TTSClientError with the server's JSON message on a
    4xx/5xx answer, and with status None on a timeout or a refused connection.
    """
    import requests

    url = f"{base_url.rstrip('/')}/v1/text-to-speech/{voice_id}"
    payload = {"text": text, "model_id": model_id}
    if voice_settings is not None:
        payload["voice_settings"] = voice_settings
    try:
        response = requests.post(url, json=payload, timeout=timeout,
                                 headers={"xi-api-key": api_key, "Accept": "audio/wav"})
    except requests.Timeout:
        raise TTSClientError(None, "timeout", f"no answer from {base_url} within {timeout} s") from None
    except requests.ConnectionError as exc:
        raise TTSClientError(None, "connection_error", f"cannot reach {base_url}: {exc}") from None
    if response.status_code != 200:
        _raise_for(response)
    if out_path is not None:
        Path(out_path).write_bytes(response.content)
    return response.content


def stream_text_to_speech(text: str, voice_id: str, api_key: str, base_url: str = "http://127.0.0.1:8011",
                          model_id: str = MODEL_ID, voice_settings: dict | None = None,
                          timeout: float = 30.0) -> Iterator[bytes]:
    """The streaming client: POST to /v1/text-to-speech/{voice_id}/stream and yield the
    16-bit PCM bytes (16 kHz mono) as each piece arrives, long before the last is made.
    Errors as `text_to_speech`."""
    import requests

    url = f"{base_url.rstrip('/')}/v1/text-to-speech/{voice_id}/stream"
    payload = {"text": text, "model_id": model_id}
    if voice_settings is not None:
        payload["voice_settings"] = voice_settings
    try:
        response = requests.post(url, json=payload, timeout=timeout, stream=True,
                                 params={"output_format": STREAM_FORMAT}, headers={"xi-api-key": api_key})
    except requests.Timeout:
        raise TTSClientError(None, "timeout", f"no answer from {base_url} within {timeout} s") from None
    except requests.ConnectionError as exc:
        raise TTSClientError(None, "connection_error", f"cannot reach {base_url}: {exc}") from None
    with response:
        if response.status_code != 200:
            _raise_for(response)
        for piece in response.iter_content(chunk_size=None):
            if piece:
                yield piece


def _raise_for(response) -> None:
    """TTSClientError from a 4xx/5xx answer's JSON detail (or its text)."""
    try:
        detail = response.json()["detail"]
        code, message = detail["status"], detail["message"]
    except (ValueError, KeyError, TypeError):
        code, message = "http_error", response.text[:200]
    raise TTSClientError(response.status_code, code, message)
