import numpy
import pytest
from simalign import SentenceAligner

from spacy_xproj.core.alignment import (
    align_vectors,
    argmax_links,
    itermax_links,
    links_as_set,
    match_links,
    parse_pharaoh,
    pool_subwords,
    score_alignments,
    softmax_threshold_links,
    subword_links_to_words,
    with_cosine_scores,
)
from spacy_xproj.encoders.subword_encoder import plan_windows

SIM = numpy.array(
    [
        [0.9, 0.1, 0.2],
        [0.2, 0.8, 0.7],
        [0.1, 0.75, 0.3],
        [0.3, 0.2, 0.1],
    ]
)


def test_argmax_is_mutual_best():
    # row 2's best is column 1, but column 1's best is row 1; row 3's best column 0 prefers row 0
    assert links_as_set(argmax_links(SIM)) == {(0, 0), (1, 1)}


def test_itermax_adds_second_round_links_for_unaligned_words():
    # Round 1 (ArgMax): (0, 0), (1, 1). Free: rows 2, 3 and column 2. Weights: 0.9 where one side is
    # free, 1.0 where both are, 0 where neither. Weighted rows: r0 [0, 0, .18], r1 [0, 0, .63],
    # r2 [.09, .675, .3], r3 [.27, .18, .1]. Mutual maxima: (1, 2), (2, 1), (3, 0).
    links = links_as_set(itermax_links(SIM, max_iterations=2))
    assert links == {(0, 0), (1, 1), (1, 2), (2, 1), (3, 0)}
    assert links_as_set(itermax_links(SIM, max_iterations=1)) == {(0, 0), (1, 1)}


@pytest.mark.parametrize("seed", range(30))
def test_extraction_equals_simalign_on_random_matrices(seed):
    rng = numpy.random.default_rng(seed)
    m, n = rng.integers(1, 12, size=2)
    sim = rng.random((m, n))
    forward, backward = SentenceAligner.get_alignment_matrix(sim)
    assert links_as_set(argmax_links(sim)) == {tuple(x) for x in numpy.argwhere(forward * backward > 0)}
    assert links_as_set(itermax_links(sim)) == {tuple(x) for x in numpy.argwhere(SentenceAligner.iter_max(sim) > 0)}
    assert links_as_set(match_links(sim)) == {tuple(x) for x in numpy.argwhere(SentenceAligner.get_max_weight_match(sim) > 0)}


def test_match_is_one_to_one_and_maximal():
    links = match_links(SIM)
    assert len(links) == 3
    assert len(set(links[:, 0])) == len(set(links[:, 1])) == 3
    assert SIM[links[:, 0], links[:, 1]].sum() == pytest.approx(0.9 + 0.7 + 0.75)


def test_softmax_threshold_hand_computed():
    dot = numpy.log(numpy.array([[8.0, 1.0, 1.0], [1.0, 1.0, 1.0]]))
    # forward row 0: [0.8, 0.1, 0.1]; row 1: [1/3] * 3; backward col 0: [8/9, 1/9]; cols 1, 2: [0.5, 0.5]
    links, scores = softmax_threshold_links(dot, threshold=0.2)
    assert links_as_set(links) == {(0, 0), (1, 1), (1, 2)}
    assert scores.tolist() == pytest.approx([numpy.sqrt(0.8 * 8 / 9), numpy.sqrt(1 / 6), numpy.sqrt(1 / 6)], rel=1e-5)


@pytest.mark.parametrize("select", [argmax_links, itermax_links, match_links])
def test_empty_similarity_gives_no_links(select):
    assert select(numpy.zeros((0, 3))).shape == (0, 2)
    assert select(numpy.zeros((2, 0))).shape == (0, 2)


