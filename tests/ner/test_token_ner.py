import numpy
import pytest
import spacy
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import fix_random_seed

from spacy_xproj.ner.bio import biluo_to_tag_ids
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


def weighted_example(nlp, words, entities, weights):
    from spacy_xproj.corpus.schema import set_token_weights

    example = Example.from_dict(nlp.make_doc(" ".join(words)), {"words": words, "entities": entities})
    set_token_weights(example.reference, weights)
    return example


def test_teacher_weights_are_normalized_per_gold_tag_over_the_batch_and_missing_tokens_stay_at_zero():
    from spacy_xproj.ner.token_ner import annotation_weights

    nlp = spacy.blank("de")
    ner = nlp.add_pipe("token_ner")
    ner.add_label("PER")
    ner.add_label("LOC")
    sure = weighted_example(nlp, ["Anna", "besuchte", "Berlin"], ["U-PER", "O", "U-LOC"], [0.9, 1.0, 0.8])
    doubted = weighted_example(nlp, ["Paul", "kam", "heute"], ["U-PER", "-", "O"], [0.3, 0.5, 0.6])
    golds = [biluo_to_tag_ids(e.get_aligned_ner(), ner.labels) for e in (sure, doubted)]
    weights = annotation_weights([sure, doubted], golds)
    # B-PER: 0.9 and 0.3 (mean 0.6); O: 1.0 and 0.6 (mean 0.8); B-LOC alone; "kam" has no gold tag
    assert weights[0].tolist() == pytest.approx([1.5, 1.25, 1.0]) and weights[1].tolist() == pytest.approx([0.5, 0.0, 0.75])
    plain = Example.from_dict(nlp.make_doc("Anna kam"), {"entities": ["U-PER", "-"]})
    assert [w.tolist() for w in annotation_weights([plain], [biluo_to_tag_ids(plain.get_aligned_ner(), ner.labels)])] == [[1.0, 0.0]]


def test_teacher_weights_follow_the_alignment_to_the_predicted_tokens():
    from spacy_xproj.corpus.schema import set_token_weights
    from spacy_xproj.ner.token_ner import predicted_token_weights

    vocab = spacy.blank("de").vocab
    reference = Doc(vocab, words=["Berlin", "ist", "groß", "."], spaces=[True, True, False, False])
    set_token_weights(reference, [0.9, 1.0, 0.7, 0.4])
    predicted = Doc(vocab, words=["Berlin", "ist", "groß."], spaces=[True, True, False])
    assert predicted_token_weights(Example(predicted, reference)).tolist() == pytest.approx([0.9, 1.0, 0.4])
    assert predicted_token_weights(Example(Doc(vocab, words=["Berlin"]), Doc(vocab, words=["Berlin"]))) is None


def test_a_doubted_label_gets_a_smaller_gradient_than_the_same_label_held_with_confidence():
    nlp = spacy.blank("de")
    ner = nlp.add_pipe("token_ner")
    nlp.initialize(lambda: training_examples(nlp, 4))
    words, entities = ["Anna", "besuchte", "Anna"], ["U-PER", "O", "U-PER"]
    example = weighted_example(nlp, words, entities, [1.0, 1.0, 0.2])
    _, gradients = ner.get_loss([example], ner.model.predict([example.predicted]))
    weighted = numpy.abs(gradients[0][0]).sum(), numpy.abs(gradients[0][2]).sum()
    # against the same sentence without weights, each token's gradient is scaled by its normalized weight
    unweighted = Example.from_dict(nlp.make_doc(" ".join(words)), {"words": words, "entities": entities})
    _, plain = ner.get_loss([unweighted], ner.model.predict([unweighted.predicted]))
    ratios = weighted[0] / numpy.abs(plain[0][0]).sum(), weighted[1] / numpy.abs(plain[0][2]).sum()
    assert ratios == pytest.approx((1 / 0.6, 0.2 / 0.6), rel=1e-4)
    assert (gradients[0][1] == plain[0][1]).all()  # the only "O": its weight is its class mean, 1
