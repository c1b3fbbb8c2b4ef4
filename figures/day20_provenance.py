"""Day 20 figures: where a C2PA manifest sits in a PNG and what it holds (JUMBF boxes,
the data hash with its exclusion, the signed claim), and the spread-spectrum watermark."""

from course_lib.tools.diagrams import Diagram


def c2pa_layout() -> Diagram:
    d = Diagram(960, 400, title="A C2PA manifest store inside a PNG (as course_lib.provenance.manifest reads it)")
    # the file as a byte strip
    d.text(10, 12, "the signed PNG, byte by byte", size=12, anchor="start", bold=True)
    parts = [("signature 8 B", 90, "op"), ("IHDR", 60, "op"), ("caBX chunk: the manifest store", 300, "cond"),
             ("IDAT … (pixels)", 330, "data"), ("IEND", 60, "op")]
    x, boxes = 10, []
    for text, w, fill in parts:
        boxes.append(d.box(x, 26, w, 34, text, fill=fill, size=11, rounded=0))
        x += w
    d.text(boxes[2].x, 70, "start = 33", size=10, anchor="start", mono=True)
    d.text(boxes[2].x + 300, 70, "start + length", size=10, anchor="end", mono=True)
    d.text(10, 88, "hashed: every byte outside the exclusion [start, start + length) → SHA-256",
           size=11, italic=True, color="#c0392b", anchor="start")
    # the JUMBF tree
    d.frame(10, 110, 620, 282, "jumb superbox 'c2pa' (the store)")
    d.frame(24, 134, 596, 250, "jumb 'urn:c2pa:…' (one manifest, the active one)")
    d.frame(38, 158, 270, 218, "jumb 'c2pa.assertions'")
    labels = ["c2pa.actions.v2 (CBOR)\ncreated, trainedAlgorithmicMedia", "stds.schema-org.CreativeWork\n(JSON): the author",
              "c2pa.training-mining (CBOR)", "c2pa.hash.data (CBOR)\nexclusions, alg, hash (32 B)"]
    heights = [40, 40, 28, 40]
    y, assertion_boxes = 180, []
    for text, h in zip(labels, heights):
        assertion_boxes.append(d.box(48, y, 250, h, text, fill="data", size=10))
        y += h + 6
    claim = d.box(330, 168, 280, 74, "jumb 'c2pa.claim.v2' (CBOR)\ncreated_ / gathered_assertions:\n"
                  "hashed URIs (JUMBF path + SHA-256 of each box)\ndc:title, instanceID, alg", fill="cond", size=10)
    sig = d.box(330, 268, 280, 96, "jumb 'c2pa.signature': COSE_Sign1\n(CBOR tag 18) = [protected {alg: −7 ES256,\n"
                "x5chain: leaf + CA}, unprotected, nil,\nsignature 64 B] over the CBOR of\n"
                "[\"Signature1\", protected, b\"\", claim]", fill="loss", size=10)
    for box in assertion_boxes:
        d.arrow((claim.left[0], box.center[1] if box.center[1] < 242 else 236), box.right, dashed=True,
                color="#2e7d32", head=True)
    d.arrow(sig.top, claim.bottom, "signs", label_offset=-8)
    hd = assertion_boxes[3]
    d.arrow(hd.right, (645, 60), via=[(318, hd.center[1]), (318, 382), (645, 382)], color="#c0392b")
    # the verdict
    d.box(660, 130, 290, 200, "", fill="note")
    d.text(805, 150, "A reader checks", size=12, bold=True)
    d.text(805, 230, "1. the data hash = SHA-256 of the file\n   minus the exclusion (hard binding)\n"
           "2. each assertion's box hash = the\n   hashed URI in the claim\n"
           "3. the ES256 signature over the claim,\n   with the leaf's public key\n"
           "4. the chain leaf → CA; a CA on the\n   trust list: Trusted, else Valid", size=11)
    d.text(652, 104, "compared with the hash\nstored in c2pa.hash.data", size=10, anchor="start", italic=True, color="#c0392b")
    return d


def watermark_flow() -> Diagram:
    d = Diagram(960, 300, title="Spread-spectrum image watermark: embed with a key, detect by correlation")
    d.text(10, 12, "embed", size=12, anchor="start", bold=True)
    img = d.box(10, 30, 100, 46, "image\n(H, W, 3) uint8", fill="data", size=11)
    dct = d.box(145, 30, 150, 46, "luma Y → 8×8 block DCT\n10 low-freq. coefficients", fill="op", size=10)
    slots = d.box(330, 30, 130, 46, "x: (H/8, W/8, 10)\nslots", fill="data", size=11)
    key = d.box(330, 110, 130, 46, "key → owner bit k\nand chip c = ±1\nof every slot", fill="cond", size=10)
    bits = d.box(145, 110, 150, 46, "message bits\ns_k = ±1 (32 bits)", fill="cond", size=11)
    add = d.box(500, 56, 200, 74, "δ = (α s_k − λ·mean(x·c)) · c\n(α = strength 3, λ = 1:\n"
                "cancel the host's own\ncorrelation with c)", fill="op", size=10)
    out = d.box(740, 56, 210, 46, "inverse DCT, add δ to R, G, B\n→ marked image (PSNR ~46 dB)", fill="data", size=10)
    d.arrow(img.right, dct.left)
    d.arrow(dct.right, slots.left)
    d.arrow(slots.right, (add.left[0], add.left[1] - 20))
    d.arrow(key.right, (add.left[0], add.left[1] + 8))
    d.arrow(bits.bottom, (add.left[0], add.left[1] + 28), via=[(220, 166), (484, 166), (484, 121)])
    d.arrow(add.right, (out.left[0], out.left[1] - 14))
    d.text(10, 190, "detect", size=12, anchor="start", bold=True)
    rx = d.box(10, 210, 130, 46, "received image\n(JPEG, resized, …)", fill="data", size=11)
    rdct = d.box(180, 210, 150, 46, "same luma, block DCT,\n10 coefficients y", fill="op", size=10)
    corr = d.box(370, 210, 240, 46, "score_k = Σ y·c over the slots\nthat carry bit k (same key)", fill="op", size=10)
    res = d.box(650, 210, 120, 46, "bit k = 1 if\nscore_k > 0", fill="data", size=11)
    note = d.box(800, 200, 150, 66, "wrong key: c is\nunrelated to δ, so\nscores are chance", fill="note", size=10)
    d.arrow(rx.right, rdct.left)
    d.arrow(rdct.right, corr.left)
    d.arrow(corr.right, res.left)
    d.arrow(key.bottom, corr.top)
    d.arrow((out.bottom[0], out.bottom[1]), (rx.top[0], rx.top[1]), via=[(845, 176), (75, 176)],
            dashed=True, color="#888888", label="attacks", label_at=0.5)
    return d


FIGURES = {"day20_c2pa_manifest.svg": c2pa_layout, "day20_watermark.svg": watermark_flow}
