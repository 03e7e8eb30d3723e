"""Contextual subword vectors for pre-tokenized sentences, batched and windowed.

Sentences are tokenized in one call to the fast tokenizer, cut into windows
that fit the model (overlapping, so every subword is read with context on both
sides), batched with windows of the same length only, and run through a model
whose layers above the requested one have been removed. Each subword takes its
vector from the window in which it sits farthest from an edge.

No window is padded, so a sentence's vectors do not depend on the sentences read
with it (padding changes the last bits of a float): two encoders that read alike
(`SubwordEncoder.reading`) give a sentence the same vectors at a layer both
compute, which lets one pass serve two readers (`SubwordEncoder.reusing`).
"""
import itertools
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy

from .loading import encoder_identity, load_encoder, resolve_encoder
from .processes import torch_threads_for_this_process

PRECISIONS = ("float32", "bfloat16", "float16", "auto")


def current_device() -> str:
    """Where encoders run, by spaCy's convention: the GPU `spacy.require_gpu(N)` chose, else the CPU."""
    from thinc.api import get_current_ops

    if type(get_current_ops()).__name__ == "CupyOps":  # by name: cupy is imported only where it is installed
        import cupy

        return f"cuda:{cupy.cuda.runtime.getDevice()}"
    return "cpu"


def resolve_precision(precision: str, device: str = "cpu") -> str:
    """"auto": float16 on a GPU; on a CPU bfloat16 where it has bfloat16 units (AVX512-BF16, AMX, Arm BF16),
    float32 elsewhere. Other values as they are."""
    if precision != "auto":
        return precision
    if device.startswith("cuda"):
        return "float16"
    import torch

    capabilities = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
    return "bfloat16" if any(capabilities.get(unit) for unit in ("avx512_bf16", "amx_bf16", "bf16", "sve_bf16")) else "float32"


@dataclass
class SentenceVectors:
    """Subword vectors of one sentence: `vectors[p]` belongs to word `word_index[p]`."""

    vectors: numpy.ndarray  # [n_subwords, H] (or [n_layers, n_subwords, H] when several layers are read)
    word_index: numpy.ndarray  # [n_subwords] int, non-decreasing
    n_words: int
    windows: int = 1  # model windows the sentence was read in: more than 1 when it is longer than one window


@dataclass
class _Window:
    sentence: int
    start: int  # first subword of the window in its sentence
    ids: List[int]
    keep_from: int  # subwords [keep_from, keep_to) of the window are taken from it
    keep_to: int


