import pytest
import spacy
from spacy.tokens import Doc, DocBin

from spacy_xproj import get_source, make_parallel_doc
from spacy_xproj.corpus.conll import read_conll_ner, score_entities, tags_to_spans
from spacy_xproj.corpus.schema import get_projection, set_alignment
from spacy_xproj.core.projection import (
    ProjectedEntity, close_brackets, naive_projection, prefer_name_matches, project_spans, quantile, spells, relabel_derived_adjectives, resolve_overlaps, split_off_derived_adjectives, trim_function_words,
    validate,
)
from spacy_xproj.components.projector import projection_status


def spans(projection):
    return [(e.start, e.end, e.label) for e in projection.entities]


def test_contiguous_projection_and_confidence():
    # "Angela Merkel visited Paris" -> "Angela Merkel besuchte Paris"
    links = [(0, 0, 0.9), (1, 1, 0.8), (2, 2, 0.7), (3, 3, 0.95)]
    projection = project_spans([(0, 2, "PER"), (3, 4, "LOC")], links, 4)
    assert spans(projection) == [(0, 2, "PER"), (3, 4, "LOC")] and projection.complete
    assert projection.entities[0].confidence == pytest.approx(0.85)


def test_reordering_keeps_the_span_in_target_order():
    # "the European Parliament" -> "el Parlamento Europeo": entity words 1,2 link to 2,1
    projection = project_spans([(1, 3, "ORG")], [(0, 0, 1.0), (1, 2, 1.0), (2, 1, 1.0)], 3)
    assert spans(projection) == [(1, 3, "ORG")]


def test_unaligned_entity_word_still_projects_with_lower_confidence():
    projection = project_spans([(0, 3, "ORG")], [(0, 0, 1.0), (2, 2, 1.0)], 3)
    assert spans(projection) == [(0, 3, "ORG")]  # a one-word gap inside the span is bridged
    assert projection.entities[0].confidence == pytest.approx(2 / 3, abs=1e-4)


def test_entity_without_links_is_reported():
    projection = project_spans([(0, 1, "PER"), (2, 3, "LOC")], [(0, 0, 1.0)], 3)
    assert spans(projection) == [(0, 1, "PER")]
    assert projection.unprojected == {1: "no aligned target word"} and not projection.complete


def test_split_target_keeps_the_heaviest_cluster_but_naive_spans_all():
    # entity word 0 -> target 0 (weak) and target 5,6 (strong): gap of 4 > max_gap
    links = [(0, 0, 0.3), (0, 5, 0.9), (1, 6, 0.9)]
    assert spans(project_spans([(0, 2, "ORG")], links, 7)) == [(5, 7, "ORG")]
    assert spans(naive_projection([(0, 2, "ORG")], links, 7)) == [(0, 7, "ORG")]
    assert spans(project_spans([(0, 2, "ORG")], links, 7, max_gap=4)) == [(0, 7, "ORG")]


def test_default_gap_bridges_two_function_words_but_not_three():
    # "EU regional policy" -> "política regional de la UE": UE is two unaligned words away
    links = [(0, 4, 0.9), (1, 1, 0.9), (2, 0, 0.9)]
    assert spans(project_spans([(0, 3, "MISC")], links, 5)) == [(0, 5, "MISC")]
    # "... de la Unión Europea": three words away, so the heavier cluster stays alone
    links = [(0, 5, 0.5), (1, 1, 0.9), (2, 0, 0.9)]
    assert spans(project_spans([(0, 3, "MISC")], links, 6)) == [(0, 2, "MISC")]


def test_a_gap_word_confidently_aligned_elsewhere_splits_the_cluster():
    # "Poettering" (0) -> "Poettering" (0) strongly, and a stray link to "Rühren" (3);
    # "für" (1) is weakly aligned to source 5, "das" (2) strongly to source 6
    links = [(0, 0, 0.95), (0, 3, 0.8), (5, 1, 0.5), (6, 2, 0.93)]
    assert spans(project_spans([(0, 1, "PER")], links, 4)) == [(0, 4, "PER")]  # gap 2: bridged
    assert spans(project_spans([(0, 1, "PER")], links, 4, split_above=0.9)) == [(0, 1, "PER")]
    # only the weak link in the gap: still bridged, as unaligned function words are
    weak = [(0, 0, 0.95), (0, 2, 0.8), (5, 1, 0.5)]
    assert spans(project_spans([(0, 1, "PER")], weak, 3, split_above=0.9)) == [(0, 3, "PER")]
    # a gap word aligned to the entity too is the entity's: it cannot split it
    shared = [(0, 0, 0.95), (1, 2, 0.9), (7, 1, 0.95), (1, 1, 0.3)]
    assert spans(project_spans([(0, 2, "ORG")], shared, 3, split_above=0.9)) == [(0, 3, "ORG")]


