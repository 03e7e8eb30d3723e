"""Projection benchmark: English entities projected onto German and Spanish Europarl sentences, scored against their gold.

Europarl-NER (Agerri et al. 2018) annotates the same 799 sentences in English,
German and Spanish, so projected entities can be scored directly. Rows:
gold English entities through xlmr_aligner (each method), simalign and eflomal
alignments with the same projection policy, the naive baseline (first to last
aligned word, simalign ArgMax at layer 8), and teacher-predicted English entities.
"""
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from .align import METHODS, aligner_pipeline, read_extra_parallel
from spacy_xproj.defaults import DEFAULT_LAYER, DEFAULT_TEACHER, PROJECTION_METHOD, PROJECTION_POLICY
from spacy_xproj.corpus.conll import Sentence, read_conll_ner, score_entities
from .results import Results
from .shared_data import ENGLISH_PARALLEL, europarl_file
from spacy_xproj.corpus.schema import SourceSide, get_alignment, set_alignment, set_source

Entities = Set[Tuple[int, int, str]]
DEFAULT_POLICY = {"@misc": PROJECTION_POLICY}
# the METHODS entry the projection workflow uses by default
DEFAULT_METHOD = next(name for name, block in METHODS.items() if block["@misc"] == PROJECTION_METHOD)


def read_europarl(data_dir: Path, lang: str) -> List[Sentence]:
    return read_conll_ner(europarl_file(data_dir, lang))


def parallel_docs(vocab_nlp: Language, source: Sequence[Sentence], target: Sequence[Sentence], source_ents: Optional[Sequence[Entities]] = None) -> List[Doc]:
    docs = []
    for k, ((source_words, gold_ents), (target_words, _)) in enumerate(zip(source, target)):
        doc = Doc(vocab_nlp.vocab, words=target_words)
        ents = sorted(source_ents[k]) if source_ents is not None else gold_ents
        set_source(doc, SourceSide(words=source_words, spaces=[True] * len(source_words), ents=list(ents), lang="en"))
        docs.append(doc)
    return docs


def project_docs(docs: List[Doc], lang: str, policy: Dict, label_map: Optional[Dict] = None, refine: bool = True, match_names: bool = False) -> List[Entities]:
    """Run entity_projector over Docs that already carry alignments; projected entities per Doc.

    refine (bool): the projector's span and label refinements (brackets, function words, derived
        adjectives) as in its defaults; False runs the policy alone, as the naive baseline wants.
    match_names (bool): the projector's `match_names` (names the target spells out win over the alignment).
    """
    nlp = spacy.blank(lang)
    refinements = {} if refine else {"balance_brackets": False, "trim_function_words": False, "derived_adjective_label": None}
    nlp.add_pipe("entity_projector", config={"policy": policy, "label_map": label_map or {}, "on_incomplete": "keep", "match_names": match_names, **refinements})
    return [{(e.start, e.end, e.label_) for e in doc.ents} for doc in nlp.pipe(docs)]


def align_with_component(docs: List[Doc], lang: str, model: str, method: Dict, layer: int, precision: str = "float32") -> float:
    """Align Docs in place with xlmr_aligner; returns seconds."""
    nlp = aligner_pipeline(lang, model, method, layer, precision=precision)
    start = time.perf_counter()
    for _ in nlp.pipe(docs, batch_size=1000):
        pass
    return time.perf_counter() - start


def set_links(docs: List[Doc], links: Sequence[Set[Tuple[int, int]]]) -> None:
    for doc, pair_links in zip(docs, links):
        set_alignment(doc, [(i, j, 1.0) for i, j in sorted(pair_links)])


def teacher_entities(teacher: str, sentences: Sequence[Sentence], label_map: Dict) -> List[Entities]:
    """English entities predicted by a spaCy pipeline on the gold tokenization, labels mapped as entity_projector maps
    them (None drops)."""
    from spacy_xproj.components.label_maps import map_label
    from spacy_xproj.corpus.evaluation import predict_on_gold_words

    predicted = predict_on_gold_words(spacy.load(teacher), [words for words, _ in sentences])
    return [{(start, end, map_label(label, label_map)) for start, end, label in spans if map_label(label, label_map)} for spans in predicted]


