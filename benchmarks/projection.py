"""Projection benchmark: English entities projected onto the target side of a parallel corpus with gold entities on
both sides, scored against the target side's own gold.

Two such corpora. Europarl-NER (Agerri et al. 2018) annotates the same 799 sentences in English, German and
Spanish (PER/ORG/LOC/MISC, rows `en-de/...`, `en-es/...`). Universal NER's PUD treebanks (Mayhew et al. 2024)
annotate the same 1,000 sentences in English, German, Portuguese and Swedish, each on its own side (PER/ORG/LOC,
rows `pud-de/...`, `pud-pt/...`, `pud-sv/...`). Rows per target side: gold English entities through xlmr_aligner
(each method), simalign and eflomal alignments with the same projection policy, the naive baseline (first to last
aligned word, simalign ArgMax at layer 8), and each teacher's predicted English entities instead of the gold.
"""
import time
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Set, Tuple, Union

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from .align import METHODS, aligner_pipeline, read_extra_parallel
from spacy_xproj.defaults import DEFAULT_LAYER, DEFAULT_TEACHER, PROJECTION_METHOD, PROJECTION_POLICY
from spacy_xproj.corpus.conll import Sentence, read_conll_ner, read_iob2, score_entities
from .results import Results
from .shared_data import ENGLISH_PARALLEL, ROOT, europarl_file
from spacy_xproj.corpus.schema import SourceSide, get_alignment, set_alignment, set_source

Entities = Set[Tuple[int, int, str]]
DEFAULT_POLICY = {"@misc": PROJECTION_POLICY}
# the METHODS entry the projection workflow uses by default
DEFAULT_METHOD = next(name for name, block in METHODS.items() if block["@misc"] == PROJECTION_METHOD)
# the naive baseline's simalign layer: ArgMax at layer 8, SimAlign's best for mBERT and XLM-R
NAIVE_LAYER = 8
# the rows of the English teacher (`--teacher`); a second one (`--trained-teacher`) has rows of its own
TEACHER_ROWS = "teacher"
TRAINED_TEACHER_ROWS = "trained-teacher"

EUROPARL_LABELS = ("PER", "ORG", "LOC", "MISC")
PUD_LABELS = ("PER", "ORG", "LOC")
# Universal NER's PUD treebanks: <uner folder>/<name>-PUD/<lang>_pud-ud-test.iob2
PUD_TREEBANKS = {"en": "English", "de": "German", "pt": "Portuguese", "sv": "Swedish"}
PUD_PREFIX = "pud-"


class GoldSet(NamedTuple):
    """Gold entities on both sides of a parallel corpus: target sentence i translates English sentence i."""

    pair: str  # the first part of its rows' keys: "en-de" (Europarl-NER), "pud-de" (PUD)
    english_name: str  # the first part of its English side's teacher rows: "en", "pud-en" (shared by the pairs)
    lang: str
    english: List[Sentence]
    target: List[Sentence]
    labels: Tuple[str, ...]  # the labels both sides annotate: teachers' labels are mapped onto these
    drop_derived_adjectives: bool  # the target gold tags no name-derived adjectives, so none is projected (no MISC)


def read_europarl(data_dir: Path, lang: str) -> List[Sentence]:
    return read_conll_ner(europarl_file(data_dir, lang))


def europarl_gold_sets(europarl_dir: Path, langs: Sequence[str]) -> List[GoldSet]:
    """Europarl-NER's English side paired with each of `langs` (de, es); a ValueError when the counts differ."""
    english = read_europarl(europarl_dir, "en")
    gold_sets = []
    for lang in langs:
        target = read_europarl(europarl_dir, lang)
        if len(target) != len(english):
            raise ValueError(f"{europarl_dir}: {len(english)} English but {len(target)} {lang} sentences")
        gold_sets.append(GoldSet(f"en-{lang}", "en", lang, english, target, EUROPARL_LABELS, drop_derived_adjectives=False))
    return gold_sets


