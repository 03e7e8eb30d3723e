import numpy
import pytest
import spacy
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import fix_random_seed

from spacy_xproj.ner.losses import focal_loss

from ..test_project_workflow import tiny_corpus


def training_examples(nlp, n=48):
    examples = []
    for _, (words, spans) in tiny_corpus(n):
        reference = Doc(nlp.vocab, words=words)
        reference.ents = [Span(reference, s, e, label) for s, e, label in spans]
        examples.append(Example(nlp.make_doc(reference.text), reference))
    return examples


def train(loss, steps=25):
    fix_random_seed(0)
    nlp = spacy.blank("de")
    nlp.add_pipe("token_ner", config={"loss": loss})
    examples = training_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    history = []
    for _ in range(steps):
        history.append(nlp.update(examples, sgd=optimizer, losses={})["token_ner"])
    return nlp, examples, history


@pytest.mark.parametrize("loss", [{"@misc": "spacy-xproj.CrossEntropy.v1"}, {"@misc": "spacy-xproj.ReverseFocalLoss.v1", "gamma": 1.0}, {"@misc": "spacy-xproj.FocalLoss.v1", "gamma": 2.0}])
def test_training_lowers_the_loss_and_learns_its_training_data(loss):
    nlp, examples, history = train(loss)
    assert history[-1] < 0.2 * history[0]
    scores = nlp.evaluate(examples)
    assert scores["ents_f"] > 0.9
    assert nlp.get_pipe("token_ner").labels == ("LOC", "ORG", "PER")


def test_missing_annotations_get_no_gradient():
    nlp = spacy.blank("de")
    ner = nlp.add_pipe("token_ner")
    examples = training_examples(nlp, 4)
    nlp.initialize(lambda: examples)
    doc = nlp.make_doc("Anna Schmidt besuchte Berlin .")
    missing = Example.from_dict(doc, {"entities": ["B-PER", "L-PER", "-", "-", "O"]})
    logits = ner.model.predict([missing.predicted])
    _, gradients = ner.get_loss([missing], logits)
    assert (gradients[0][2:4] == 0).all() and (gradients[0][[0, 1, 4]] != 0).any(axis=1).all()


def test_decoding_sets_only_valid_entities_and_the_component_round_trips(tmp_path):
    nlp, examples, _ = train({"@misc": "spacy-xproj.CrossEntropy.v1"}, steps=10)
    docs = list(nlp.pipe(["Anna Schmidt besuchte Berlin .", "", "Siemens stellte Karl Weber ein ."]))
    assert [len(d) for d in docs] == [5, 0, 6]
    for doc in docs:
        assert all(e.label_ in ("PER", "LOC", "ORG") for e in doc.ents)
        assert all(t.ent_iob_ in ("B", "I", "O") for t in doc)
    nlp.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model")
    assert loaded.get_pipe("token_ner").labels == ("LOC", "ORG", "PER")
    assert [[(e.text, e.label_) for e in d.ents] for d in loaded.pipe([d.text for d in docs])] == [[(e.text, e.label_) for e in d.ents] for d in docs]
    focal = spacy.load(tmp_path / "model", config={"components": {"token_ner": {"loss": {"@misc": "spacy-xproj.FocalLoss.v1", "gamma": 2.0}}}})
    logits, gold, mask = numpy.array([[2.0, 0.0, -1.0]]), numpy.array([0]), numpy.array([1.0])
    assert focal.get_pipe("token_ner").loss(logits, gold, mask)[0] == pytest.approx(focal_loss(logits, gold, mask, 2.0)[0])  # the override wins
    assert focal.get_pipe("token_ner").labels == ("LOC", "ORG", "PER")
    restored = spacy.blank("de")  # to_bytes round trip of the component alone
    restored.add_pipe("token_ner")
    restored.get_pipe("token_ner").from_bytes(nlp.get_pipe("token_ner").to_bytes())
    assert restored.get_pipe("token_ner").labels == ("LOC", "ORG", "PER")
    assert [(e.text, e.label_) for e in restored("Anna Schmidt besuchte Berlin .").ents] == [(e.text, e.label_) for e in docs[0].ents]


def test_initialize_without_entities_is_an_error():
    nlp = spacy.blank("de")
    nlp.add_pipe("token_ner")
    doc = nlp.make_doc("Guten Morgen .")
    with pytest.raises(ValueError, match="no entity labels"):
        nlp.initialize(lambda: [Example(doc, doc.copy())])