def run_projection_benchmark(
    europarl_dir: Path,
    parallel_dir: Optional[Path],
    output: Path,
    model: str,
    langs: Sequence[str] = ("de", "es"),
    layer: int = DEFAULT_LAYER,
    teacher: Optional[str] = DEFAULT_TEACHER,
    fresh: bool = False,
    log: Callable[[str], None] = print,
) -> Dict:
    from spacy_xproj.encoders.loading import resolve_encoder
    from .peers import align_with_simalign, train_and_align_with_eflomal
    from spacy_xproj.components.label_maps import ONTONOTES_TO_CONLL

    results = Results(output, fresh)
    results.data["setup"] = {"model": model, "layer": layer, "policy": DEFAULT_POLICY["@misc"], "default_method": PROJECTION_METHOD, "teacher": teacher}
    model_path = resolve_encoder(model)
    english = read_europarl(europarl_dir, "en")
    predicted_english = None
    if teacher:
        predicted_english = teacher_entities(teacher, english, ONTONOTES_TO_CONLL)
        key = "en/teacher-vs-english-gold"
        if not results.has(key):
            results.put(key, score_entities(predicted_english, [set(e) for _, e in english]))
        log(f"{key}: F1 {results.data['rows'][key]['f']}")
    for lang in langs:
        target = read_europarl(europarl_dir, lang)
        if len(target) != len(english):
            raise ValueError(f"{europarl_dir}: {len(english)} English but {len(target)} {lang} sentences")
        gold = [set(e) for _, e in target]

        def record(key: str, predicted: List[Entities], **extra) -> None:
            row = score_entities(predicted, gold)
            row.update(extra)
            results.put(key, row)
            log(f"{key}: F1 {row['f']} (P {row['p']} R {row['r']})")

        default_docs: Optional[List[Doc]] = None
        for name, method in METHODS.items():
            key = f"en-{lang}/gold/xlmr_aligner-{name}"
            if results.has(key) and name != DEFAULT_METHOD:
                continue
            docs = parallel_docs(spacy.blank(lang), english, target)
            seconds = align_with_component(docs, lang, model, method, layer)
            if name == DEFAULT_METHOD:
                default_docs = docs
            if not results.has(key):
                record(key, project_docs(docs, lang, DEFAULT_POLICY), align_seconds=round(seconds, 2))

        key = f"en-{lang}/gold/xlmr_aligner-{DEFAULT_METHOD}-bfloat16"
        if not results.has(key):  # what project-corpus's --precision auto costs on a CPU with bfloat16 units
            docs = parallel_docs(spacy.blank(lang), english, target)
            seconds = align_with_component(docs, lang, model, METHODS[DEFAULT_METHOD], layer, precision="bfloat16")
            record(key, project_docs(docs, lang, DEFAULT_POLICY), align_seconds=round(seconds, 2))

        key = f"en-{lang}/gold/xlmr_aligner-{DEFAULT_METHOD}-unrefined"
        if not results.has(key):  # what the projector's refinements add to the policy
            record(key, project_docs(default_docs, lang, DEFAULT_POLICY, refine=False))

        pairs = [(s[0], t[0]) for s, t in zip(english, target)]
        key = f"en-{lang}/gold/naive-simalign-argmax-layer8"
        if not results.has(key):
            naive_links = align_with_simalign(model_path, pairs, layer=8, methods=("argmax",))["argmax"]
            docs = parallel_docs(spacy.blank(lang), english, target)
            set_links(docs, naive_links)
            record(key, project_docs(docs, lang, {"@misc": "spacy-xproj.NaiveProjection.v1"}, refine=False))

        key = f"en-{lang}/gold/simalign-argmax-layer{layer}+policy"
        if not results.has(key):
            links = align_with_simalign(model_path, pairs, layer=layer, methods=("argmax",))["argmax"]
            docs = parallel_docs(spacy.blank(lang), english, target)
            set_links(docs, links)
            record(key, project_docs(docs, lang, DEFAULT_POLICY))

        extra: Optional[list] = None  # read (and tokenized) once, only if an eflomal row is missing
        for symmetrization in ("grow-diag-final-and", "intersection"):
            key = f"en-{lang}/gold/eflomal-{symmetrization}+policy"
            if results.has(key):
                continue
            if extra is None:
                extra = read_extra_parallel(parallel_dir, ENGLISH_PARALLEL[lang], "en", lang) if parallel_dir is not None else []
            links = train_and_align_with_eflomal(pairs, extra, symmetrization=symmetrization)
            docs = parallel_docs(spacy.blank(lang), english, target)
            set_links(docs, links)
            record(key, project_docs(docs, lang, DEFAULT_POLICY), eflomal_training_pairs=len(pairs) + len(extra))

        if predicted_english is not None:
            key = f"en-{lang}/teacher/xlmr_aligner-{DEFAULT_METHOD}"
            if not results.has(key):
                # same alignments, teacher entities instead of gold
                docs = parallel_docs(spacy.blank(lang), english, target, predicted_english)
                for doc, aligned in zip(docs, default_docs):
                    set_alignment(doc, get_alignment(aligned))
                record(key, project_docs(docs, lang, DEFAULT_POLICY))
    return results.data


def render_projection_table(data: Dict) -> str:
    rows = data["rows"]
    lines = ["| pair | English entities | system | P | R | F1 | F1 PER | F1 ORG | F1 LOC | F1 MISC |", "|---|---|---|---|---|---|---|---|---|---|"]
    for key in sorted(rows):
        parts = key.split("/")
        if len(parts) != 3:
            continue
        pair, source, system = parts
        r = rows[key]
        per = [r["per_type"].get(t, {}).get("f", "") for t in ("PER", "ORG", "LOC", "MISC")]
        lines.append(f"| {pair} | {source} | {system} | {r['p']:.1f} | {r['r']:.1f} | {r['f']:.1f} | " + " | ".join(f"{x:.1f}" if x != "" else "" for x in per) + " |")
    teacher = rows.get("en/teacher-vs-english-gold")
    if teacher:
        lines.append("")
        lines.append(f"The teacher's own English F1 against the English gold (labels mapped to CoNLL): {teacher['f']:.1f} (P {teacher['p']:.1f}, R {teacher['r']:.1f}).")
    method = data.get("setup", {}).get("default_method", PROJECTION_METHOD)
    name = next((n for n, b in METHODS.items() if b["@misc"] == method), DEFAULT_METHOD)
    for pair in sorted({k.split("/")[0] for k in rows if k.count("/") == 2}):
        with_gold, with_teacher = rows.get(f"{pair}/gold/xlmr_aligner-{name}"), rows.get(f"{pair}/teacher/xlmr_aligner-{name}")
        if with_gold and with_teacher:
            lines.append(
                f"{pair}, default configuration ({name}): F1 lost to projection {100 - with_gold['f']:.1f} points "
                f"(gold English entities reach {with_gold['f']:.1f}); lost to the teacher a further {with_gold['f'] - with_teacher['f']:.1f} "
                f"(teacher entities reach {with_teacher['f']:.1f})."
            )
    return "\n".join(lines) + "\n"