def pud_file(uner_dir: Path, lang: str) -> Path:
    """The Universal NER file of the PUD treebank of `lang` (en, de, pt, sv)."""
    if lang not in PUD_TREEBANKS:
        raise ValueError(f"no PUD treebank for {lang!r}: choose from {', '.join(sorted(PUD_TREEBANKS))}")
    return Path(uner_dir) / f"{PUD_TREEBANKS[lang]}-PUD" / f"{lang}_pud-ud-test.iob2"


def read_pud(uner_dir: Path, lang: str) -> Tuple[List[str], List[Sentence]]:
    """The sentence ids (`# sent_id = ...`) and the sentences of a PUD treebank's `.iob2` file."""
    path = pud_file(uner_dir, lang)
    sentences = read_iob2(path)
    ids = [line.split("=", 1)[1].strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.startswith("# sent_id")]
    if len(ids) != len(sentences):
        raise ValueError(f"{path}: {len(sentences)} sentences but {len(ids)} '# sent_id' lines: cannot pair them by id")
    return ids, sentences


def pud_gold_sets(uner_dir: Path, langs: Sequence[str]) -> List[GoldSet]:
    """English PUD paired with each of `langs` (de, pt, sv). The pairing is checked, not assumed: every file must
    hold the English file's sentence ids in the same order, or a ValueError names the first that differs.

    The treebanks' `.iob2` files are read, not `pud-parallel/`: they are Universal NER's release, whose sentence
    ids make the check possible, and `pud-parallel/` holds the same words and tags except that it joins the
    words with spaces inside ("5 000") to keep one space between words."""
    english_ids, english = read_pud(uner_dir, "en")
    gold_sets = []
    for lang in langs:
        ids, target = read_pud(uner_dir, lang)
        if ids != english_ids:
            k = next((k for k, (a, b) in enumerate(zip(english_ids, ids)) if a != b), min(len(ids), len(english_ids)))
            found = ids[k] if k < len(ids) else "the end of the file"
            wanted = english_ids[k] if k < len(english_ids) else "the end of the file"
            raise ValueError(f"{pud_file(uner_dir, lang)}: sentence {k + 1} is {found}, English PUD's is {wanted}: the files must hold the same sentences in the same order")
        gold_sets.append(GoldSet(f"{PUD_PREFIX}{lang}", f"{PUD_PREFIX}en", lang, english, target, PUD_LABELS, drop_derived_adjectives=True))
    return gold_sets


def parallel_docs(vocab_nlp: Language, source: Sequence[Sentence], target: Sequence[Sentence], source_ents: Optional[Sequence[Entities]] = None) -> List[Doc]:
    docs = []
    for k, ((source_words, gold_ents), (target_words, _)) in enumerate(zip(source, target)):
        doc = Doc(vocab_nlp.vocab, words=target_words)
        ents = sorted(source_ents[k]) if source_ents is not None else gold_ents
        set_source(doc, SourceSide(words=source_words, spaces=[True] * len(source_words), ents=list(ents), lang="en"))
        docs.append(doc)
    return docs


def project_docs(docs: List[Doc], lang: str, policy: Dict, label_map: Optional[Dict] = None, refine: bool = True, match_names: bool = False,
                 drop_derived_adjectives: bool = False) -> List[Entities]:
    """Run entity_projector over Docs that already carry alignments; projected entities per Doc.

    refine (bool): the projector's span and label refinements (brackets, function words, derived
        adjectives) as in its defaults; False runs the policy alone, as the naive baseline wants.
    match_names (bool): the projector's `match_names` (names the target spells out win over the alignment).
    drop_derived_adjectives (bool): the projector's `drop_derived_adjectives` (with `refine`), for a target gold
        that tags no adjectives derived from names.
    """
    nlp = spacy.blank(lang)
    if refine:
        refinements = {"drop_derived_adjectives": drop_derived_adjectives}
    else:
        refinements = {"balance_brackets": False, "trim_function_words": False, "derived_adjective_label": None, "drop_derived_adjectives": False}
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


