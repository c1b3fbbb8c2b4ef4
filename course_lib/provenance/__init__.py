"""Provenance and safety (day 20): C2PA signing and reading (`c2pa`, through the official
c2pa-python library), the same reading from scratch (`manifest`), spread-spectrum
watermarks for images, video and audio (`watermark`), and a prompt filter plus a
synthetic-media detector (`safety`)."""
