"""Text tokenized in one Unicode normal form (NFC), the user's text kept as it was.

The same Yoruba sentence typed with composed (NFC) or decomposed (NFD) diacritics must give the same words: spaCy's
rules see `Èkó.` in NFD as a letter, a combining mark, ... and keep the period on the word. `NFCTokenizer` tokenizes
the NFC form and cuts the original text at the same places, so `doc.text` is what the user wrote.
"""
import bisect
import unicodedata
from pathlib import Path
from typing import Callable, Iterable, Iterator, List, Tuple, Union

from spacy.tokens import Doc
from spacy.util import registry


def clusters(text: str) -> List[str]:
    """`text` cut before every character that starts a cluster (combining class 0): NFC composes only within one."""
    pieces: List[str] = []
    for char in text:
        if pieces and unicodedata.combining(char):
            pieces[-1] += char
        else:
            pieces.append(char)
    return pieces


def normal_offsets(text: str) -> Tuple[str, List[int], List[int]]:
    """The NFC form of `text` and, per cluster boundary, its offset in the NFC form and in `text` (ascending)."""
    pieces = clusters(text)
    normal_pieces = [unicodedata.normalize("NFC", piece) for piece in pieces]
    normal_starts, original_starts = [0], [0]
    for piece, normal in zip(pieces, normal_pieces):
        normal_starts.append(normal_starts[-1] + len(normal))
        original_starts.append(original_starts[-1] + len(piece))
    return "".join(normal_pieces), normal_starts, original_starts


class NFCTokenizer:
    """Wraps a spaCy tokenizer: the text's NFC form decides the words, the Doc holds the text as given."""

    def __init__(self, tokenizer: Callable[[str], Doc]):
        self.tokenizer = tokenizer

    @property
    def vocab(self):
        return self.tokenizer.vocab

    def __call__(self, text: str) -> Doc:
        if unicodedata.is_normalized("NFC", text):
            return self.tokenizer(text)
        normal, normal_starts, original_starts = normal_offsets(text)
        if normal != unicodedata.normalize("NFC", text):  # a composition across clusters (rare scripts): as given
            return self.tokenizer(text)
        tokenized = self.tokenizer(normal)
        words: List[str] = []
        spaces: List[bool] = []
        for token in tokenized:
            # a token edge inside a cluster (never seen: tokenizers do not split off combining marks) moves to its end
            start = original_starts[bisect.bisect_left(normal_starts, token.idx)]
            end = original_starts[bisect.bisect_left(normal_starts, token.idx + len(token.text))]
            if end <= start:
                continue
            words.append(text[start:end])
            spaces.append(bool(token.whitespace_))
        return Doc(tokenized.vocab, words=words, spaces=spaces)

    def pipe(self, texts: Iterable[str], batch_size: int = 1000) -> Iterator[Doc]:
        for text in texts:
            yield self(text)

    def to_bytes(self, **kwargs) -> bytes:
        return self.tokenizer.to_bytes(**kwargs)

    def from_bytes(self, data: bytes, **kwargs) -> "NFCTokenizer":
        self.tokenizer.from_bytes(data, **kwargs)
        return self

    def to_disk(self, path: Union[str, Path], **kwargs) -> None:
        self.tokenizer.to_disk(path, **kwargs)

    def from_disk(self, path: Union[str, Path], **kwargs) -> "NFCTokenizer":
        self.tokenizer.from_disk(path, **kwargs)
        return self


@registry.tokenizers("spacy-xproj.NFCTokenizer.v1")
def make_nfc_tokenizer() -> Callable:
    """The language's own tokenizer, reading text in NFC: `[nlp.tokenizer] @tokenizers = "spacy-xproj.NFCTokenizer.v1"`."""
    default = registry.tokenizers.get("spacy.Tokenizer.v1")()

    def create(nlp) -> NFCTokenizer:
        return NFCTokenizer(default(nlp))

    return create
