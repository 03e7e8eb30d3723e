"""SubwordEncoder: a sentence's vectors do not depend on what is read beside it, encoders that read alike agree at
every layer both compute, and vectors read in another pass are reused, not read again."""
from collections import Counter

import numpy
import pytest

from spacy_xproj.encoders.subword_encoder import SubwordEncoder, plan_windows

SENTENCES = [
    "the cat sits on the mat".split(),
    "die katze sitzt".split(),
    "le chat est sur le tapis , the cat sits on the mat and die katze sitzt auf der matte .".split(),
    ["a"],
    "Zebras quietly jump over 12 lazy dogs !".split(),
    "the mat".split(),
]


def same_vectors(a, b) -> bool:
    return numpy.array_equal(a.vectors, b.vectors) and numpy.array_equal(a.word_index, b.word_index) and (a.n_words, a.windows) == (b.n_words, b.windows)


def test_a_sentence_reads_the_same_bits_alone_or_among_others(tiny_model_dir):
    encoder = SubwordEncoder(tiny_model_dir, layers=[1, 2], batch_size=3, max_window=24, window_overlap=4)
    together = encoder.encode(SENTENCES)
    assert together[2].windows > 1  # the long sentence is read in windows
    assert all(same_vectors(encoder.encode([words])[0], read) for words, read in zip(SENTENCES, together))
    assert all(same_vectors(a, b) for a, b in zip(encoder.encode(SENTENCES[::-1])[::-1], together))


def test_encoders_that_read_alike_agree_at_a_layer_both_compute(tiny_model_dir):
    every = SubwordEncoder(tiny_model_dir, layers=[0, 1, 2], batch_size=4, max_window=24, window_overlap=4)
    one = SubwordEncoder(tiny_model_dir, layers=[1], batch_size=2, max_window=24, window_overlap=4)
    assert one.reading == every.reading
    assert all(numpy.array_equal(a.vectors[1], b.vectors) for a, b in zip(every.encode(SENTENCES), one.encode(SENTENCES)))
    assert SubwordEncoder(tiny_model_dir, layers=[1], max_window=20, window_overlap=4).reading != one.reading
    assert SubwordEncoder(tiny_model_dir, layers=[1], max_window=24, window_overlap=4, precision="bfloat16").reading != one.reading


def test_reused_vectors_are_given_back_and_only_the_others_are_read(tiny_model_dir, monkeypatch):
    encoder = SubwordEncoder(tiny_model_dir, layers=[2], max_window=24, window_overlap=4)
    expected = encoder.encode(SENTENCES)
    given = encoder.encode(SENTENCES[:2])
    read = []
    original = SubwordEncoder._read
    monkeypatch.setattr(SubwordEncoder, "_read", lambda self, sentences, progress: read.append(list(sentences)) or original(self, sentences, progress))
    with encoder.reusing(SENTENCES[:2], given):
        got = encoder.encode(SENTENCES)
    assert read == [SENTENCES[2:]]
    assert got[0] is given[0] and all(same_vectors(a, b) for a, b in zip(got, expected))
    encoder.encode(SENTENCES[:1])  # outside the block, nothing is given
    assert read[-1] == SENTENCES[:1]


@pytest.mark.parametrize("batch_size", [1, 2, 32])
def test_batches_hold_windows_of_one_length_only(tiny_model_dir, monkeypatch, batch_size):
    encoder = SubwordEncoder(tiny_model_dir, layers=[2], batch_size=batch_size, max_window=24, window_overlap=4)
    shapes = []
    forward = encoder.model.forward

    def recording(input_ids=None, **kwargs):
        shapes.append(tuple(input_ids.shape))
        assert "attention_mask" not in kwargs  # nothing is padded
        return forward(input_ids=input_ids, **kwargs)

    monkeypatch.setattr(encoder.model, "forward", recording)
    encoder.encode(SENTENCES)
    windows = Counter(end - start for ids, _ in encoder.tokenize(SENTENCES) for start, end, _, _ in plan_windows(len(ids), encoder.max_window, 4))
    specials = len(encoder.tokenizer.build_inputs_with_special_tokens([]))
    assert sorted(shapes) == sorted((min(batch_size, n - b), length + specials) for length, n in windows.items() for b in range(0, n, batch_size))
