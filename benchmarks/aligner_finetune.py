"""Aligner fine-tuning benchmark: the default encoder against one fine-tuned by `train-aligner`, in one run.

The fine-tuned encoder trains on news pairs from `parallel/wmt-news` (English with French,
Spanish, Italian and German by default), minus every pair one of whose sides is a sentence
of the gold sets it is scored on. Both encoders are then scored the same way: AER on
`alignment-gold` (en-fr, ro-en, ja-en) for the extraction methods, and entity-level F1 of
gold English entities projected onto the German and Spanish Europarl-NER sentences with the
projection workflow's defaults. Rows are written as they are measured, so a run resumes.

A third encoder, "adapted", is fine-tuned the way the `train-aligner` workflow is meant to be
used: on the text that is about to be aligned. One copy learns from the sentence pairs of the gold
alignment sets and one from the Europarl-NER pairs, their text only (no links, no entities), as
eflomal learns from the sentences it aligns. Its rows are transductive and labelled so.
"""
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from spacy_xproj.corpus.pair_docs import tokenize_pairs
from spacy_xproj.encoders.aligner_training import AlignerTrainingSettings, WordPair, train_aligner
from .align import GOLD_SETS, METHODS, read_gold_set, run_xlmr_aligner
from .results import Results
from .shared_data import ALIGNMENT_GOLD, ENGLISH_PARALLEL, EUROPARL_NER, PARALLEL, ParallelText, parallel_file_pairs

# training language -> its English news text
TRAINING_TEXT: Dict[str, ParallelText] = {lang: ENGLISH_PARALLEL[lang] for lang in ("fr", "de", "es", "zh", "it", "ru")}
SCORED_METHODS = ("bisoftmax", "argmax", "itermax")
PROJECTION_LANGS = ("de", "es")


def _sentence_key(words: Sequence[str]) -> str:
    # tokenizations differ between the gold files and spaCy; compare the characters
    return "".join(words).lower()


def gold_sentence_keys(shared_data: Path) -> set:
    """Both sides of every gold alignment pair and every Europarl-NER sentence."""
    from .projection import read_europarl

    keys = set()
    for name in GOLD_SETS:
        pairs, _, _ = read_gold_set(shared_data / ALIGNMENT_GOLD, name)
        keys.update(_sentence_key(side) for pair in pairs for side in pair)
    for lang in ("en", "de", "es"):
        keys.update(_sentence_key(words) for words, _ in read_europarl(shared_data / EUROPARL_NER, lang))
    return keys


def sample_pairs(lines: List, source_lang: str, target_lang: str, count: int, excluded: set, seed: int) -> Tuple[List[WordPair], Dict[str, int]]:
    """`count` random pairs of `lines`, tokenized, none sharing a side with `excluded`."""
    lines = list(lines)
    random.Random(seed).shuffle(lines)
    # tokenize a margin beyond `count`, so excluded and empty pairs can be replaced
    tokenized, _ = tokenize_pairs(iter(lines[: int(count * 1.2) + 50]), source_lang, target_lang)
    kept = [p for p in tokenized if _sentence_key(p[0]) not in excluded and _sentence_key(p[1]) not in excluded]
    return kept[:count], {"available": len(lines), "excluded_as_gold": len(tokenized) - len(kept), "used": min(count, len(kept))}