def plan_windows(n_subwords: int, width: int, overlap: int) -> List[Tuple[int, int, int, int]]:
    """Split n subwords into windows of at most `width`, consecutive windows sharing `overlap`.

    Returns (start, end, keep_from, keep_to) per window, in sentence positions:
    the kept ranges tile [0, n) and each cuts an overlap in the middle.
    """
    if width <= 0:
        raise ValueError(f"window width must be positive, got {width}")
    if n_subwords <= width:
        return [(0, n_subwords, 0, n_subwords)]
    overlap = min(max(overlap, 0), width // 2)
    stride = width - overlap
    starts = list(range(0, n_subwords - width, stride)) + [n_subwords - width]
    windows = []
    for k, start in enumerate(starts):
        end = start + width
        keep_from = 0 if k == 0 else (start + windows[-1][1]) // 2
        windows.append((start, end, keep_from, n_subwords))
        if k:
            prev = windows[-2]
            windows[-2] = (prev[0], prev[1], prev[2], keep_from)
    return windows


class SubwordEncoder:
    """Reads contextual subword vectors from a Hugging Face encoder at given layers.

    model (str): Hugging Face name or path, or the embedded default.
    layers (Sequence[int]): hidden-state indices to return (0 = embeddings); the model is cut above the highest.
    batch_size (int): windows per forward pass.
    max_window (Optional[int]): subwords per window; default: what the model takes, minus the special tokens.
    window_overlap (int): subwords shared by consecutive windows of a long sentence.
    precision (str): "float32", "bfloat16" (ArgMax 2.2-2.7x faster in bench-align on a CPU with bfloat16 units; links
        differ slightly), "float16" (GPUs only), or "auto" (float16 on a GPU; bfloat16 on a CPU with such units,
        float32 elsewhere). The encoder runs on the GPU after `spacy.require_gpu(N)`, as spaCy's models do.
    """

    def __init__(self, model: str, layers: Sequence[int], batch_size: int = 32, max_window: Optional[int] = None, window_overlap: int = 64, precision: str = "float32"):
        import torch

        if precision not in PRECISIONS:
            raise ValueError(f"Unknown precision {precision!r}: use one of {PRECISIONS}.")
        self.layers = list(layers)
        self.device = current_device()
        self.precision = resolve_precision(precision, self.device)
        if self.precision == "float16" and self.device == "cpu":
            raise ValueError("precision 'float16' runs on a GPU only (spacy.require_gpu first); on a CPU use 'bfloat16' or 'auto'.")
        self.tokenizer, self.model = load_encoder(model, num_layers=max(self.layers))
        self.model_identity = encoder_identity(resolve_encoder(model))
        if self.precision != "float32":
            self.model = self.model.to(getattr(torch, self.precision))
        self.model = self.model.to(self.device)
        if not getattr(self.tokenizer, "is_fast", False):
            raise ValueError(f"Encoder {model!r} has no fast tokenizer; word-to-subword mapping needs one (tokenizer.json).")
        model_limit = min(
            getattr(self.model.config, "max_position_embeddings", 512),
            getattr(self.tokenizer, "model_max_length", 512) or 512,
        )
        # XLM-R offsets positions by padding_idx + 1; BERT does not.
        if getattr(self.model.config, "model_type", "") in ("xlm-roberta", "roberta", "camembert"):
            model_limit -= self.model.config.pad_token_id + 1
        n_special = len(self.tokenizer.build_inputs_with_special_tokens([]))
        self.max_window = min(max_window or model_limit, model_limit) - n_special
        if self.max_window < 1:
            raise ValueError(f"max_window {max_window} leaves no room for subwords: {model!r} adds {n_special} special tokens to every window; use at least {n_special + 1}.")
        self.window_overlap = window_overlap
        self.batch_size = batch_size
        marker = -12345  # where content starts after the special tokens (1 for <s> / [CLS])
        self._content_offset = self.tokenizer.build_inputs_with_special_tokens([marker]).index(marker)
        self._given: Dict[Tuple[str, ...], SentenceVectors] = {}  # by words: vectors read in another pass (`reusing`)

    @property
    def reading(self) -> Tuple:
        """What decides a sentence's vectors besides its words and the layer: the weights (and with them the
        tokenizer), the precision, the device and the window plan. Two encoders that read alike give a sentence
        the same vectors at every layer both compute, whatever else each reads in the same batches."""
        return (self.model_identity, self.precision, self.device, self.max_window, self.window_overlap)

    @contextmanager
    def reusing(self, sentences: Sequence[Sequence[str]], vectors: Sequence[SentenceVectors]) -> Iterator[None]:
        """Within the block, `encode` gives these sentences (by their words) these vectors instead of reading them
        again: what an encoder that reads alike (`reading`) returned for this one's layers in another pass."""
        self._given = {tuple(words): v for words, v in zip(sentences, vectors)}
        try:
            yield
        finally:
            self._given = {}

    def tokenize(self, sentences: Sequence[Sequence[str]]) -> List[Tuple[List[int], numpy.ndarray]]:
        """(subword ids, word index per subword) per sentence; whitespace-only words get no subwords. Words are read in
        Unicode NFC, so decomposed diacritics (Yoruba typed as NFD) get the subwords of their composed form."""
        kept = [[unicodedata.normalize("NFC", w) for w in words if w.strip()] for words in sentences]
        positions = [[i for i, w in enumerate(words) if w.strip()] for words in sentences]
        nonempty = [k for k, words in enumerate(kept) if words]
        result: List[Tuple[List[int], numpy.ndarray]] = [([], numpy.zeros(0, dtype=numpy.int64)) for _ in sentences]
        if not nonempty:
            return result
        # verbose=False: long sentences are windowed below, so the length warning does not apply.
        encoded = self.tokenizer([kept[k] for k in nonempty], is_split_into_words=True, add_special_tokens=False, verbose=False)
        for row, k in enumerate(nonempty):
            word_ids = encoded.word_ids(row)
            original = numpy.asarray(positions[k], dtype=numpy.int64)
            result[k] = (list(encoded["input_ids"][row]), original[numpy.asarray(word_ids, dtype=numpy.int64)] if word_ids else numpy.zeros(0, dtype=numpy.int64))
        return result

    def encode(self, sentences: Sequence[Sequence[str]], progress: bool = False) -> List[SentenceVectors]:
        """Subword vectors for each sentence (a list of words); one array per requested layer when several.
        Sentences given by `reusing` are not read again.

        progress (bool): a tqdm bar of encoded windows (a sentence, or a slice of a long one) on stderr
            when it is a terminal; off by default, since components call this once per batch.
        """
        if not self._given:
            return self._read(sentences, progress)
        given = [self._given.get(tuple(words)) for words in sentences]
        read = iter(self._read([words for words, vectors in zip(sentences, given) if vectors is None], progress))
        return [next(read) if vectors is None else vectors for vectors in given]

    def _read(self, sentences: Sequence[Sequence[str]], progress: bool) -> List[SentenceVectors]:
        import torch
        from tqdm import tqdm

        torch_threads_for_this_process()  # one thread in a child forked after torch ran (nlp.pipe(n_process=...))
        tokenized = self.tokenize(sentences)
        windows: List[_Window] = []
        n_windows = [0] * len(tokenized)
        for k, (ids, _) in enumerate(tokenized):
            for start, end, keep_from, keep_to in plan_windows(len(ids), self.max_window, self.window_overlap):
                if end > start:
                    windows.append(_Window(k, start, ids[start:end], keep_from - start, keep_to - start))
                    n_windows[k] += 1
        hidden = self.model.config.hidden_size
        n_layers = len(self.layers)
        outputs = [numpy.zeros((n_layers, len(ids), hidden), dtype=numpy.float32) for ids, _ in tokenized]
        # windows of one length per batch: nothing is padded, so no window's vectors depend on its neighbours
        same_length = [list(group) for _, group in itertools.groupby(sorted(windows, key=lambda w: len(w.ids)), key=lambda w: len(w.ids))]
        batches = [group[b : b + self.batch_size] for group in same_length for b in range(0, len(group), self.batch_size)]
        prefix = self._content_offset
        bar = tqdm(total=len(windows), desc="encoding", unit="window", disable=None if progress else True, leave=False)
        for batch in batches:
            input_ids = torch.tensor([self.tokenizer.build_inputs_with_special_tokens(w.ids) for w in batch], dtype=torch.long)
            with torch.inference_mode():
                result = self.model(input_ids=input_ids.to(self.device), output_hidden_states=n_layers > 1)
                if n_layers > 1:
                    states = torch.stack([result.hidden_states[layer] for layer in self.layers], dim=1)
                else:
                    states = result.last_hidden_state[:, None]
            states = states.float().cpu().numpy()
            for row, window in enumerate(batch):
                lo, hi = window.keep_from, window.keep_to
                outputs[window.sentence][:, window.start + lo : window.start + hi] = states[row, :, prefix + lo : prefix + hi]
            bar.update(len(batch))
        bar.close()
        return [
            SentenceVectors(vectors=out[0] if n_layers == 1 else out, word_index=word_index, n_words=len(words), windows=max(count, 1))
            for out, (_, word_index), words, count in zip(outputs, tokenized, sentences, n_windows)
        ]
