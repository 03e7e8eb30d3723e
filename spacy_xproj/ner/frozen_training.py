"""Training on the frozen encoder: the `spacy train` callback that caches every sentence's encoder features."""
from pathlib import Path
from typing import Callable, List, Optional

from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import registry


from .frozen_encoder import FeatureCache
from .frozen_features import frozen_encoders


@registry.callbacks("spacy-xproj.frozen_feature_training.v1")
def make_frozen_feature_training(cache_gb: float = 6.0, encode_corpora_first: bool = True, initial_weights: Optional[str] = None) -> Callable[[Language], Language]:
    """An `[initialize.after_init]` callback for pipelines on `spacy-xproj.FrozenEncoderBiLSTM.v1`: keep each
    sentence's encoder features in memory for the rest of the training.

    cache_gb (float): memory for cached features, in GB (13 x 384 float16 values, about 10 KB, a word for
        e5-small); sentences beyond it are encoded again at every pass.
    initial_weights (Optional[str]): a trained pipeline whose components (same names, same labels) give
        their weights to this one before training, e.g. a target-language student starting from the
        English teacher's head. None or "" starts fresh.
    encode_corpora_first (bool): encode every sentence of `[training] train_corpus` and `dev_corpus` before
        the first step, sorted by length so that the encoder's batches carry little padding, with a progress bar.
    """
    if cache_gb < 0:
        raise ValueError(f"frozen_feature_training: cache_gb must be >= 0, not {cache_gb}")

    def prepare(nlp: Language) -> Language:
        from .transformer_training import load_component_weights

        if initial_weights:
            load_component_weights(nlp, Path(initial_weights))
        encoders = [encoder for _, component in nlp.components if hasattr(component, "model") for encoder in frozen_encoders(component.model)]
        if not encoders:
            raise ValueError(
                "frozen_feature_training: no component of the pipeline has a spacy-xproj.FrozenEncoderBiLSTM.v1 model; "
                "remove the callback or use that architecture"
            )
        for encoder in encoders:
            encoder.cache = FeatureCache(int(cache_gb * 1e9 / len(encoders)))
        if encode_corpora_first:
            sentences = [[token.text for token in doc] for doc in training_docs(nlp)]
            for encoder in encoders:
                encoder.precompute(sentences)
        return nlp

    return prepare


def training_docs(nlp: Language) -> List[Doc]:
    """The predicted Docs of the training and dev corpora named in `nlp.config`, as `spacy train` reads them
    (none when the config names no corpora, as for a pipeline built in Python)."""
    from spacy.util import resolve_dot_names

    config = nlp.config.interpolate()
    names = [config["training"].get("train_corpus"), config["training"].get("dev_corpus")]
    corpora = config.get("corpora", {})
    readers = [corpora.get(name.split(".")[-1]) if isinstance(name, str) else None for name in names]
    if not all(isinstance(reader, dict) and reader.get("path") for reader in readers):
        return []  # a pipeline built in Python: its config names no corpus files
    docs = []
    for corpus in resolve_dot_names(config, names):
        docs.extend(example.predicted for example in corpus(nlp))
    return docs