def sample_training_pairs(parallel_dir: Path, langs: Sequence[str], per_lang: int, excluded: set, seed: int) -> Tuple[List[WordPair], Dict]:
    """`per_lang` random news pairs per language (English first), none sharing a side with `excluded`."""
    from spacy_xproj.corpus.readers import read_line_aligned

    pairs: List[WordPair] = []
    report: Dict[str, Dict[str, int]] = {}
    for lang in langs:
        if lang not in TRAINING_TEXT:
            raise ValueError(f"No training text for {lang!r}: choose from {sorted(TRAINING_TEXT)}.")
        folder, english_suffix, other_suffix = TRAINING_TEXT[lang]
        lines = []
        for english_file, other_file in parallel_file_pairs(parallel_dir, TRAINING_TEXT[lang]):
            lines.extend(read_line_aligned(english_file, other_file))
        if not lines:
            raise FileNotFoundError(f"No *{english_suffix} / *{other_suffix} files in {parallel_dir / folder}")
        sampled, report[lang] = sample_pairs(lines, "en", lang, per_lang, excluded, seed)
        pairs.extend(sampled)
    random.Random(seed).shuffle(pairs)
    return pairs, report


def gold_text_pairs(shared_data: Path) -> Tuple[List[WordPair], List[WordPair]]:
    """The text of the gold alignment pairs, and of the Europarl-NER en-de and en-es pairs (no labels)."""
    from .projection import read_europarl

    alignment_text = [pair for name in GOLD_SETS for pair in read_gold_set(shared_data / ALIGNMENT_GOLD, name)[0]]
    english = read_europarl(shared_data / EUROPARL_NER, "en")
    europarl_text = [(en[0], other[0]) for lang in PROJECTION_LANGS for en, other in zip(english, read_europarl(shared_data / EUROPARL_NER, lang))]
    return alignment_text, europarl_text


def projection_f1(shared_data: Path, model: str, lang: str, layer: int) -> Dict:
    """Gold English Europarl entities projected onto `lang` with the projection workflow's defaults."""
    import spacy

    from .projection import DEFAULT_METHOD, DEFAULT_POLICY, align_with_component, parallel_docs, project_docs, read_europarl
    from spacy_xproj.corpus.conll import score_entities

    english, target = read_europarl(shared_data / EUROPARL_NER, "en"), read_europarl(shared_data / EUROPARL_NER, lang)
    docs = parallel_docs(spacy.blank(lang), english, target)
    align_with_component(docs, lang, model, METHODS[DEFAULT_METHOD], layer)
    row = score_entities(project_docs(docs, lang, DEFAULT_POLICY), [set(e) for _, e in target])
    row["method"] = DEFAULT_METHOD
    return row


