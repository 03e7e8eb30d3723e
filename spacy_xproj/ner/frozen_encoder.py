"""The frozen encoder of `spacy-xproj.FrozenEncoderBiLSTM.v1`: every hidden state of a sentence computed once, pooled
into words, and kept in `FeatureCache` while training (the encoder never learns, so its output for a sentence never
changes). The encoder is referenced by name and its identity is saved, so a pipeline whose encoder resolves to other
weights at load time refuses to run."""
import hashlib
from typing import TYPE_CHECKING, Dict, List, Optional

import numpy
from spacy.tokens import Doc
from spacy.util import minibatch

if TYPE_CHECKING:
    from ..encoders.subword_encoder import SentenceVectors, SubwordEncoder

POOLINGS = ("first", "mean")
class FeatureCache:
    """Word features per sentence, up to `max_bytes` in all; once full it keeps what it holds (a training
    corpus is read in the same order every epoch, so evicting would only thrash)."""

    def __init__(self, max_bytes: int = 0):
        self.max_bytes = max_bytes
        self.bytes = 0
        self._features: Dict[bytes, numpy.ndarray] = {}

    def __len__(self) -> int:
        return len(self._features)

    @staticmethod
    def key(identity: str, words: List[str]) -> bytes:
        text = "\x1f".join(words)
        return hashlib.blake2b(f"{identity}\x1e{text}".encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def get(self, key: bytes) -> Optional[numpy.ndarray]:
        return self._features.get(key)

    def put(self, key: bytes, features: numpy.ndarray) -> None:
        if key not in self._features and self.bytes + features.nbytes <= self.max_bytes:
            self._features[key] = features
            self.bytes += features.nbytes

    def clear(self) -> None:
        self._features.clear()
        self.bytes = 0


class FrozenEncoder:
    """Loads the encoder on first use and turns Docs into (words, layers, width) float16 feature arrays."""

    def __init__(self, name: str, layers: int, width: int, pooling: str, batch_size: int, precision: str):
        self.name, self.layers, self.width, self.pooling = name, layers, width, pooling
        self.batch_size, self.precision = batch_size, precision
        self.saved_identity: Optional[str] = None  # the identity the head was trained with, after from_bytes
        self.cache = FeatureCache(0)
        self.computed_sentences = 0  # sentences run through the encoder (the cache's saving shows here)
        self._ahead: Dict[bytes, numpy.ndarray] = {}  # word features read by `read_ahead`, until `forget_ahead`
        self._encoder = None
        self._identity: Optional[str] = None

    def __getstate__(self) -> Dict:
        """Pickled without the loaded encoder and the cached features: a copy (`pickle`, `nlp.pipe(n_process=...)`)
        loads the encoder again by name on first use, as a pipeline read from disk does."""
        state = dict(self.__dict__)
        state["_encoder"] = None
        state["cache"] = FeatureCache(self.cache.max_bytes)
        state["_ahead"] = {}
        return state

    @property
    def identity(self) -> str:
        if self._identity is None:
            from ..encoders.loading import encoder_identity, resolve_encoder

            self._identity = f"{encoder_identity(resolve_encoder(self.name))}|{self.pooling}|{self.precision}"
        return self._identity

    def encoder(self) -> "SubwordEncoder":
        if self._encoder is None:
            from ..encoders.subword_encoder import SubwordEncoder

            if self.saved_identity is not None and self.saved_identity != self.identity:
                raise ValueError(
                    f"FrozenEncoderBiLSTM: this pipeline was trained on the features of {self.saved_identity!r}, but its "
                    f"encoder {self.name!r} now gives {self.identity!r}; train again, or point tok2vec.encoder at the original encoder"
                )
            from transformers import AutoConfig

            from ..encoders.loading import resolve_encoder

            config = AutoConfig.from_pretrained(resolve_encoder(self.name))
            if config.num_hidden_layers + 1 != self.layers or config.hidden_size != self.width:
                raise ValueError(
                    f"FrozenEncoderBiLSTM: encoder {self.name!r} has {config.num_hidden_layers + 1} hidden states of width "
                    f"{config.hidden_size}; set tok2vec.layers = {config.num_hidden_layers + 1} and tok2vec.width = {config.hidden_size}"
                )
            self._encoder = SubwordEncoder(self.name, layers=list(range(self.layers)), batch_size=self.batch_size, precision=self.precision)
        return self._encoder

    def features(self, docs: List[Doc]) -> List[numpy.ndarray]:
        words = [[token.text for token in doc] for doc in docs]
        keys = [FeatureCache.key(self.identity, w) for w in words]
        found: List[Optional[numpy.ndarray]] = [self._ahead[key] if key in self._ahead else self.cache.get(key) for key in keys]
        # each distinct sentence of the batch is encoded once
        missing = {keys[i]: i for i, f in enumerate(found) if f is None}
        if missing:
            encoded = self.encoder().encode([words[i] for i in missing.values()])
            self.computed_sentences += len(missing)
            computed = {}
            for key, vectors in zip(missing, encoded):
                computed[key] = pool_words(vectors.vectors, vectors.word_index, vectors.n_words, self.pooling)
                self.cache.put(key, computed[key])
            found = [computed[key] if f is None else f for key, f in zip(keys, found)]
        return found  # type: ignore[return-value]


    def read_ahead(self, sentences: List[List[str]], layer: int, chunk: int = 256) -> List["SentenceVectors"]:
        """One pass of the encoder over `sentences` for two readers: their word features wait for the coming
        `features` calls (until `forget_ahead`), and each sentence's subword vectors of hidden state `layer` are
        returned for the other reader, one that reads alike (`SubwordEncoder.reading`) such as xlmr_aligner on the
        same encoder. Shortest first, `chunk` sentences at a time, so that batches of windows of one length fill."""
        from ..encoders.subword_encoder import SentenceVectors

        encoder = self.encoder()
        position = encoder.layers.index(layer)
        keys = [FeatureCache.key(self.identity, words) for words in sentences]
        distinct = sorted({key: words for key, words in zip(keys, sentences)}.items(), key=lambda item: len(item[1]))
        self._ahead = {}
        at_layer: Dict[bytes, SentenceVectors] = {}
        for part in minibatch(distinct, chunk):
            encoded = encoder.encode([words for _, words in part])
            self.computed_sentences += len(part)
            for (key, _), read in zip(part, encoded):
                self._ahead[key] = pool_words(read.vectors, read.word_index, read.n_words, self.pooling)
                # a copy: a view would keep every layer of the sentence alive
                at_layer[key] = SentenceVectors(read.vectors[position].copy(), read.word_index, read.n_words, read.windows)
        return [at_layer[key] for key in keys]

    def forget_ahead(self) -> None:
        """Drop the word features `read_ahead` kept."""
        self._ahead = {}

    def precompute(self, sentences: List[List[str]], chunk: int = 1024, progress: bool = True) -> int:
        """Encode sentences into the cache ahead of training, shortest first so that batches carry little
        padding; stops when the cache is full. Returns how many sentences it encoded. `progress`: a tqdm
        bar on stderr when it is a terminal (tqdm's disable=None)."""
        from tqdm import tqdm

        keyed = {FeatureCache.key(self.identity, words): words for words in sentences if words}
        todo = sorted((key for key in keyed if self.cache.get(key) is None), key=lambda key: len(keyed[key]))
        done = 0
        with tqdm(total=len(todo), desc="encoding sentences", unit="sent", disable=None if progress else True, leave=False) as bar:
            for keys in minibatch(todo, chunk):
                encoded = self.encoder().encode([keyed[key] for key in keys])
                self.computed_sentences += len(keys)
                for key, vectors in zip(keys, encoded):
                    self.cache.put(key, pool_words(vectors.vectors, vectors.word_index, vectors.n_words, self.pooling))
                done += len(keys)
                bar.update(len(keys))
                if self.cache.bytes >= self.cache.max_bytes * 0.999:
                    break
        return done


def pool_words(subword_vectors: numpy.ndarray, word_index: numpy.ndarray, n_words: int, pooling: str) -> numpy.ndarray:
    """(layers, subwords, width) -> (words, layers, width) float16: each word's first subword, or the mean
    of its subwords. A word without subwords (whitespace) gets zeros."""
    layers, _, width = subword_vectors.shape
    pooled = numpy.zeros((n_words, layers, width), dtype=numpy.float32)
    if len(word_index):
        if pooling == "first":
            first = numpy.flatnonzero(numpy.r_[True, word_index[1:] != word_index[:-1]])
            pooled[word_index[first]] = subword_vectors[:, first].transpose(1, 0, 2)
        else:
            numpy.add.at(pooled, word_index, subword_vectors.transpose(1, 0, 2))
            counts = numpy.bincount(word_index, minlength=n_words)
            pooled /= numpy.maximum(counts, 1)[:, None, None]
    return pooled.astype(numpy.float16)
