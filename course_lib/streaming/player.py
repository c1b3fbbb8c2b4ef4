"""A live player for an interactive video stream (day 19): buttons steer the digit, a
dropdown changes it, and frames appear as they are generated.

    player = SessionPlayer(session, fps=8)      # session: a `streaming.video.StreamSession`
    display(player.widget)                      # press ▶, then steer
    player.tick()                               # what the ▶ clock calls: show the next frame,
                                                # generating a chunk when none is waiting

The player shows frames at `fps`; when its queue of generated frames runs dry it asks the
session for the next chunk, which follows the controls as they are at that moment. A
press therefore shows after the frames already queued (at most one chunk) plus the time
to generate a chunk — the latency the lesson measures.
"""

from __future__ import annotations

import io

import numpy as np
from torch import Tensor

from course_lib.data.steered_digits import ACTIONS
from course_lib.streaming.video import StreamSession


def frame_png(frame: Tensor, scale: int = 16) -> bytes:
    """A frame (H, W) in [-1, 1] as PNG bytes, each pixel a `scale` x `scale` block."""
    from PIL import Image

    pixels = ((frame.clamp(-1, 1).numpy() + 1) * 127.5).round().astype(np.uint8)
    image = Image.fromarray(pixels).resize((pixels.shape[1] * scale, pixels.shape[0] * scale), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class SessionPlayer:
    """ipywidgets controls and a screen for `session`; `widget` is what to display."""

    def __init__(self, session: StreamSession, fps: int = 8, scale: int = 16):
        import ipywidgets as widgets

        if not isinstance(fps, int) or not 1 <= fps <= 60:
            raise ValueError(f"fps must be an int in 1..60; got {fps!r}")
        self.session, self.scale = session, scale
        self.shown = session.frames.shape[2] - 1                  # index of the frame on screen
        self.screen = widgets.Output()                             # an Output, so a saved notebook keeps the frame
        self.png = b""
        self.actions = widgets.ToggleButtons(options=list(ACTIONS), value=ACTIONS[session.action],
                                             description="steer")
        self.digit = widgets.Dropdown(options=list(range(10)), value=session.digit, description="digit")
        self.clock = widgets.Play(interval=round(1000 / fps), max=10**9, description="play")
        self.status = widgets.Label()
        self.actions.observe(lambda change: session.command(action=change["new"]), names="value")
        self.digit.observe(lambda change: session.command(digit=change["new"]), names="value")
        self.clock.observe(lambda change: self.tick(), names="value")
        self.widget = widgets.VBox([widgets.HBox([self.clock, self.digit]), self.actions, self.screen, self.status])
        self._show()

    def tick(self) -> None:
        """Show the next frame; generate the next chunk first when none is waiting."""
        if self.shown + 1 >= self.session.frames.shape[2]:
            self.session.step()
        self.shown += 1
        self._show()

    def _show(self) -> None:
        from IPython.display import Image, display

        self.png = frame_png(self.session.frames[0, 0, self.shown], self.scale)
        with self.screen:
            self.screen.clear_output(wait=True)
            display(Image(self.png))
        last = self.session.chunk_seconds[-1] if self.session.chunk_seconds else 0.0
        self.status.value = (f"frame {self.shown} · digit {self.session.digit} · {ACTIONS[self.session.action]} · "
                             f"last chunk {1000 * last:.0f} ms")


__all__ = ["frame_png", "SessionPlayer"]