def run_finetune_benchmark(
    shared_data: Path,
    output: Path,
    work_dir: Path,
    model: str,
    settings: AlignerTrainingSettings,
    langs: Sequence[str] = ("fr", "es", "it", "de"),
    adapt_steps: int = 100,
    fresh: bool = False,
    log: Callable[[str], None] = print,
    in_language: Sequence["InLanguageText"] = (),
    in_language_sizes: Sequence[Optional[int]] = (None,),
    in_language_seeds: Sequence[int] = (0,),
) -> Dict:
    from spacy.util import get_lang_class

    from spacy_xproj.corpus.readers import read_line_aligned

    settings.check()
    if not langs:
        raise ValueError("Name at least one training language (--langs).")
    if adapt_steps < 1:
        raise ValueError(f"adapt_steps must be at least 1, got {adapt_steps}.")
    if in_language and (not in_language_sizes or not in_language_seeds or any(size is not None and size < 1 for size in in_language_sizes)):
        raise ValueError(f"In-language training needs sample sizes of at least one pair and a seed, got sizes {list(in_language_sizes)}, seeds {list(in_language_seeds)}.")
    if len({text.lang for text in in_language}) < len(in_language):
        raise ValueError(f"One --in-language-text per language, got {[text.lang for text in in_language]}.")
    for text in in_language:
        try:
            get_lang_class(text.lang)
        except ImportError:
            raise ValueError(f"--in-language-text {text.lang}=...: spaCy has no language {text.lang!r} to tokenize it with") from None
    # read (and so check) the in-language text before anything trains
    in_language_lines = [(text, list(read_line_aligned(text.source, text.target))) for text in in_language]
    results = Results(output, fresh)
    for text, lines in in_language_lines:
        check_in_language_setup(results, text, lines)
    tuned_dir = work_dir / "aligner"
    per_lang = settings.steps * settings.batch_size // len(langs)  # sampled per language; pairs over max_subwords are left out later
    setup = {"base_model": model, "training": {**vars(settings), "langs": list(langs), "pairs_per_lang": per_lang}, "adapt_steps": adapt_steps}
    if results.data["rows"] and results.data.get("setup") != setup:
        raise ValueError(f"{output} holds rows measured with other settings ({results.data.get('setup')}); pass --fresh to start over, or use another --output.")
    results.data["setup"] = setup
    results.save()

    def train(key: str, pairs: List[WordPair], directory: Path, config: AlignerTrainingSettings, **extra) -> None:
        if not results.has(key):
            results.put(key, training_row(train_aligner(pairs, directory, config, restart=fresh, log=log), **extra))

    gold_keys = gold_sentence_keys(shared_data)
    if not results.has("training"):
        pairs, report = sample_training_pairs(shared_data / PARALLEL, langs, per_lang, gold_keys, settings.seed)
        log(f"training pairs: {report}")
        train("training", pairs, tuned_dir, settings, per_language=report)
    alignment_text, europarl_text = gold_text_pairs(shared_data)
    adapt_settings = AlignerTrainingSettings(**{**vars(settings), "steps": adapt_steps})
    train("adapted-training/alignment-gold-text", alignment_text, work_dir / "adapted-alignment-gold", adapt_settings)
    train("adapted-training/europarl-text", europarl_text, work_dir / "adapted-europarl", adapt_settings)

    encoders = {"default": model, "fine-tuned": str(tuned_dir), "adapted": str(work_dir / "adapted-alignment-gold")}
    score_gold_sets(results, shared_data, encoders, settings.layer, log)
    encoders["adapted"] = str(work_dir / "adapted-europarl")
    for lang in PROJECTION_LANGS:
        for encoder, path in encoders.items():
            key = f"{encoder}/projection-en-{lang}"
            if not results.has(key):
                results.put(key, projection_f1(shared_data, path, lang, settings.layer))
                log(f"{key}: F1 {results.data['rows'][key]['f']}")
    for text, lines in in_language_lines:
        run_in_language_rows(results, shared_data, work_dir, settings, text, lines, gold_keys, in_language_sizes, in_language_seeds, fresh, log)
    return results.data


def training_row(summary: Dict, **extra) -> Dict:
    """The row a finished `train_aligner` run leaves in the results."""
    return {"pairs": summary["pairs"], "steps": summary["steps"], "seconds": summary["training_seconds"],
            "first_loss": summary["first_loss"], "last_loss": summary["last_loss"], **extra}


def score_gold_sets(results: Results, shared_data: Path, encoders: Dict[str, str], layer: int, log: Callable[[str], None]) -> None:
    """AER rows `<encoder>/<gold set>/<method>` for every encoder that has none yet."""
    from spacy_xproj.core.alignment import score_alignments

    for name in GOLD_SETS:
        pairs, sure, possible = read_gold_set(shared_data / ALIGNMENT_GOLD, name)
        for method in SCORED_METHODS:
            for encoder, path in encoders.items():
                key = f"{encoder}/{name}/{method}"
                if results.has(key):
                    continue
                links, _ = run_xlmr_aligner(path, pairs, METHODS[method], layer, "subwords", 32, repeats=1)
                row = {k: round(v, 4) for k, v in score_alignments(links, sure, possible).as_dict().items()}
                results.put(key, row)
                log(f"{key}: AER {row['aer']:.4f}")