def test_quantile_interpolates_between_order_statistics():
    import numpy

    values = [0.5, 0.93, 0.8, 0.95, 0.61]
    for q in (0.0, 0.3, 0.7, 0.95, 1.0):
        assert quantile(values, q) == pytest.approx(float(numpy.quantile(values, q)))
    assert quantile([0.4], 0.7) == 0.4


def test_split_quantile_is_relative_to_the_pairs_own_links():
    # the same pair as scored by the embedded encoder, and by a fine-tuned one whose cosines are all higher
    confident = [(0, 0, 0.95), (0, 3, 0.8), (5, 1, 0.5), (6, 2, 0.93)]
    assert spans(project_spans([(0, 1, "PER")], confident, 4, split_quantile=0.6)) == [(0, 1, "PER")]
    weak, weak_raised = [(0, 0, 0.95), (0, 2, 0.8), (5, 1, 0.5)], [(0, 0, 0.99), (0, 2, 0.95), (5, 1, 0.92)]
    assert spans(project_spans([(0, 1, "PER")], weak, 3, split_above=0.9)) == [(0, 3, "PER")]
    assert spans(project_spans([(0, 1, "PER")], weak_raised, 3, split_above=0.9)) == [(0, 1, "PER")]  # a fixed cosine splits
    for links in (weak, weak_raised):
        assert spans(project_spans([(0, 1, "PER")], links, 3, split_quantile=0.7)) == [(0, 3, "PER")]
    assert project_spans([(0, 1, "PER")], [], 3, split_quantile=0.7).unprojected == {0: "no aligned target word"}


def test_edge_function_words_are_trimmed_unless_the_source_entity_has_them_too():
    target = "de la Comisión Europea y von Wogau".split()
    function_word = [True, True, False, False, True, True, False]
    projected = [ProjectedEntity(0, 4, "ORG", 0.9, 0), ProjectedEntity(5, 7, "PER", 0.8, 1)]
    source = "the European Commission and von Wogau".split()
    entities = [(1, 3, "ORG"), (4, 6, "PER")]
    trimmed = trim_function_words(projected, function_word, source, entities)
    assert [target[e.start:e.end] for e in trimmed] == [["Comisión", "Europea"], ["von", "Wogau"]]  # "von" opens the source name: kept
    assert [(e.label, e.confidence, e.source) for e in trimmed] == [("ORG", 0.9, 0), ("PER", 0.8, 1)]
    # a span of function words only keeps its last one rather than vanishing
    only_function_words = trim_function_words([ProjectedEntity(0, 2, "ORG", 0.9, 0)], function_word, source, entities)
    assert [(e.start, e.end) for e in only_function_words] == [(1, 2)]
    assert trim_function_words([], function_word, source, entities) == []
    # "the Netherlands" -> "den Niederlanden": a source article protects nothing once it is known as one
    netherlands = [ProjectedEntity(1, 3, "LOC", 0.9, 0)]
    words, target_function_word = "in the Netherlands".split(), [True, True, False]
    assert trim_function_words(netherlands, target_function_word, words, [(1, 3, "LOC")]) == netherlands
    assert trim_function_words(netherlands, target_function_word, words, [(1, 3, "LOC")], [True, True, False])[0].start == 2


def test_one_lowercase_word_projected_from_a_name_is_a_derived_adjective():
    words = "la ayuda comunitaria de la Comisión y los estados miembros".split()
    projected = [ProjectedEntity(2, 3, "ORG", 0.9, 0), ProjectedEntity(5, 6, "ORG", 0.9, 1), ProjectedEntity(8, 10, "ORG", 0.7, 2)]
    relabelled = relabel_derived_adjectives(projected, words, "MISC")
    assert [(e.start, e.end, e.label) for e in relabelled] == [(2, 3, "MISC"), (5, 6, "ORG"), (8, 10, "ORG")]
    assert relabelled[0].confidence == 0.9 and relabelled[0].source == 0