def teacher_entities(teacher: Union[str, Path, Language], sentences: Sequence[Sentence], label_map: Dict) -> List[Entities]:
    """English entities predicted by a spaCy pipeline (or its name or folder) on the gold tokenization, labels
    mapped as entity_projector maps them (None drops)."""
    from spacy_xproj.components.label_maps import map_label
    from spacy_xproj.corpus.evaluation import predict_on_gold_words

    nlp = teacher if isinstance(teacher, Language) else spacy.load(teacher)
    predicted = predict_on_gold_words(nlp, [words for words, _ in sentences])
    return [{(start, end, map_label(label, label_map)) for start, end, label in spans if map_label(label, label_map)} for spans in predicted]


class Teachers:
    """The English entities of each teacher on each gold set's English side: a pipeline is loaded, and an English
    side tagged, only when a row needs it, and once. Labels are mapped as `--label-map auto` maps them (OntoNotes
    to CoNLL), then onto the gold set's labels (PUD has no MISC: a MISC entity is not projected)."""

    def __init__(self, pipelines: Dict[str, str]):
        self.pipelines = dict(pipelines)  # row name -> spaCy pipeline (package name or folder)
        self.loaded: Dict[str, Language] = {}
        self.predicted: Dict[Tuple[str, str], List[Entities]] = {}

    def entities(self, name: str, gold_set: GoldSet) -> List[Entities]:
        from spacy_xproj.components.label_maps import label_map_for, ner_labels, scheme_label_map

        key = (name, gold_set.english_name)
        if key not in self.predicted:
            if name not in self.loaded:
                self.loaded[name] = spacy.load(self.pipelines[name])
            nlp = self.loaded[name]
            labels = ner_labels(nlp, self.pipelines[name])
            label_map = scheme_label_map(labels, label_map_for(labels, self.pipelines[name]), gold_set.labels)
            self.predicted[key] = teacher_entities(nlp, gold_set.english, label_map)
        return self.predicted[key]

    def described(self, name: str) -> str:
        """The pipeline as the rows record it: the folder read (symbolic links resolved), relative to the repository root where it lies inside."""
        path = Path(self.pipelines[name])
        if not path.exists():
            return self.pipelines[name]
        try:
            return str(path.resolve().relative_to(ROOT))
        except ValueError:
            return str(path)


def label_ceiling(gold_set: GoldSet) -> Dict:
    """The most any projection of the English gold entities can score against the target gold, counted per sentence
    and label: a projection that keeps the English labels (the projector does, where derived adjectives are dropped
    rather than relabelled) and makes at most one entity of each English one can match at most min(English entities,
    target entities) of each label in a sentence, `matchable` in all. Spans are not looked at, so the true ceiling can only be
    lower. With nothing wrong projected (P 100) F1 is at most 2 matchable / (matchable + target entities); projecting
    every English entity, at most 2 matchable / (English + target entities) (`f_all_projected`)."""
    from collections import Counter

    matchable: Counter = Counter()
    target: Counter = Counter()
    english = 0
    for (_, english_ents), (_, target_ents) in zip(gold_set.english, gold_set.target):
        in_english, in_target = Counter(label for _, _, label in english_ents), Counter(label for _, _, label in target_ents)
        matchable.update({label: min(n, in_english[label]) for label, n in in_target.items()})
        target.update(in_target)
        english += len(english_ents)

    def bound(found: int, support: int) -> Dict:
        return {"p": 100.0, "r": round(100 * found / support, 2) if support else 0.0, "f": round(200 * found / (found + support), 2) if support else 0.0,
                "support": support}

    row = bound(sum(matchable.values()), sum(target.values()))
    row.update(matchable=sum(matchable.values()), english=english, f_all_projected=round(200 * sum(matchable.values()) / (english + row["support"]), 2),
               per_type={label: bound(matchable[label], target[label]) for label in sorted(target)})
    return row