@dataclass
class InLanguageText:
    """Line-aligned English-`lang` text (from `catalog-pairs`, or a user's own) that trains one extra encoder per seed."""

    lang: str
    source: Path
    target: Path

    @classmethod
    def parse(cls, spec: str) -> "InLanguageText":
        """LANG=ENGLISH_FILE,LANG_FILE"""
        lang, _, files = spec.partition("=")
        paths = [p.strip() for p in files.split(",")]
        if not lang or len(paths) != 2 or not all(paths):
            raise ValueError(f"--in-language-text {spec!r}: expected LANG=ENGLISH_FILE,LANG_FILE (e.g. ro=corpus/catalogs/en-ro.en,corpus/catalogs/en-ro.ro)")
        return cls(lang, Path(paths[0]), Path(paths[1]))


def check_in_language_setup(results: Results, text: InLanguageText, lines: List) -> None:
    """Record which text trains the en-`lang` encoders, by the digest of its lines: the same text at
    another path is the same, and a file rewritten with other text (catalogs change with the
    installed packages) is refused while rows measured on the old text remain."""
    import hashlib

    digest = hashlib.sha256("".join(f"{line.source}\t{line.target}\n" for line in lines).encode("utf-8")).hexdigest()
    setup = {"source": str(text.source), "target": str(text.target), "sha256": digest}
    recorded = results.data.setdefault("in_language_setup", {})
    measured = any(key.startswith(f"in-language-{text.lang}/") for key in results.data["rows"])
    if measured and recorded.get(text.lang, {}).get("sha256") != setup["sha256"]:
        raise ValueError(
            f"{results.path} holds en-{text.lang} rows measured on other text than {text.source} / {text.target} "
            f"(recorded: {recorded.get(text.lang)}); pass --fresh or use another --output."
        )
    recorded[text.lang] = setup
    results.save()


