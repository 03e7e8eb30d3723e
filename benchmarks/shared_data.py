"""The shared benchmark data folder (`--shared-data`, e.g. ../shared/data): where every gold set and parallel text lies.

    alignment-gold/<set>.src-tgt, <set>.gold   gold word alignments (enfr, roen, jaen)
    europarl-ner/<lang>-europarl.test.conll02   Europarl-NER, the same sentences in en, de, es (and it)
    conll/eng.train, eng.testa, esp.testa, ned.testa, ...
    wikiann/<lang>/val.conllu
    parallel/<folder>/*<source suffix> + *<target suffix>   English-X news text, line-aligned file pairs
"""
from pathlib import Path

# the repository: its configs/ are found from here whether a benchmark runs from the root or from benchmarks/
ROOT = Path(__file__).resolve().parents[1]


def shared_data_option():
    """The `--shared-data` option of the benchmarks that read the shared data folder."""
    import typer

    return typer.Option(Path("../shared/data"), "--shared-data", help="The shared data folder (parallel text, gold sets).")


def teacher_option():
    """The `--teacher` option of the benchmarks that project with a trained teacher."""
    import typer

    return typer.Option(Path("training/en/teacher"), "--teacher", help="train-teacher's output folder.")
from typing import Dict, List, NamedTuple, Tuple

ALIGNMENT_GOLD = "alignment-gold"
EUROPARL_NER = "europarl-ner"
CONLL = "conll"
PARALLEL = "parallel"


class ParallelText(NamedTuple):
    """A folder under parallel/ of file pairs: the target file's name is the source file's with its suffix replaced."""

    folder: str
    source_suffix: str
    target_suffix: str


# English-X parallel text, by the other language (English is the source side)
ENGLISH_PARALLEL: Dict[str, ParallelText] = {
    "de": ParallelText("wmt-news/deu-eng", ".eng", ".deu"),
    "es": ParallelText("wmt-news/spa-eng", ".eng", ".spa"),
    "fr": ParallelText("wmt-news/fra-eng", ".eng", ".fra"),
    "it": ParallelText("wmt-news/ita-eng", ".eng", ".ita"),
    "ru": ParallelText("wmt-news/rus-eng", ".eng", ".rus"),
    "zh": ParallelText("wmt-news/zho-eng", ".eng", ".zho"),
    "nl": ParallelText("ntrex128", "-src.eng.txt", "-ref.nld.txt"),
}

# Tatoeba: short everyday sentences, an extra source of projected text beside the news
TATOEBA: Dict[str, ParallelText] = {
    lang: ParallelText("tatoeba", f"eng-{code}.eng", f"eng-{code}.{code}") for lang, code in (("de", "deu"), ("es", "spa"), ("nl", "nld"), ("it", "ita"))
}

# target language -> gold NER dev sets, relative to the shared data folder (never their test splits)
GOLD_DEV_SETS: Dict[str, Dict[str, str]] = {
    "de": {"wikiann": "wikiann/de/val.conllu", "europarl": f"{EUROPARL_NER}/de-europarl.test.conll02"},
    "es": {"conll2002": f"{CONLL}/esp.testa", "wikiann": "wikiann/es/val.conllu", "europarl": f"{EUROPARL_NER}/es-europarl.test.conll02"},
    "nl": {"conll2002": f"{CONLL}/ned.testa", "wikiann": "wikiann/nl/val.conllu"},
}


def parallel_file_pairs(parallel_dir: Path, text: ParallelText) -> List[Tuple[Path, Path]]:
    """(source file, target file) of every pair in `parallel_dir / text.folder` whose target file exists, sorted."""
    pairs = []
    for source_file in sorted((Path(parallel_dir) / text.folder).glob(f"*{text.source_suffix}")):
        target_file = source_file.with_name(source_file.name[: -len(text.source_suffix)] + text.target_suffix)
        if target_file.exists():
            pairs.append((source_file, target_file))
    return pairs


def alignment_gold_files(gold_dir: Path, name: str) -> Tuple[Path, Path]:
    """The text (`source ||| target` lines) and the 1-based Pharaoh gold links of an alignment gold set."""
    return Path(gold_dir) / f"{name}.src-tgt", Path(gold_dir) / f"{name}.gold"


def europarl_file(europarl_dir: Path, lang: str) -> Path:
    """The Europarl-NER test file of `lang` (the same sentences in every language)."""
    return Path(europarl_dir) / f"{lang}-europarl.test.conll02"
