"""Rebuild XLM-R-style tokenizer files from a unigram vocabulary and a normalization map.

Two artefacts, both needed wherever Hugging Face XLM-R models are used:
`sentencepiece.bpe.model` (the slow tokenizer; spacy-transformers reads it as the
tokenizer's `vocab_file`) and `tokenizer.json` (the fast tokenizer). Both carry
the same precompiled character map, so slow and fast tokenization agree.

Id layout (XLM-R's fairseq convention): Hugging Face ids are `<s>`=0, `<pad>`=1,
`</s>`=2, `<unk>`=3, then the SentencePiece pieces shifted by one, then `<mask>`.
The SentencePiece model itself holds `<unk>`, `<s>`, `</s>` at 0, 1, 2.
"""
import io
import struct
import tempfile
import unicodedata
from pathlib import Path
from typing import Dict, Iterator, List, Sequence, Tuple

HF_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
MASK = "<mask>"
METASPACE = "\u2581"

# SentencePiece ModelProto field numbers (sentencepiece_model.proto)
_MODEL_PIECES, _MODEL_TRAINER_SPEC, _MODEL_NORMALIZER_SPEC = 1, 2, 3
_PIECE_TEXT, _PIECE_SCORE, _PIECE_TYPE = 1, 2, 3
_TYPE_NORMAL, _TYPE_UNKNOWN, _TYPE_CONTROL = 1, 2, 3
_TRAINER_MODEL_TYPE, _TRAINER_VOCAB_SIZE, _UNIGRAM = 3, 4, 1
_NORM_NAME, _NORM_CHARSMAP, _NORM_DUMMY_PREFIX, _NORM_REMOVE_SPACES, _NORM_ESCAPE_SPACES = 1, 2, 3, 4, 5


