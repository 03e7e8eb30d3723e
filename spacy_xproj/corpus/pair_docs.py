"""Parallel Docs from text: each side tokenized by spaCy's tokenizer for its language, the source side attached."""
from collections.abc import Sized
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from spacy.language import Language
from spacy.tokens import Doc

from .languages import blank_pipeline
from .schema import ParallelLine, SourceSide, set_source


def _words_and_spaces(text_or_words: Union[str, Sequence[str]], tokenizer: Callable[[str], Doc]) -> Tuple[List[str], List[bool]]:
    if isinstance(text_or_words, str):
        doc = tokenizer(text_or_words)
        return [t.text for t in doc], [bool(t.whitespace_) for t in doc]
    words = list(text_or_words)
    return words, [True] * max(len(words) - 1, 0) + [False] * min(len(words), 1)


def make_parallel_doc(
    target_nlp: Language,
    source: Union[str, Sequence[str]],
    target: Union[str, Sequence[str]],
    source_lang: Optional[str] = None,
    source_ents: Sequence[Tuple[int, int, str]] = (),
    source_tokenizer: Optional[Callable[[str], Doc]] = None,
) -> Doc:
    """A target Doc carrying its source side. Raw text is tokenized with the language's spaCy tokenizer; word lists are kept as given.

    target_nlp (Language): provides the target vocab and tokenizer.
    source / target (Union[str, Sequence[str]]): raw text or pre-tokenized words.
    source_lang (Optional[str]): source language code, used to tokenize raw source text.
    source_ents (Sequence[Tuple[int, int, str]]): source entities as word spans (start, end, label).
    source_tokenizer (Optional[Callable]): tokenizer for raw source text; default spacy.blank(source_lang).
    """
    if isinstance(target, str):
        doc = target_nlp.make_doc(target)
    else:
        words, spaces = _words_and_spaces(target, target_nlp.tokenizer)
        doc = Doc(target_nlp.vocab, words=words, spaces=spaces)
    if isinstance(source, str):
        if source_tokenizer is None:
            source_tokenizer = blank_tokenizer(source_lang or "xx")
    words, spaces = _words_and_spaces(source, source_tokenizer or target_nlp.tokenizer)
    set_source(doc, SourceSide(words=words, spaces=spaces, ents=list(source_ents), lang=source_lang))
    return doc


_BLANK_CACHE: Dict[str, Language] = {}


def blank_tokenizer(lang: str) -> Callable[[str], Doc]:
    """spaCy's rule-based tokenizer for the language `lang` names (any ISO 639 code: `xx`'s where spaCy has none;
    zh segments characters; ja needs SudachiPy: `pip install spacy_xproj[ja]`); a ValueError when it names none."""
    if lang not in _BLANK_CACHE:
        try:
            _BLANK_CACHE[lang] = blank_pipeline(lang)
        except ImportError as err:
            raise ImportError(f"spaCy's tokenizer for {lang!r} needs an extra package: {err}. For Japanese: pip install 'spacy_xproj[ja]'.") from err
    return _BLANK_CACHE[lang].tokenizer


def tokenize_pairs(lines: Iterator, source_lang: str, target_lang: str) -> Tuple[List[Tuple[List[str], List[str]]], int]:
    """Words of each pair (raw text goes through spaCy's tokenizer for its language); pairs with an empty side are left out.

    Returns (pairs, number left out). Works for languages without spaces (zh, ja) through spaCy's tokenizers.
    """
    source_tokenizer, target_tokenizer = blank_tokenizer(source_lang), blank_tokenizer(target_lang)

    def words(text_or_words, tokenizer) -> List[str]:
        if isinstance(text_or_words, str):
            return [t.text for t in tokenizer(text_or_words) if not t.is_space]
        return [w for w in text_or_words if w.strip()]

    pairs, empty = [], 0
    for line in lines:
        pair = (words(line.source, source_tokenizer), words(line.target, target_tokenizer))
        if pair[0] and pair[1]:
            pairs.append(pair)
        else:
            empty += 1
    return pairs, empty


def read_parallel_docs(
    target_nlp: Language, lines: Iterable[ParallelLine], source_lang: str, limit: int = 0, progress: bool = True
) -> Iterator[Doc]:
    """Parallel Docs from reader output, tokenizing raw text with spaCy's tokenizers for each language.

    progress (bool): a tqdm bar of the pairs handed on, on stderr when it is a terminal (with a total when
        `lines` has a length). `nlp.pipe` takes a batch at a time, so the bar runs up to a batch ahead of it.
    """
    from tqdm import tqdm

    source_tokenizer = blank_tokenizer(source_lang)
    total = len(lines) if isinstance(lines, Sized) else None
    if limit:
        total = min(total, limit) if total is not None else limit
    with tqdm(total=total, desc="pairs", unit="pair", disable=None if progress else True) as bar:
        for count, line in enumerate(lines, start=1):
            if limit and count > limit:
                return
            yield make_parallel_doc(target_nlp, line.source, line.target, source_lang=source_lang, source_tokenizer=source_tokenizer)
            bar.update(1)