def test_component_relabels_derived_adjectives_unless_told_not_to():
    source, target = ["Community", "aid"], ["ayuda", "comunitaria"]
    links = [(0, 1, 0.9), (1, 0, 0.9)]
    for label, expected in (("MISC", "MISC"), (None, "ORG")):
        nlp = spacy.blank("es")
        nlp.add_pipe("entity_projector", config={"derived_adjective_label": label})
        doc = nlp(aligned_doc(nlp, source, target, [(0, 1, "ORG")], links))
        assert [(e.text, e.label_) for e in doc.ents] == [("comunitaria", expected)]


def test_derived_adjectives_split_off_whatever_their_label_but_names_stay():
    words = "la multinacional española Telefónica y la ayuda comunitaria".split()
    projected = [ProjectedEntity(2, 3, "MISC", 0.9, 0), ProjectedEntity(3, 4, "ORG", 0.9, 1), ProjectedEntity(7, 8, "ORG", 0.8, 2), ProjectedEntity(6, 7, "EVENT", 0.5, 3)]
    kept, dropped = split_off_derived_adjectives(projected, words)
    assert [(e.start, e.label) for e in kept] == [(3, "ORG"), (6, "EVENT")]
    assert [(e.start, e.label) for e in dropped] == [(2, "MISC"), (7, "ORG")]


def test_component_drops_derived_adjectives_as_outside_even_in_a_partial_projection():
    source, target = ["the", "Spanish", "company", "Telefonica", "and", "Iberia"], ["la", "multinacional", "española", "Telefónica", "e", "Iberia"]
    ents = [(1, 2, "MISC"), (3, 4, "ORG"), (5, 6, "ORG")]
    links = [(1, 2, 0.9), (2, 1, 0.9), (3, 3, 0.95)]  # "Iberia" unaligned: the projection is partial
    nlp = spacy.blank("es")
    nlp.add_pipe("entity_projector", config={"drop_derived_adjectives": True})
    doc = nlp(aligned_doc(nlp, source, target, ents, links))
    assert [(e.text, e.label_) for e in doc.ents] == [("Telefónica", "ORG")]
    assert doc[2].ent_iob_ == "O"  # known not to be an entity
    assert doc[1].ent_iob_ == "" and doc[5].ent_iob_ == ""  # unknown
    assert doc._.xproj_projection["status"] == "partial"
    complete = nlp(aligned_doc(nlp, source[:4], target[:4], ents[:2], links))
    assert [e.text for e in complete.ents] == ["Telefónica"] and complete[2].ent_iob_ == "O"
    assert complete._.xproj_projection["status"] == "complete"


def test_component_trims_articles_unless_told_not_to():
    source, target = ["the", "Commission", "decided"], ["la", "Comisión", "decidió"]
    links = [(1, 0, 0.8), (1, 1, 0.95), (2, 2, 0.9)]
    for trim, expected in ((True, "Comisión"), (False, "la Comisión")):
        nlp = spacy.blank("es")
        nlp.add_pipe("entity_projector", config={"trim_function_words": trim})
        doc = nlp(aligned_doc(nlp, source, target, [(1, 2, "ORG")], links))
        assert [e.text for e in doc.ents] == [expected]


def test_closing_brackets_opened_inside_an_entity_are_taken_back():
    words = "Comité Europeo ( CEN ) y ( SEC ( 1999 ) 743 ( COS ) ) )".split()
    trimmed = [ProjectedEntity(0, 4, "ORG", 0.9, 0), ProjectedEntity(6, 14, "MISC", 0.8, 1)]
    assert [(e.start, e.end) for e in close_brackets(trimmed, words)] == [(0, 5), (6, 16)]  # the last ")" opened nothing here
    assert close_brackets([ProjectedEntity(7, 14, "MISC", 0.8, 1)], words)[0].end == 15
    # brackets already balanced, or a closing bracket inside another entity: unchanged
    assert close_brackets([ProjectedEntity(2, 5, "ORG", 0.9, 0)], words) == [ProjectedEntity(2, 5, "ORG", 0.9, 0)]
    blocked = [ProjectedEntity(0, 3, "ORG", 0.9, 0), ProjectedEntity(3, 4, "ORG", 0.9, 1)]
    assert close_brackets(blocked, "A ( B )".split()) == blocked
    assert close_brackets([], []) == []