# -- a minimal protobuf codec: the few field kinds a SentencePiece model uses ---------------
def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field_bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _field_varint(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _field_float(number: int, value: float) -> bytes:
    return _varint(number << 3 | 5) + struct.pack("<f", value)


def _read_fields(data: bytes) -> Iterator[Tuple[int, object]]:
    def read_varint(i: int) -> Tuple[int, int]:
        result = shift = 0
        while True:
            byte = data[i]
            i += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return result, i

    i = 0
    while i < len(data):
        key, i = read_varint(i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = read_varint(i)
        elif wire == 2:
            length, i = read_varint(i)
            value, i = data[i : i + length], i + length
        elif wire == 5:
            value, i = data[i : i + 4], i + 4
        elif wire == 1:
            value, i = data[i : i + 8], i + 8
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, value


# -- the character map ------------------------------------------------------------------------
def composition_rules(single: Dict[int, Tuple[int, ...]]) -> Dict[str, str]:
    """Sequence rules that make decomposed text normalize like its composed form.

    The packed file stores one rule per codepoint; NFKC also composes sequences
    (`e` + U+0301 -> `é`). For every canonical or compatibility decomposition of a
    codepoint, map the sequence to the single-rule normalization of its NFKC form
    where that differs from applying the single rules alone. Sequences whose NFKC
    form is themselves ("MR", the decomposition of U+1F16C) get no rule.
    """

    def apply(text: str) -> str:
        return "".join("".join(map(chr, single[ord(c)])) if ord(c) in single else c for c in text)

    rules: Dict[str, str] = {}
    for codepoint in range(1, 0x110000):
        if 0xD800 <= codepoint < 0xE000:
            continue
        char = chr(codepoint)
        for form in (unicodedata.normalize("NFD", char), unicodedata.normalize("NFKD", char)):
            if len(form) > 1 and form not in rules:
                target = apply(unicodedata.normalize("NFKC", form))
                if target != apply(form):
                    rules[form] = target
    return rules


def compile_charsmap(single: Dict[int, Tuple[int, ...]]) -> bytes:
    """Compile normalization rules into SentencePiece's precompiled character map.

    SentencePiece's trainer is the only compiler of that format we trust, so we
    train a throwaway small model with our rules as `normalization_rule_tsv`
    and keep only its compiled map.
    """
    import sentencepiece

    lines = [f"{cp:X}\t{' '.join(f'{o:X}' for o in out)}" for cp, out in sorted(single.items())]
    for source, target in composition_rules(single).items():
        lines.append(f"{' '.join(f'{ord(c):X}' for c in source)}\t{' '.join(f'{ord(c):X}' for c in target)}")
    with tempfile.TemporaryDirectory() as tmp:
        rules_path = Path(tmp) / "rules.tsv"
        rules_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        buffer = io.BytesIO()
        corpus = [f"a small corpus line {i} for the throwaway model" for i in range(100)]
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(corpus), model_writer=buffer, vocab_size=1000, hard_vocab_limit=False, model_type="unigram",
            normalization_rule_tsv=str(rules_path), minloglevel=2,
        )
    for number, value in _read_fields(buffer.getvalue()):
        if number == _MODEL_NORMALIZER_SPEC:
            for sub_number, sub_value in _read_fields(value):  # type: ignore[arg-type]
                if sub_number == _NORM_CHARSMAP:
                    return bytes(sub_value)  # type: ignore[arg-type]
    raise RuntimeError("sentencepiece did not produce a precompiled character map")


# -- the two tokenizer files ------------------------------------------------------------------
def _check_layout(pieces: Sequence[str]) -> None:
    if tuple(pieces[:4]) != HF_SPECIALS or pieces[-1] != MASK:
        raise ValueError(f"expected XLM-R id layout {HF_SPECIALS} ... {MASK}, got {pieces[:4]} ... {pieces[-1:]}")


def sentencepiece_model_bytes(pieces: Sequence[str], scores: Sequence[float], charsmap: bytes) -> bytes:
    """Serialize a unigram `sentencepiece.bpe.model` for Hugging Face-ordered pieces (see module doc)."""
    _check_layout(pieces)
    entries: List[Tuple[str, float, int]] = [("<unk>", 0.0, _TYPE_UNKNOWN), ("<s>", 0.0, _TYPE_CONTROL), ("</s>", 0.0, _TYPE_CONTROL)]
    entries += [(p, s, _TYPE_NORMAL) for p, s in zip(pieces[4:-1], scores[4:-1])]
    out = bytearray()
    for text, score, kind in entries:
        body = _field_bytes(_PIECE_TEXT, text.encode("utf-8")) + _field_float(_PIECE_SCORE, score)
        if kind != _TYPE_NORMAL:
            body += _field_varint(_PIECE_TYPE, kind)
        out += _field_bytes(_MODEL_PIECES, body)
    trainer = _field_varint(_TRAINER_MODEL_TYPE, _UNIGRAM) + _field_varint(_TRAINER_VOCAB_SIZE, len(entries))
    out += _field_bytes(_MODEL_TRAINER_SPEC, trainer)
    normalizer = (
        _field_bytes(_NORM_NAME, b"nmt_nfkc")
        + _field_bytes(_NORM_CHARSMAP, charsmap)
        + _field_varint(_NORM_DUMMY_PREFIX, 1)
        + _field_varint(_NORM_REMOVE_SPACES, 1)
        + _field_varint(_NORM_ESCAPE_SPACES, 1)
    )
    out += _field_bytes(_MODEL_NORMALIZER_SPEC, normalizer)
    return bytes(out)


def fast_tokenizer(pieces: Sequence[str], scores: Sequence[float], charsmap: bytes):
    """A `tokenizers.Tokenizer` equivalent to the SentencePiece model above, in Hugging Face ids."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    _check_layout(pieces)
    vocab = [(p, float(s)) for p, s in zip(pieces, scores)]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=HF_SPECIALS.index("<unk>"), byte_fallback=False))
    # Same steps as SentencePiece: character map, strip outer spaces and collapse inner runs
    # (remove_extra_whitespaces), "▁" for spaces plus a dummy prefix. Hugging Face's own XLM-R
    # tokenizer.json skips the strip and so differs from its slow tokenizer on trailing spaces.
    tokenizer.normalizer = normalizers.Sequence([
        normalizers.Precompiled(charsmap), normalizers.Strip(left=True, right=True), normalizers.Replace(Regex(" {2,}"), " "),
    ])
    # Split at whitespace first, then prefix each word with "▁": the same pieces and ids as one Metaspace
    # over the text, but the offsets of "▁word" start at the word, not at the space before it. With the
    # space included, spacy-transformers (which aligns a token to the pieces within its text plus one
    # character) would also give every token the first piece of the next word.
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False),
    ])
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in HF_SPECIALS])
    tokenizer.add_special_tokens([AddedToken(MASK, special=True, normalized=False, lstrip=True)])
    return tokenizer


def write_tokenizer_files(directory: Path, pieces: Sequence[str], scores: Sequence[float], charsmap: bytes, max_length: int) -> None:
    """Write sentencepiece.bpe.model, tokenizer.json and the transformers configs for XLMRobertaTokenizer(Fast)."""
    from transformers import XLMRobertaTokenizerFast

    directory = Path(directory)
    spm_path = directory / "sentencepiece.bpe.model"
    spm_path.write_bytes(sentencepiece_model_bytes(pieces, scores, charsmap))
    json_path = directory / "tokenizer.json"
    fast_tokenizer(pieces, scores, charsmap).save(str(json_path))
    wrapped = XLMRobertaTokenizerFast(vocab_file=str(spm_path), tokenizer_file=str(json_path), model_max_length=max_length)
    wrapped.save_pretrained(str(directory))
