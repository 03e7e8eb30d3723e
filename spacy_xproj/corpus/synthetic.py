"""Synthetic target-language training data (Chen et al. 2022): English gold translated word by word with
a lexicon the aligner induced from a projected parallel corpus; the gold labels are carried along, as
every English word becomes exactly one target word."""
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, Iterable, List

from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from .docbins import read_docbin
from .schema import install_extensions


def induce_lexicon(docs: Iterable[Doc], min_count: int = 2) -> Dict[str, str]:
    """English word (lowercased) -> its most frequent aligned target word, over the aligned target Docs
    of a projected corpus (`doc._.xproj_alignment`, `doc._.xproj_source`); pairs seen fewer than
    `min_count` times are left out. Ties go to the form seen first, so the result is deterministic."""
    install_extensions()
    counts: Dict[str, Counter] = defaultdict(Counter)
    for doc in docs:
        source, links = doc._.xproj_source, doc._.xproj_alignment
        if not source or not links:
            continue
        words = source["words"]
        for i, j, *_ in links:
            counts[words[int(i)].lower()][doc[int(j)].text] += 1
    lexicon = {}
    for word, targets in counts.items():
        target, n = targets.most_common(1)[0]
        if n >= min_count:
            lexicon[word] = target
    return lexicon


def translate_doc(doc: Doc, lexicon: Dict[str, str], vocab: Vocab, translate_entities: bool) -> Doc:
    """`doc` with every word the lexicon knows replaced by its translation (entity words only when
    `translate_entities`), the entities kept on the same word positions."""
    in_entity = {token.i for ent in doc.ents for token in ent}
    words: List[str] = []
    for token in doc:
        translation = lexicon.get(token.text.lower())
        if translation is None or (token.i in in_entity and not translate_entities):
            words.append(token.text)
            continue
        # a sentence-initial capital stays: "The" -> "Die", not "die"
        words.append(translation[:1].upper() + translation[1:] if token.i == 0 and token.text[:1].isupper() else translation)
    translated = Doc(vocab, words=words, spaces=[bool(token.whitespace_) for token in doc])
    translated.ents = [translated.char_span(translated[ent.start].idx, translated[ent.end - 1].idx + len(translated[ent.end - 1]), label=ent.label_)
                       for ent in doc.ents]
    return translated


def synthesize(gold: Path, projected: Path, output: Path, lang: str, min_count: int = 2, translate_entities: bool = False) -> Dict[str, int]:
    """Write `output` (a DocBin): the English gold DocBin `gold` translated word by word into `lang` with
    the lexicon induced from the projected DocBin `projected`. Returns the lexicon size, the sentences and
    the share of words translated (in percent)."""
    import spacy

    from ..files import atomic_write_bytes

    install_extensions()
    nlp = spacy.blank(lang)
    lexicon = induce_lexicon(read_docbin(projected).get_docs(nlp.vocab), min_count)
    if not lexicon:
        raise ValueError(f"{projected} gave no lexicon entry seen {min_count} times or more: is it a projected corpus with alignments?")
    out, words, translated = DocBin(), 0, 0
    for doc in DocBin().from_disk(gold).get_docs(nlp.vocab):
        synthetic = translate_doc(doc, lexicon, nlp.vocab, translate_entities)
        words += len(doc)
        translated += sum(a.text != b.text for a, b in zip(doc, synthetic))
        out.add(synthetic)
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(Path(output), out.to_bytes())
    return {"lexicon": len(lexicon), "sentences": len(out), "translated_percent": round(100 * translated / max(words, 1), 1)}