def test_component_closes_brackets_unless_told_not_to():
    source, target = ["the", "CEN", "(", "Committee", ")"], ["el", "CEN", "(", "Comité", ")"]
    links = [(0, 0, 0.9), (1, 1, 0.9), (2, 2, 0.9), (3, 3, 0.9), (4, 4, 0.9)]
    for balance, expected in ((True, "CEN ( Comité )"), (False, "CEN ( Comité")):
        nlp = spacy.blank("es")
        nlp.add_pipe("entity_projector", config={"balance_brackets": balance})
        doc = nlp(aligned_doc(nlp, source, target, [(1, 4, "ORG")], links))
        assert [e.text for e in doc.ents] == [expected]


def test_punctuation_at_the_edges_is_trimmed():
    trimmable = [True, False, False, True]  # „Merkel Angela“
    projection = project_spans([(0, 2, "PER")], [(0, 0, 0.5), (0, 1, 0.9), (1, 2, 0.9), (1, 3, 0.4)], 4, trimmable)
    assert spans(projection) == [(1, 3, "PER")]
    only_punct = project_spans([(0, 1, "PER")], [(0, 0, 0.9)], 4, trimmable)
    assert only_punct.entities == [] and only_punct.unprojected == {0: "aligned only to punctuation"}


def test_many_to_one_overlap_keeps_the_more_confident_span():
    # two source entities land on the same target word
    projection = project_spans([(0, 1, "PER"), (2, 3, "LOC")], [(0, 1, 0.6), (2, 1, 0.9)], 3)
    assert spans(projection) == [(1, 2, "LOC")]
    assert projection.unprojected == {0: "overlaps a more confident projection"}


def test_overlap_ties_are_deterministic():
    a = ProjectedEntity(0, 2, "PER", 0.5, source=1)
    b = ProjectedEntity(1, 3, "ORG", 0.5, source=0)
    c = ProjectedEntity(1, 2, "LOC", 0.5, source=2)
    kept, rejected = resolve_overlaps([a, b, c])
    kept_again, _ = resolve_overlaps([c, b, a])
    assert kept == kept_again  # the same candidates in any order give the same result
    # equal confidence and length: the earlier source entity (b) wins; both others overlap it
    assert kept == [b] and {e.source for e in rejected} == {1, 2}


def test_empty_sentences_and_no_entities():
    assert project_spans([], [], 0).entities == [] and project_spans([], [], 0).complete
    assert project_spans([(0, 1, "PER")], [], 0).unprojected == {0: "no aligned target word"}


def test_min_coverage():
    projection = project_spans([(0, 4, "ORG")], [(3, 0, 1.0)], 2, min_coverage=0.5)
    assert projection.unprojected == {0: "only 25% of its words aligned"}


def test_validate_names_bad_input():
    with pytest.raises(ValueError, match=r"source entity \(2, 5, 'PER'\) lies outside the 3 source words"):
        validate([(2, 5, "PER")], [], 3, 3)
    with pytest.raises(ValueError, match="alignment link 1-7 lies outside"):
        validate([], [(1, 7, 1.0)], 3, 3)


# -- the component --------------------------------------------------------------------------------
def aligned_doc(nlp, source_words, target_words, ents, links):
    doc = make_parallel_doc(nlp, source_words, target_words, source_ents=ents, source_lang="en")
    set_alignment(doc, links)
    return doc


def test_component_on_pre_aligned_docs_sets_ents_and_missing_tokens():
    nlp = spacy.blank("de")
    nlp.add_pipe("entity_projector")
    complete = nlp(aligned_doc(nlp, ["Merkel", "visited", "Paris"], ["Merkel", "besuchte", "Paris"], [(0, 1, "PER"), (2, 3, "LOC")], [(0, 0, 1.0), (1, 1, 1.0), (2, 2, 1.0)]))
    assert [(e.text, e.label_) for e in complete.ents] == [("Merkel", "PER"), ("Paris", "LOC")]
    assert complete[1].ent_iob_ == "O" and complete._.xproj_projection["status"] == "complete"
    partial = nlp(aligned_doc(nlp, ["Merkel", "visited", "Paris"], ["Merkel", "besuchte", "Paris"], [(0, 1, "PER"), (2, 3, "LOC")], [(0, 0, 1.0)]))
    assert [e.text for e in partial.ents] == ["Merkel"]
    assert partial[1].ent_iob_ == "" and partial[2].ent_iob_ == ""  # unknown, not "O": the model learns nothing false
    assert partial._.xproj_projection["unprojected"] == [[1, "no aligned target word"]]
    assert projection_status([complete, partial]) == {"complete": 1, "partial": 1, "dropped": 0}