def run_in_language_rows(
    results: Results, shared_data: Path, work_dir: Path, settings: AlignerTrainingSettings, text: InLanguageText, lines: List,
    excluded: set, sizes: Sequence[Optional[int]], seeds: Sequence[int], fresh: bool, log: Callable[[str], None],
) -> None:
    """Encoders `in-language-<lang>/<size>/seed<n>`: `train-aligner` for about one pass over a random sample of
    `size` pairs of `text` (None: all of it), none sharing a side with a gold sentence; scored on every gold set.

    The text is recorded per language (`check_in_language_setup`), apart from the news setup, so
    adding in-language text to an existing run keeps the rows already measured.
    """
    for size in sizes:
        for seed in seeds:
            name = f"in-language-{text.lang}/{'all' if size is None else size}/seed{seed}"
            directory = work_dir / name.replace("/", "-")
            if not results.has(f"{name}/training"):
                pairs, report = sample_pairs(lines, "en", text.lang, len(lines) if size is None else size, excluded, seed)
                log(f"{name}: {report}")
                steps = -(-len(pairs) // settings.batch_size)  # about one pass: train_aligner still drops pairs over max_subwords
                config = AlignerTrainingSettings(**{**vars(settings), "steps": steps, "seed": seed})
                results.put(f"{name}/training", training_row(train_aligner(pairs, directory, config, restart=fresh, log=log), sample=report))
            score_gold_sets(results, shared_data, {name: str(directory)}, settings.layer, log)


def render_finetune_table(data: Dict) -> str:
    rows = data["rows"]
    lines = [
        "| gold set | measure | default encoder | fine-tuned on news | change | adapted to the text (transductive) | change |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in GOLD_SETS:
        for method in SCORED_METHODS:
            base = rows.get(f"default/{name}/{method}")
            if base:
                others = [100 * rows[k]["aer"] if k in rows else None for k in (f"fine-tuned/{name}/{method}", f"adapted/{name}/{method}")]
                lines.append(f"| {name} | AER {method} | {100 * base['aer']:.1f} | {_change_cells(100 * base['aer'], others)} |")
    for lang in PROJECTION_LANGS:
        base = rows.get(f"default/projection-en-{lang}")
        if base:
            others = [rows[k]["f"] if k in rows else None for k in (f"fine-tuned/projection-en-{lang}", f"adapted/projection-en-{lang}")]
            lines.append(f"| europarl en-{lang} | projection F1 ({base['method']}) | {base['f']:.1f} | {_change_cells(base['f'], others)} |")
    training = rows.get("training")
    if training:
        setup = data["setup"]["training"]
        lines.append("")
        lines.append(
            f"Fine-tuning: {setup['objective']}, {training['pairs']} news pairs (en-{', en-'.join(setup['langs'])}), "
            f"{training['steps']} steps of {setup['batch_size']}, layers 1-{setup['layer']}, {training['seconds'] / 60:.1f} min on this CPU."
        )
    adapted = [(rows[k], label) for k, label in (("adapted-training/alignment-gold-text", "the gold alignment pairs"), ("adapted-training/europarl-text", "the Europarl-NER en-de and en-es pairs")) if k in rows]
    if adapted:
        lines.append("Adapted: the same training, " + "; ".join(
            f"{row['steps']} steps on the text of {label} ({row['pairs']} pairs, no links or entities, {row['seconds'] / 60:.1f} min)" for row, label in adapted
        ) + ".")
    in_language = in_language_table(data)
    if in_language:
        lines += ["", in_language.rstrip("\n")]
    return "\n".join(lines) + "\n"


def _change_cells(base: float, others: Sequence[Optional[float]]) -> str:
    return " | ".join(f"{v:.1f} | {v - base:+.1f}" if v is not None else " | " for v in others)


def in_language_table(data: Dict) -> str:
    """AER of the encoders trained on in-language text, one column per sample size (a value per seed,
    the change of their mean), against the default encoder."""
    rows, text = data["rows"], ""
    for lang, setup in sorted(data.get("in_language_setup", {}).items()):
        trained: Dict[str, Dict[str, Dict]] = {}
        for key, row in rows.items():
            parts = key.split("/")
            if parts[0] == f"in-language-{lang}" and parts[-1] == "training":
                trained.setdefault(parts[1], {})[parts[2]] = row
        if not trained:
            continue
        sizes = sorted(trained, key=lambda label: float("inf") if label == "all" else int(label))
        by_seed = {label: sorted(trained[label], key=lambda seed: int(seed[4:])) for label in sizes}
        text += "| gold set | measure | default encoder | " + " | ".join(f"en-{lang} text, {label} pairs | change" for label in sizes) + " |\n"
        text += "|---|---|---|" + "---|---|" * len(sizes) + "\n"
        for name in GOLD_SETS:
            for method in SCORED_METHODS:
                base = rows.get(f"default/{name}/{method}")
                if not base:
                    continue
                cells = []
                for label in sizes:
                    values = [100 * rows[k]["aer"] for seed in by_seed[label] if (k := f"in-language-{lang}/{label}/{seed}/{name}/{method}") in rows]
                    mean = sum(values) / len(values) if values else None
                    cells.append(f"{' / '.join(f'{v:.2f}' for v in values)} | {mean - 100 * base['aer']:+.2f}" if values else " | ")
                text += f"| {name} | AER {method} | {100 * base['aer']:.2f} | {' | '.join(cells)} |\n"
        text += f"\nIn-language: en-{lang} text from `{setup['source']}` / `{setup['target']}`, about one pass each (steps x batch size = pairs sampled), otherwise the news training's settings; one value per seed, the change of their mean:\n"
        for label in sizes:
            runs = [trained[label][seed] for seed in by_seed[label]]
            minutes = " / ".join(f"{r['seconds'] / 60:.1f}" for r in runs)
            text += (
                f"- {label} pairs: seeds {', '.join(seed[4:] for seed in by_seed[label])}: "
                f"{' / '.join(str(r['pairs']) for r in runs)} pairs trained (pairs over {data['setup']['training']['max_subwords']} subwords left out), {' / '.join(str(r['steps']) for r in runs)} steps, "
                f"{minutes} min\n"
            )
    return text
