"""Read CoNLL-style NER files (one token per line, tag in the last column, blank line between sentences)."""
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

Sentence = Tuple[List[str], List[Tuple[int, int, str]]]


def check_tag(tag: str, where: str) -> None:
    """A ValueError naming `where` (file:line) unless `tag` is O, B-X or I-X (not X-ORG, a bare PER, or B-)."""
    if tag != "O" and not (tag[:2] in ("B-", "I-") and len(tag) > 2):
        raise ValueError(f"{where}: unknown tag {tag!r} (expected O, B-X or I-X)")


def tags_to_spans(tags: List[str], where: str = "") -> List[Tuple[int, int, str]]:
    """IOB1 or IOB2 tags to (start, end, label) spans; an I- after O or another label starts a span (IOB1).

    Decoding is spaCy's (`iob_to_biluo`, which reads both schemes, then `tags_to_entities`); the check
    before it only names the file and line of a tag spaCy would reject with a bare message."""
    from spacy.training import iob_to_biluo, tags_to_entities  # spaCy loads thinc and torch: not at import time

    for tag in tags:
        check_tag(tag, where)
    return [(start, end + 1, label) for label, start, end in tags_to_entities(iob_to_biluo(tags))]


def read_conll_ner(path: Path, encoding: str = "utf-8", word_column: int = 0) -> List[Sentence]:
    """Sentences as (words, entity spans); `-DOCSTART-` lines are skipped. The tag is the last column,
    the word is `word_column` (0 for CoNLL, 1 for WikiANN's `index TAB word TAB tag`). An empty word (a
    line of whitespace and a tag, as MasakhaNER 2.0 files may hold) is skipped with its tag: no tokenizer
    makes a token of it, and an entity it began is begun by the next I- tag."""
    sentences: List[Sentence] = []
    words: List[str] = []
    tags: List[str] = []

    def flush(line_number: int) -> None:
        if words:
            sentences.append((list(words), tags_to_spans(tags, f"{path}:{line_number}")))
            words.clear()
            tags.clear()

    for number, line in enumerate(Path(path).read_text(encoding=encoding).splitlines(), start=1):
        columns = line.split()
        if not columns:
            flush(number)
        elif columns[0] == "-DOCSTART-":
            flush(number)
        elif word_column == 0 and len(columns) == 1 and line[0].isspace():
            check_tag(columns[0], f"{path}:{number}")  # the tag of an empty word must still be a tag
        else:
            if len(columns) < max(2, word_column + 2):
                raise ValueError(f"{path}:{number}: expected {'index ' * word_column}'token ... TAG', found {line!r}")
            check_tag(columns[-1], f"{path}:{number}")  # named at its own line, not at the sentence's end
            words.append(columns[word_column])
            tags.append(columns[-1])
    flush(number + 1 if sentences or words else 0)
    return sentences


def percent(prf: Dict[str, Optional[float]], support: int) -> Dict:
    """spaCy's P/R/F fractions (None when nothing was scored) as % rounded to 2 places, with the gold count."""
    return {key: round(100 * (prf[key] or 0.0), 2) for key in ("p", "r", "f")} | {"support": support}


def score_entities(predicted: List[Set[Tuple[int, int, str]]], gold: List[Set[Tuple[int, int, str]]]) -> dict:
    """Exact-match entity precision, recall and F1 (in %), micro and per label, counted by spaCy's `PRFScore`."""
    from spacy.scorer import PRFScore

    total, per_type = PRFScore(), {}
    for pred, true in zip(predicted, gold):
        total.score_set(set(pred), set(true))
        for label in {label for _, _, label in set(pred) | set(true)}:
            per_type.setdefault(label, PRFScore()).score_set({e for e in pred if e[2] == label}, {e for e in true if e[2] == label})
    result = percent(total.to_dict(), total.tp + total.fn)
    result["per_type"] = {label: percent(score.to_dict(), score.tp + score.fn) for label, score in sorted(per_type.items())}
    return result


# Universal NER's tags for "other" names (its 2022 English-EWT release): read as O, UNER v1 has PER, ORG and LOC only
UNER_OTHER_TAGS = {"B-OTH", "I-OTH", "B-O", "I-O"}


def read_iob2(path: Path) -> List[Sentence]:
    """Universal NER's `.iob2` layout: `#` comment lines, then tab-separated ID, FORM, NER tag (IOB2) and more
    columns, a blank line between sentences; the OTH and B-O tags of older releases are read as O. A line with
    fewer than three columns is a ValueError naming the file and line."""
    sentences: List[Sentence] = []
    words: List[str] = []
    tags: List[str] = []
    number = 0
    for number, line in enumerate(Path(path).read_text(encoding="utf-8-sig").splitlines(), start=1):
        if line.startswith("#"):
            continue
        if not line.strip():
            if words:
                sentences.append((list(words), tags_to_spans(tags, f"{path}:{number}")))
                words.clear()
                tags.clear()
            continue
        columns = line.split("\t")
        if len(columns) < 3:
            raise ValueError(f"{path}:{number}: expected 'ID TAB FORM TAB TAG ...' (Universal NER .iob2), found {line!r}")
        tag = "O" if columns[2] in UNER_OTHER_TAGS else columns[2]
        check_tag(tag, f"{path}:{number}")
        words.append(columns[1])
        tags.append(tag)
    if words:
        sentences.append((list(words), tags_to_spans(tags, f"{path}:{number + 1}")))
    return sentences


def read_gold_file(path: Path) -> List[Sentence]:
    """A gold NER file in any of the layouts of the shared data: CoNLL-2002/2003 (word first, tag last,
    UTF-8 or Latin-1 as CoNLL-2002 Dutch), WikiANN `.conllu` (index, word, tag) or Universal NER `.iob2`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"gold NER file not found: {path}")
    if path.suffix == ".iob2":
        return read_iob2(path)
    word_column = 1 if path.suffix == ".conllu" else 0
    try:
        return read_conll_ner(path, "utf-8-sig", word_column)  # utf-8, without a leading byte order mark
    except UnicodeDecodeError:
        return read_conll_ner(path, "latin-1", word_column)


def sentences_to_docs(vocab, sentences: List[Sentence]) -> list:
    """spaCy Docs with the gold words (spaces between all of them) and entities."""
    from spacy.tokens import Doc, Span

    docs = []
    for words, spans in sentences:
        doc = Doc(vocab, words=words)
        doc.ents = [Span(doc, start, end, label) for start, end, label in spans]
        docs.append(doc)
    return docs