def test_drop_and_keep_policies_for_incomplete_projections():
    for mode, expected_iob in (("drop", ["", "", ""]), ("keep", ["B", "O", "O"])):
        nlp = spacy.blank("de")
        nlp.add_pipe("entity_projector", config={"on_incomplete": mode})
        doc = nlp(aligned_doc(nlp, ["Merkel", "visited", "Paris"], ["Merkel", "besuchte", "Paris"], [(0, 1, "PER"), (2, 3, "LOC")], [(0, 0, 1.0)]))
        assert [t.ent_iob_ for t in doc] == expected_iob, mode


def test_label_map_with_unmapped_labels():
    nlp = spacy.blank("de")
    nlp.add_pipe("entity_projector", config={"label_map": {"@misc": "spacy-xproj.ontonotes_to_conll.v1"}, "unmapped": "error"})
    doc = aligned_doc(nlp, ["Merkel", "on", "Monday"], ["Merkel", "am", "Montag"], [(0, 1, "PERSON"), (2, 3, "DATE")], [(0, 0, 1.0), (2, 2, 1.0)])
    assert [(e.text, e.label_) for e in nlp(doc).ents] == [("Merkel", "PER")]  # DATE maps to null: dropped
    with pytest.raises(ValueError, match="source label 'ANIMAL' is not in label_map"):
        nlp(aligned_doc(nlp, ["cat"], ["Katze"], [(0, 1, "ANIMAL")], [(0, 0, 1.0)]))


def test_missing_alignment_and_out_of_range_entities_are_explained():
    nlp = spacy.blank("de")
    nlp.add_pipe("entity_projector")
    with pytest.raises(ValueError, match="has no word alignment"):
        nlp(make_parallel_doc(nlp, ["a"], ["b"], source_ents=[(0, 1, "PER")]))
    doc = aligned_doc(nlp, ["a"], ["b"], [], [(0, 3, 1.0)])
    with pytest.raises(ValueError, match="alignment link 0-3 lies outside"):
        nlp(doc)


def test_projected_docs_round_trip_through_docbin_with_missing_annotation():
    nlp = spacy.blank("de")
    nlp.add_pipe("entity_projector")
    doc = nlp(aligned_doc(nlp, ["Merkel", "visited", "Paris"], ["Merkel", "besuchte", "Paris"], [(0, 1, "PER"), (2, 3, "LOC")], [(0, 0, 1.0)]))
    restored = list(DocBin(docs=[doc], store_user_data=True).get_docs(nlp.vocab))[0]
    assert [t.ent_iob_ for t in restored] == ["B", "", ""]
    assert get_projection(restored) == get_projection(doc) == {"status": "partial", "ents": [(0, 1, "PER", 1.0)], "unprojected": [(1, "no aligned target word")]}
    assert get_source(restored).ents == [(0, 1, "PER"), (2, 3, "LOC")]


def test_component_serializes_and_reports_with_the_ner_scorer(tmp_path):
    from spacy.training import Example

    nlp = spacy.blank("de")
    nlp.add_pipe("entity_projector", config={"label_map": {"PERSON": "PER"}, "unmapped": "drop"})
    nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    assert loaded.get_pipe("entity_projector").cfg == nlp.get_pipe("entity_projector").cfg
    doc = loaded(aligned_doc(loaded, ["Merkel", "in", "Rome"], ["Merkel", "in", "Rom"], [(0, 1, "PERSON"), (2, 3, "GPE")], [(0, 0, 1.0), (2, 2, 1.0)]))
    reference = Doc(loaded.vocab, words=["Merkel", "in", "Rom"], ents=["B-PER", "O", "O"])
    assert loaded.get_pipe("entity_projector").score([Example(doc, reference)])["ents_f"] == 1.0