def run_projection_benchmark(
    gold_sets: Sequence[GoldSet],
    parallel_dir: Optional[Path],
    output: Path,
    model: str,
    layer: int = DEFAULT_LAYER,
    teachers: Optional[Dict[str, str]] = None,
    fresh: bool = False,
    log: Callable[[str], None] = print,
    naive_layer: int = NAIVE_LAYER,
) -> Dict:
    """Measure every missing row of every gold set (rows resume: a measured one is never measured again).

    teachers: row name ("teacher", "trained-teacher") -> English spaCy pipeline whose entities are projected
        with the default alignment instead of the gold ones; {"teacher": DEFAULT_TEACHER} when None.
    naive_layer: the naive baseline's simalign layer (the row names it).
    """
    results = Results(output, fresh)
    teachers = Teachers({TEACHER_ROWS: DEFAULT_TEACHER} if teachers is None else teachers)
    results.data["setup"] = {"model": model, "layer": layer, "policy": DEFAULT_POLICY["@misc"], "default_method": PROJECTION_METHOD,
                             "teacher": teachers.pipelines.get(TEACHER_ROWS)}
    for gold_set in gold_sets:
        measure_gold_set(results, gold_set, parallel_dir, model, layer, teachers, naive_layer, log)
    return results.data


def measure_gold_set(results: Results, gold_set: GoldSet, parallel_dir: Optional[Path], model: str, layer: int, teachers: Teachers,
                     naive_layer: int, log: Callable[[str], None]) -> None:
    """The rows of one gold set (`<pair>/gold/<system>`, `<pair>/<teacher>/xlmr_aligner-<default method>`,
    `<English side>/<teacher>-vs-english-gold` and, where the projector keeps the English labels, `<pair>/label-ceiling`)
    that `results` does not hold yet."""
    from spacy_xproj.encoders.loading import resolve_encoder
    from .peers import align_with_simalign, train_and_align_with_eflomal

    lang, english, target, pair = gold_set.lang, gold_set.english, gold_set.target, gold_set.pair
    gold = [set(e) for _, e in target]
    projector = {"drop_derived_adjectives": gold_set.drop_derived_adjectives}

    def record(key: str, predicted: List[Entities], **extra) -> None:
        row = score_entities(predicted, gold)
        row.update(extra)
        results.put(key, row)
        log(f"{key}: F1 {row['f']} (P {row['p']} R {row['r']})")

    def fresh_docs(source_ents: Optional[Sequence[Entities]] = None) -> List[Doc]:
        return parallel_docs(spacy.blank(lang), english, target, source_ents)

    key = f"{pair}/label-ceiling"
    if gold_set.drop_derived_adjectives and not results.has(key):  # where the projector keeps every English label
        results.put(key, label_ceiling(gold_set))
        log(f"{key}: F1 at most {results.data['rows'][key]['f']} ({results.data['rows'][key]['f_all_projected']} projecting every English entity)")

    for name in teachers.pipelines:
        key = f"{gold_set.english_name}/{name}-vs-english-gold"
        if not results.has(key):
            predicted = teachers.entities(name, gold_set)
            results.put(key, {**score_entities(predicted, [set(e) for _, e in english]), "teacher": teachers.described(name)})
            log(f"{key}: F1 {results.data['rows'][key]['f']}")

    default_docs: Optional[List[Doc]] = None  # aligned with the default method: its row, or a row that reuses them

    def default_alignment() -> List[Doc]:
        nonlocal default_docs
        if default_docs is None:
            default_docs = fresh_docs()
            align_with_component(default_docs, lang, model, METHODS[DEFAULT_METHOD], layer)
        return default_docs

    for name, method in METHODS.items():
        key = f"{pair}/gold/xlmr_aligner-{name}"
        if results.has(key):
            continue
        docs = fresh_docs()
        seconds = align_with_component(docs, lang, model, method, layer)
        if name == DEFAULT_METHOD:
            default_docs = docs
        record(key, project_docs(docs, lang, DEFAULT_POLICY, **projector), align_seconds=round(seconds, 2))

    key = f"{pair}/gold/xlmr_aligner-{DEFAULT_METHOD}-bfloat16"
    if not results.has(key):  # what project-corpus's --precision auto costs on a CPU with bfloat16 units
        docs = fresh_docs()
        seconds = align_with_component(docs, lang, model, METHODS[DEFAULT_METHOD], layer, precision="bfloat16")
        record(key, project_docs(docs, lang, DEFAULT_POLICY, **projector), align_seconds=round(seconds, 2))

    key = f"{pair}/gold/xlmr_aligner-{DEFAULT_METHOD}-unrefined"
    if not results.has(key):  # what the projector's refinements add to the policy
        record(key, project_docs(default_alignment(), lang, DEFAULT_POLICY, refine=False))

    pairs = [(s[0], t[0]) for s, t in zip(english, target)]
    key = f"{pair}/gold/naive-simalign-argmax-layer{naive_layer}"
    if not results.has(key):
        naive_links = align_with_simalign(resolve_encoder(model), pairs, layer=naive_layer, methods=("argmax",))["argmax"]
        docs = fresh_docs()
        set_links(docs, naive_links)
        record(key, project_docs(docs, lang, {"@misc": "spacy-xproj.NaiveProjection.v1"}, refine=False))

    key = f"{pair}/gold/simalign-argmax-layer{layer}+policy"
    if not results.has(key):
        links = align_with_simalign(resolve_encoder(model), pairs, layer=layer, methods=("argmax",))["argmax"]
        docs = fresh_docs()
        set_links(docs, links)
        record(key, project_docs(docs, lang, DEFAULT_POLICY, **projector))

    extra: Optional[list] = None  # read (and tokenized) once, only if an eflomal row is missing
    for symmetrization in ("grow-diag-final-and", "intersection"):
        key = f"{pair}/gold/eflomal-{symmetrization}+policy"
        if results.has(key):
            continue
        if extra is None:
            text = ENGLISH_PARALLEL.get(lang)
            extra = read_extra_parallel(parallel_dir, text, "en", lang) if parallel_dir is not None and text is not None else []
            if not extra:
                log(f"{pair}: no more English-{lang} text: eflomal trains on the gold set's {len(pairs)} pairs alone")
        links = train_and_align_with_eflomal(pairs, extra, symmetrization=symmetrization)
        docs = fresh_docs()
        set_links(docs, links)
        record(key, project_docs(docs, lang, DEFAULT_POLICY, **projector), eflomal_training_pairs=len(pairs) + len(extra))

    for name in teachers.pipelines:
        key = f"{pair}/{name}/xlmr_aligner-{DEFAULT_METHOD}"
        if not results.has(key):
            # same alignments, teacher entities instead of gold
            docs = fresh_docs(teachers.entities(name, gold_set))
            for doc, aligned in zip(docs, default_alignment()):
                set_alignment(doc, get_alignment(aligned))
            record(key, project_docs(docs, lang, DEFAULT_POLICY, **projector), **({} if name == TEACHER_ROWS else {"teacher": teachers.described(name)}))


