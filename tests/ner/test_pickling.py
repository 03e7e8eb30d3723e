"""Pipelines pickle (issue 36): registered functions return module-level callables, not closures, so that
`pickle.dumps(nlp)` and `nlp.pipe(n_process=...)` under spawn work, and the copy predicts the same entities."""
import pickle

import pytest
from spacy.tokens import Doc
from thinc.api import Adam

from spacy_xproj.ner.losses import make_cross_entropy, make_focal_loss, make_reverse_focal_loss, make_reverse_focal_loss_per_class, reverse_focal_loss

from .test_frozen_features import frozen_pipeline


def test_every_registered_loss_pickles_and_computes_what_it_did():
    import numpy

    rng = numpy.random.default_rng(0)
    logits, gold, mask = rng.normal(size=(12, 5)).astype("float32"), rng.integers(0, 5, 12), numpy.ones(12)
    for loss in (make_cross_entropy(), make_focal_loss(2.0), make_reverse_focal_loss(1.0), make_reverse_focal_loss_per_class(1.0)):
        copy = pickle.loads(pickle.dumps(loss))
        value, gradient = loss(logits, gold, mask)
        assert copy(logits, gold, mask)[0] == value
        numpy.testing.assert_array_equal(copy(logits, gold, mask)[1], gradient)
    value, gradient = make_reverse_focal_loss_per_class(1.5)(logits, gold, mask)  # the same numbers as the function itself
    expected = reverse_focal_loss(logits, gold, mask, 1.5, per_class=True)
    assert value == expected[0]
    numpy.testing.assert_array_equal(gradient, expected[1])


@pytest.mark.parametrize("loss", [{"@misc": "spacy-xproj.ReverseFocalLoss.v2", "gamma": 1.0}, {"@misc": "spacy-xproj.CrossEntropy.v1"}])
def test_a_trained_frozen_encoder_pipeline_pickles_and_predicts_the_same(tiny_model_dir, loss):
    nlp, examples = frozen_pipeline(tiny_model_dir)
    model = nlp.config["components"]["token_ner"]["model"]
    nlp.replace_pipe("token_ner", "token_ner", config={"loss": loss, "model": model})  # the frozen-encoder student with this loss
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.01)
    for _ in range(30):
        nlp.update(examples, sgd=optimizer, losses={})
    docs = [[t.text for t in e.predicted] for e in examples[:8]]
    expected = [[(e.start, e.end, e.label_) for e in doc.ents] for doc in nlp.pipe([Doc(nlp.vocab, words=w) for w in docs])]
    assert any(expected)  # the encoder has run, and something is predicted
    copy = pickle.loads(pickle.dumps(nlp))
    got = [[(e.start, e.end, e.label_) for e in doc.ents] for doc in copy.pipe([Doc(copy.vocab, words=w) for w in docs])]
    assert got == expected