def test_config_overrides_win_over_the_saved_projector_settings(tmp_path):
    nlp = spacy.blank("de")
    nlp.add_pipe("entity_projector", config={"label_map": {"PERSON": "PER"}, "unmapped": "drop", "on_incomplete": "missing"})
    nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p", config={"components": {"entity_projector": {"unmapped": "keep", "on_incomplete": "drop"}}})
    projector = loaded.get_pipe("entity_projector")
    assert projector.cfg["unmapped"] == "keep" and projector.cfg["on_incomplete"] == "drop" and projector.cfg["label_map"] == {"PERSON": "PER"}
    doc = loaded(aligned_doc(loaded, ["Merkel", "in", "Rome"], ["Merkel", "in", "Rom"], [(0, 1, "PERSON"), (2, 3, "GPE")], [(0, 0, 1.0), (2, 2, 1.0)]))
    assert [(e.start, e.end, e.label_) for e in doc.ents] == [(0, 1, "PER"), (2, 3, "GPE")]  # GPE kept, as the override says


def test_in_a_pipeline_with_the_stand_in_aligner():
    nlp = spacy.blank("es")
    nlp.add_pipe("stand_in_aligner")
    nlp.add_pipe("entity_projector", config={"on_incomplete": "missing"})
    docs = list(nlp.pipe([
        make_parallel_doc(nlp, "Merkel visited Paris", "Merkel visitó Paris", source_ents=[(0, 1, "PER"), (2, 3, "LOC")]),
        make_parallel_doc(nlp, "Merkel visited Berlin", "Merkel visitó Berlín", source_ents=[(0, 1, "PER"), (2, 3, "LOC")]),
    ]))
    assert [(e.text, e.label_) for e in docs[0].ents] == [("Merkel", "PER"), ("Paris", "LOC")]
    assert get_projection(docs[0])["status"] == "complete"
    # "Berlin" != "Berlín": the stand-in finds no link, so LOC is unprojected and the rest is missing
    assert [(e.text, e.label_) for e in docs[1].ents] == [("Merkel", "PER")] and docs[1][2].ent_iob_ == ""
    assert projection_status(docs) == {"complete": 1, "partial": 1, "dropped": 0}


def test_in_a_pipeline_after_the_aligner(tiny_model_dir):
    nlp = spacy.blank("de")
    nlp.add_pipe("xlmr_aligner", config={"model": tiny_model_dir, "layer": 2, "method": {"@misc": "spacy-xproj.ArgMax.v1"}})
    nlp.add_pipe("entity_projector")
    nlp.initialize()
    words = "the cat sits on the mat .".split()
    doc = nlp(make_parallel_doc(nlp, words, words, source_ents=[(1, 2, "ANIMAL"), (5, 6, "THING")]))
    assert [(e.start, e.end, e.label_) for e in doc.ents] == [(1, 2, "ANIMAL"), (5, 6, "THING")]


# -- CoNLL reading and scoring ----------------------------------------------------------------------
def test_iob1_and_iob2_tags():
    assert tags_to_spans(["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC"]) == [(0, 2, "PER"), (3, 5, "LOC"), (5, 6, "LOC")]
    with pytest.raises(ValueError, match="unknown tag 'X'"):
        tags_to_spans(["X"], "f:1")


def test_read_conll_and_score(tmp_path):
    path = tmp_path / "a.conll"
    path.write_text("-DOCSTART- -X- O O\n\nAngela B-PER\nMerkel I-PER\nin O\nRom B-LOC\n\nJa O\n", encoding="utf-8")
    sentences = read_conll_ner(path)
    assert sentences == [(["Angela", "Merkel", "in", "Rom"], [(0, 2, "PER"), (3, 4, "LOC")]), (["Ja"], [])]
    scores = score_entities([{(0, 2, "PER"), (3, 4, "ORG")}, set()], [{(0, 2, "PER"), (3, 4, "LOC")}, set()])
    assert (scores["p"], scores["r"], scores["f"]) == (50.0, 50.0, 50.0)
    assert scores["per_type"]["PER"]["f"] == 100.0 and scores["per_type"]["LOC"]["r"] == 0.0


def test_shipped_config_assembles_and_projects(tiny_model_dir, tmp_path):
    from pathlib import Path

    from spacy.util import load_config, load_model_from_config

    config_path = Path(__file__).resolve().parents[2] / "configs" / "projection.cfg"
    config = load_config(config_path, overrides={"paths.encoder": tiny_model_dir, "components.xlmr_aligner.layer": 2})
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    nlp.initialize()
    assert nlp.pipe_names == ["xlmr_aligner", "entity_projector"]
    words = "Anna sits on the mat today .".split()
    doc = nlp(make_parallel_doc(nlp, words, words, source_ents=[(0, 1, "PERSON"), (5, 6, "DATE")]))
    assert [(e.start, e.end, e.label_) for e in doc.ents] == [(0, 1, "PER")]  # DATE is dropped by the OntoNotes map
    nlp.to_disk(tmp_path / "pipeline")
    assert spacy.load(tmp_path / "pipeline").pipe_names == ["xlmr_aligner", "entity_projector"]