def is_pud(pair: str) -> bool:
    return pair.startswith(PUD_PREFIX)


def render_projection_tables(data: Dict) -> Dict[str, str]:
    """docs/results/projection.md's blocks: marker -> table; the PUD one only once there are PUD rows."""
    tables = {"bench-projection": render_projection_table(data)}
    if any(is_pud(key) for key in data["rows"]):
        tables["bench-projection-pud"] = render_projection_table(data, pud=True)
    return tables


def render_projection_table(data: Dict, pud: bool = False) -> str:
    """The rows of Europarl-NER (or, with `pud`, of PUD): one line per row, then each teacher's English F1 and, per
    pair, what the default configuration loses to projection and to each teacher, and the best peer aligner."""
    rows = data["rows"]
    labels = PUD_LABELS if pud else EUROPARL_LABELS
    lines = [
        "| pair | English entities | system | P | R | F1 | " + " | ".join(f"F1 {label}" for label in labels) + " |",
        "|---|---|---|---|---|---|" + "---|" * len(labels),
    ]
    for key in sorted(rows):
        parts = key.split("/")
        if len(parts) != 3 or is_pud(parts[0]) != pud:
            continue
        pair, source, system = parts
        r = rows[key]
        per = [r["per_type"].get(t, {}).get("f", "") for t in labels]
        lines.append(f"| {pair} | {source} | {system} | {r['p']:.1f} | {r['r']:.1f} | {r['f']:.1f} | " + " | ".join(f"{x:.1f}" if x != "" else "" for x in per) + " |")
    english = f"{PUD_PREFIX}en" if pud else "en"
    scheme = "PER/ORG/LOC" if pud else "CoNLL"
    teachers = sorted((key.split("/")[1][: -len("-vs-english-gold")] for key in rows if key.startswith(f"{english}/") and key.endswith("-vs-english-gold")),
                      key=lambda name: (name != TEACHER_ROWS, name))
    if teachers:
        lines.append("")
    for name in teachers:
        row = rows[f"{english}/{name}-vs-english-gold"]
        who = "The teacher" if name == TEACHER_ROWS else f"The {name.replace('-', ' ')} (`{row.get('teacher', name)}`)"
        lines.append(f"{who}'s own English F1 against the English gold (labels mapped to {scheme}): {row['f']:.1f} (P {row['p']:.1f}, R {row['r']:.1f}).")
    method = data.get("setup", {}).get("default_method", PROJECTION_METHOD)
    name = next((n for n, b in METHODS.items() if b["@misc"] == method), DEFAULT_METHOD)
    for pair in sorted({k.split("/")[0] for k in rows if k.count("/") == 2 and is_pud(k) == pud}):
        with_gold, with_teacher = rows.get(f"{pair}/gold/xlmr_aligner-{name}"), rows.get(f"{pair}/{TEACHER_ROWS}/xlmr_aligner-{name}")
        ceiling = rows.get(f"{pair}/label-ceiling")
        if with_gold and with_teacher and ceiling:  # what is lost is mostly the annotations', not the projection's
            lines.append(
                f"{pair}, default configuration ({name}): gold English entities reach {with_gold['f']:.1f}; teacher entities reach "
                f"{with_teacher['f']:.1f}, {with_gold['f'] - with_teacher['f']:.1f} lower."
            )
        elif with_gold and with_teacher:
            lines.append(
                f"{pair}, default configuration ({name}): F1 lost to projection {100 - with_gold['f']:.1f} points "
                f"(gold English entities reach {with_gold['f']:.1f}); lost to the teacher a further {with_gold['f'] - with_teacher['f']:.1f} "
                f"(teacher entities reach {with_teacher['f']:.1f})."
            )
        if ceiling:
            lines.append(
                f"{pair}: the two sides' annotations cap any projection of the English gold entities at F1 {ceiling['f']:.1f}: at most "
                f"{ceiling['matchable']:,} of the {ceiling['support']:,} target entities have an English entity of their label in their sentence "
                f"(projecting all {ceiling['english']:,} English entities: at most {ceiling['f_all_projected']:.1f})."
            )
        trained = rows.get(f"{pair}/{TRAINED_TEACHER_ROWS}/xlmr_aligner-{name}")
        if with_gold and trained:
            lines.append(f"{pair}: the trained teacher's entities reach {trained['f']:.1f}, {with_gold['f'] - trained['f']:.1f} below the gold ones.")
        peers = {key.split("/")[2]: row["f"] for key, row in rows.items() if key.startswith(f"{pair}/gold/") and not key.split("/")[2].startswith("xlmr_aligner")}
        if with_gold and peers:
            best = max(sorted(peers), key=lambda system: peers[system])
            verdict = "ahead of" if with_gold["f"] > peers[best] else "not ahead of"
            lines.append(f"{pair}: the default configuration ({with_gold['f']:.1f}) is {verdict} the best peer, {best} ({peers[best]:.1f}).")
    return "\n".join(lines) + "\n"
