"""Day 00 figure: the map of the course, the days that exist and what builds on what.

The "builds on" lists are the days each lesson names under **Prerequisites** (day 00,
which every lesson starts from, is left out of the lists).
"""

from course_lib.tools.diagrams import Diagram

# day: (title, track row, column, builds on), from each lesson's Prerequisites line.
DAYS = {
    "03": ("DDPM", 0, 0, []),
    "04": ("DiT and DDIM", 0, 1, ["02", "03"]),
    "05": ("Video diffusion", 0, 2, ["02", "03", "04"]),
    "06": ("Latent diffusion", 0, 3, ["04", "05"]),
    "01": ("Audio as data", 1, 0, []),
    "09": ("Speech data", 1, 1, ["01", "02"]),
    "10": ("Tacotron 2", 1, 2, ["01", "02", "09"]),
    "11": ("Fast TTS", 1, 3, ["01", "02", "09", "10"]),
    "12": ("Whisper-style ASR", 1, 4, ["01", "02", "09", "11"]),
    "16": ("Beats, AV sync", 2, 1, ["01", "(05)"]),
    "17": ("Lip-sync", 2, 2, ["03–05", "09", "16"]),
    "20": ("Provenance", 2, 4, ["01", "09"]),
    "13": ("Music tokens", 3, 0, []),
    "14": ("Music Transformer", 3, 1, ["02", "13"]),
}
ATTENTION_USERS = ["04", "05", "09", "10", "11", "12", "14"]   # days that name day 02
TRACKS = {"03": "images & video", "01": "speech", "13": "music"}   # each track's first day


def course_map() -> Diagram:
    d = Diagram(1020, 440, title="The course map: each arrow or 'builds on' list is a lesson's prerequisites")
    x0, col_w, box_w, box_h, row_h, y0 = 180, 168, 150, 46, 84, 26
    boxes = {}
    for day, (title, row, col, deps) in DAYS.items():
        x, y = x0 + col * col_w, y0 + row * row_h
        fill = "cond" if day in TRACKS else "data"
        boxes[day] = d.box(x, y, box_w, box_h, fill=fill)
        d.text(x + box_w / 2, y + 15, f"{day} {title}", size=11, bold=True)
        d.text(x + box_w / 2, y + 33, "builds on " + ", ".join(deps) if deps else f"first of: {TRACKS[day]}",
               size=10, color="#555555")
        if day in ATTENTION_USERS:
            d.circle(x + box_w - 2, y + 2, r=9, text="02", fill="model", size=8)

    # Chains inside a track.
    for a, b in [("03", "04"), ("04", "05"), ("05", "06"), ("01", "09"), ("09", "10"), ("10", "11"),
                 ("11", "12"), ("16", "17"), ("13", "14")]:
        d.arrow(boxes[a].right, boxes[b].left)
    # Across tracks: audio front end -> beats; speech corpus -> lip-sync and provenance.
    a16 = boxes["16"]
    d.arrow(boxes["01"].bottom, a16.left, via=[(boxes["01"].bottom[0], a16.left[1])])
    b09, b17, b20 = boxes["09"], boxes["17"], boxes["20"]
    bus_y = b09.y + box_h + 14
    d.arrow((b09.x + box_w - 20, b09.y + box_h), (b20.x + 30, b20.y),
            via=[(b09.x + box_w - 20, bus_y), (b20.x + 30, bus_y)])
    d.arrow((b17.x + 30, bus_y), (b17.x + 30, b17.y))
    b05 = boxes["05"]
    d.arrow((b05.x + 20, b05.y + box_h), (b17.x + box_w - 20, b17.y), dashed=True,
            via=[(b05.x + 20, b05.y + box_h + 12), (b17.x + box_w + 14, b05.y + box_h + 12),
                 (b17.x + box_w + 14, b17.y - 12), (b17.x + box_w - 20, b17.y - 12)])

    # Day 00 feeds every track; day 02 sits under every Transformer.
    setup = d.box(10, 120, 130, 70, "00 Setup\ndevice, seeds,\nthe data", fill="note", size=12)
    bus = 158
    for day in ("03", "01", "13"):
        d.arrow(setup.right, boxes[day].left, via=[(bus, setup.right[1]), (bus, boxes[day].left[1])])
    att = d.box(x0, y0 + 4 * row_h - 6, 4 * col_w + box_w, 50, fill="model")
    d.text(att.x + att.w / 2, att.y + 16, "02 Attention: SDPA, masks, multi-head, cross-attention, KV cache",
           size=12, bold=True)
    d.text(att.x + att.w / 2, att.y + 35, "under every Transformer of the course: the days with an orange 02 tag "
           "(04, 05, 09, 10, 11, 12, 14)", size=11)
    d.arrow((setup.x + 65, setup.y + setup.h), (att.x, att.y + 25), via=[(setup.x + 65, att.y + 25)])
    d.text(490, 428, "Green: a track's first day; the 09 line feeds 17 and 20. Dashed: lip-sync reuses the diffusion days' training loops, "
           "U-Nets and video.", size=11, italic=True)
    return d


FIGURES = {"day00_course_map.svg": course_map}