@pytest.mark.parametrize("version,bad", [("v2", {"max_gap": -1}), ("v2", {"min_coverage": 1.5}), ("v2", {"split_above": -0.1}), ("v3", {"split_quantile": 1.2})])
def test_span_projection_rejects_bad_settings(version, bad):
    nlp = spacy.blank("de")
    with pytest.raises(ValueError, match="SpanProjection needs"):
        nlp.add_pipe("entity_projector", config={"policy": {"@misc": f"spacy-xproj.SpanProjection.{version}", **bad}})


def test_spells_a_name_with_a_short_lowercase_prefix_on_its_first_word_only():
    assert spells("Mandela", "mandela", allow_prefix=False) and spells("MANDELA", "Mandela", allow_prefix=False)
    assert spells("uMandela", "Mandela", allow_prefix=True) and spells("e-Afrika", "Afrika", allow_prefix=True)
    assert not spells("uMandela", "Mandela", allow_prefix=False)  # inside a multi-word name
    assert not spells("umandela", "Mandela", allow_prefix=True)  # the name keeps its capital
    assert not spells("abcdMandela", "Mandela", allow_prefix=True)  # longer than a noun class prefix
    assert not spells("KwaMandela", "Mandela", allow_prefix=True)  # a capitalised prefix is another name


def test_a_name_the_target_spells_out_wins_over_a_wrong_alignment():
    # "Nelson Mandela met Zuma in Durban" -> "uNelson Mandela uhlangane noZuma eThekwini": Durban is not spelled out
    source = ["Nelson", "Mandela", "met", "Zuma", "in", "Durban"]
    target = ["uNelson", "Mandela", "uhlangane", "noZuma", "eThekwini"]
    entities = [(0, 2, "PER"), (3, 4, "PER"), (5, 6, "LOC")]
    links = [(0, 0, 0.9), (1, 2, 0.6), (3, 4, 0.5), (5, 4, 0.8)]  # Mandela and Zuma linked to the wrong words
    aligned = project_spans(entities, links, len(target))
    matched = prefer_name_matches(entities, source, target, aligned)
    assert spans(matched) == [(0, 2, "PER"), (3, 4, "PER"), (4, 5, "LOC")]
    assert [e.confidence for e in matched.entities][:2] == [1.0, 1.0] and matched.complete


def test_repeated_names_pair_in_order_or_by_the_aligned_span():
    target = ["Paris", "na", "Paris"]
    two = prefer_name_matches([(0, 1, "LOC"), (2, 3, "LOC")], ["Paris", "and", "Paris"], target, project_spans([], [], 3))
    assert spans(two) == [(0, 1, "LOC"), (2, 3, "LOC")]
    one = [(1, 2, "LOC")]
    by_link = prefer_name_matches(one, ["in", "Paris"], target, project_spans(one, [(1, 2, 0.4)], 3))
    assert spans(by_link) == [(2, 3, "LOC")] and by_link.entities[0].confidence == 1.0
    unlinked = prefer_name_matches(one, ["in", "Paris"], target, project_spans(one, [], 3))
    assert spans(unlinked) == [] and unlinked.unprojected == {0: "no aligned target word"}  # two places, no evidence which


def test_lowercase_and_one_letter_entities_are_not_names():
    entities = [(0, 1, "ORG"), (1, 2, "PER")]
    projection = prefer_name_matches(entities, ["commission", "X"], ["commission", "X"], project_spans(entities, [], 2))
    assert spans(projection) == [] and len(projection.unprojected) == 2


def test_component_matches_names_only_when_told():
    source, target = ["Zuma", "spoke"], ["Ukhulume", "uZuma"]
    links = [(0, 0, 0.7), (1, 1, 0.6)]  # crossed
    for match, expected in ((False, ["Ukhulume"]), (True, ["uZuma"])):
        nlp = spacy.blank("xx")
        nlp.add_pipe("entity_projector", config={"match_names": match})
        doc = nlp(aligned_doc(nlp, source, target, [(0, 1, "PER")], links))
        assert [e.text for e in doc.ents] == expected