def test_mean_and_first_pooling_with_many_pieces_and_missing_words():
    vectors = numpy.arange(12, dtype=numpy.float32).reshape(6, 2)
    word_index = numpy.array([0, 0, 0, 2, 3, 3])  # word 1 has no subwords (e.g. a control character), word 4 neither
    pooled, present = pool_subwords(vectors, word_index, 5, "mean")
    assert present.tolist() == [True, False, True, True, False]
    assert pooled[0].tolist() == [2.0, 3.0] and pooled[3].tolist() == [9.0, 10.0] and pooled[1].tolist() == [0.0, 0.0]
    first, _ = pool_subwords(vectors, word_index, 5, "first")
    assert first[0].tolist() == [0.0, 1.0] and first[3].tolist() == [8.0, 9.0]
    empty, none = pool_subwords(numpy.zeros((0, 2), dtype=numpy.float32), numpy.zeros(0, dtype=numpy.int64), 3)
    assert empty.shape == (3, 2) and not none.any()


def test_cjk_characters_as_words_pool_one_to_one():
    # a Chinese sentence split into characters: every word is one subword, pooling is the identity
    vectors = numpy.random.default_rng(0).random((4, 3)).astype(numpy.float32)
    pooled, present = pool_subwords(vectors, numpy.arange(4), 4)
    assert numpy.allclose(pooled, vectors) and present.all()


def test_subword_links_map_to_unique_word_links_with_best_score():
    links = numpy.array([[0, 0], [1, 0], [2, 1], [3, 2]])
    scores = numpy.array([0.5, 0.9, 0.7, 0.6], dtype=numpy.float32)
    words, best = subword_links_to_words(links, scores, numpy.array([0, 0, 1, 2]), numpy.array([0, 1, 1]))
    assert words.tolist() == [[0, 0], [1, 1], [2, 1]]
    assert best.tolist() == pytest.approx([0.9, 0.7, 0.6])


def test_align_vectors_skips_words_without_subwords():
    rng = numpy.random.default_rng(1)
    source = rng.standard_normal((3, 8)).astype(numpy.float32)
    # target word 1 has no subwords; words 0 and 2 copy source words 2 and 0
    target = source[[2, 0]]
    links, scores = align_vectors(with_cosine_scores(argmax_links), source, target, numpy.array([0, 1, 2]), numpy.array([0, 2]), 3, 3, "mean")
    assert links_as_set(links) == {(2, 0), (0, 2)}
    assert scores.tolist() == pytest.approx([1.0, 1.0], abs=1e-6)


def test_parse_pharaoh_sure_possible_and_errors():
    sure, possible = parse_pharaoh("1-1 2p3 3-2", one_based=True)
    assert sure == {(0, 0), (2, 1)} and possible == {(0, 0), (1, 2), (2, 1)}
    with pytest.raises(ValueError, match="Malformed alignment link 'x-1'"):
        parse_pharaoh("x-1")
    with pytest.raises(ValueError, match="are they 0-based"):
        parse_pharaoh("0-1", one_based=True)


def test_aer_precision_recall_hand_computed():
    predicted = [{(0, 0), (1, 1), (2, 2)}]
    sure = [{(0, 0), (1, 2)}]
    possible = [{(1, 1)}]  # possible links are a superset of sure ones after union
    scores = score_alignments(predicted, sure, possible)
    # |A∩S| = 1, |A∩P| = 2 (P = S ∪ possible), |A| = 3, |S| = 2
    assert scores.aer == pytest.approx(1 - 3 / 5)
    assert scores.precision == pytest.approx(2 / 3)
    assert scores.recall == pytest.approx(1 / 2)


@pytest.mark.parametrize("n,width,overlap", [(10, 4, 2), (1000, 510, 64), (7, 7, 3), (0, 5, 1), (513, 510, 64), (50, 9, 100)])
def test_windows_fit_and_keep_ranges_tile_the_sentence(n, width, overlap):
    windows = plan_windows(n, width, overlap)
    assert all(end - start <= width for start, end, _, _ in windows)
    kept = [p for _, _, lo, hi in windows for p in range(lo, hi)]
    assert kept == list(range(n))
    assert all(start <= lo and hi <= end for start, end, lo, hi in windows)
