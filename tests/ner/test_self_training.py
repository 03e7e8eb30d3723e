import json

import numpy
import pytest
import spacy
from spacy.tokens import DocBin
from spacy.util import fix_random_seed
from typer.testing import CliRunner

from spacy_xproj.cli import app
from spacy_xproj.ner.self_training import confident_entities, self_label

from .test_token_ner import training_examples

runner = CliRunner()


def test_confident_entities_keeps_sure_entities_and_marks_doubt_missing():
    doc = spacy.blank("de").make_doc("Anna Schmidt besuchte Berlin und Prag heute")
    scored = {(0, 2, "PER"): 0.97, (3, 4, "LOC"): 0.6, (5, 6, "LOC"): 0.05, (0, 1, "PER"): 0.03}
    doc = confident_entities(doc, scored, threshold=0.9)
    assert [(e.text, e.label_) for e in doc.ents] == [("Anna Schmidt", "PER")]
    # Berlin (0.6) is neither kept nor taught as "O"; Prag (0.05 <= 1 - 0.9) is a confident "O"
    assert [t.ent_iob_ for t in doc] == ["B", "I", "O", "", "O", "O", "O"]
    doubtful = numpy.array([0, 0, 1, 0, 0, 0, 0], dtype=bool)
    again = confident_entities(spacy.blank("de").make_doc(doc.text), scored, 0.9, doubtful)
    assert [t.ent_iob_ for t in again] == ["B", "I", "", "", "O", "O", "O"]


def trained(factory: str, tmp_path):
    fix_random_seed(0)
    nlp = spacy.blank("de")
    nlp.add_pipe(factory)
    examples = training_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(30):
        nlp.update(examples, sgd=optimizer)
    nlp.to_disk(tmp_path / factory)
    return nlp


@pytest.mark.parametrize("factory", ["ner", "token_ner"])
def test_self_label_with_either_ner_component(factory, tmp_path):
    nlp = trained(factory, tmp_path)
    texts = ["Anna Schmidt besuchte Berlin .", "Siemens stellte Karl Weber ein .", ""]
    labelled = list(self_label(nlp, texts, threshold=0.5))
    assert [d.text for d in labelled] == texts
    predicted = [{(e.start, e.end, e.label_) for e in nlp(t).ents} for t in texts]
    kept = [{(e.start, e.end, e.label_) for e in d.ents} for d in labelled]
    assert kept[0] and kept[0] == predicted[0]  # a sentence just like the training data: the teacher is sure
    if factory == "token_ner":  # same decoding as prediction: kept entities are a subset of the predicted ones
        assert all(k <= p for k, p in zip(kept, predicted))
    strict = list(self_label(nlp, texts, threshold=1.0))
    assert sum(len(d.ents) for d in strict) <= sum(len(d.ents) for d in labelled)
    with pytest.raises(ValueError, match="self-labelling threshold: 0.3 is not in the range"):
        next(self_label(nlp, texts, threshold=0.3))


def test_self_label_command_writes_a_docbin(tmp_path):
    trained("ner", tmp_path)
    (tmp_path / "raw.txt").write_text("Anna Schmidt besuchte Berlin .\n\nPeter Braun verließ Paris .\n", encoding="utf-8")
    result = runner.invoke(app, ["self-label", str(tmp_path / "ner"), str(tmp_path / "raw.txt"), str(tmp_path / "self.spacy"), "--threshold", "0.6"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["sentences"] == 2 and report["entities"] >= 1
    docs = list(DocBin().from_disk(tmp_path / "self.spacy").get_docs(spacy.blank("de").vocab))
    assert [d.text for d in docs] == ["Anna Schmidt besuchte Berlin .", "Peter Braun verließ Paris ."]
    blank = runner.invoke(app, ["self-label", "blank_de_does_not_exist", str(tmp_path / "raw.txt"), str(tmp_path / "x.spacy")])
    assert blank.exit_code != 0
    spacy.blank("de").to_disk(tmp_path / "no_ner")
    no_ner = runner.invoke(app, ["self-label", str(tmp_path / "no_ner"), str(tmp_path / "raw.txt"), str(tmp_path / "x.spacy")])
    assert no_ner.exit_code == 1 and "needs a pipeline with 'ner' or 'token_ner'" in no_ner.output


def test_beam_tag_confidences_score_entity_tokens_by_their_entity_and_others_by_the_doubt_around_them():
    from spacy.tokens import Span

    from spacy_xproj.ner.self_training import beam_tag_confidences

    doc = spacy.blank("de").make_doc("Anna Schmidt besuchte Berlin heute")
    doc.ents = [Span(doc, 0, 2, "PER"), Span(doc, 3, 4, "LOC")]
    scored = {(0, 2, "PER"): 0.9, (1, 3, "ORG"): 0.3, (3, 4, "LOC"): 0.6}
    # "besuchte" is outside every entity but a candidate ORG at 0.3 covers it; "heute" is covered by none
    assert beam_tag_confidences(doc, scored).tolist() == pytest.approx([0.9, 0.9, 0.7, 0.6, 1.0])
    doc.ents = [Span(doc, 4, 5, "MISC")]  # an entity the beam did not score at all: no confidence in it
    assert beam_tag_confidences(doc, scored)[4] == 0.0


@pytest.mark.parametrize("factory", ["ner", "token_ner"])
def test_tag_confidences_keep_the_pipelines_entities_and_give_every_token_a_probability(factory, tmp_path):
    from spacy_xproj.ner.self_training import tag_confidences

    nlp = trained(factory, tmp_path)
    texts = ["Anna Schmidt besuchte Berlin .", "", "Siemens stellte Karl Weber ein ."]
    results = list(tag_confidences(nlp, texts))
    assert [d.text for d, _ in results] == texts and [len(c) for _, c in results] == [5, 0, 6]
    assert [[(e.start, e.end, e.label_) for e in d.ents] for d, _ in results] == [[(e.start, e.end, e.label_) for e in nlp(t).ents] for t in texts]
    confidences = numpy.concatenate([c for _, c in results])
    assert ((confidences >= 0) & (confidences <= 1)).all() and confidences.max() > 0.5
    if factory == "token_ner":  # the probability of the tag decoded at each token
        path, log_probs = nlp.get_pipe("token_ner").decode([nlp.make_doc(texts[0])])[0]
        assert results[0][1].tolist() == pytest.approx(numpy.exp(log_probs[numpy.arange(5), path]).tolist())
