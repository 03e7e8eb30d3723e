"""Alignment of paragraphs (issue 19): the gold pairs of each alignment set joined `group` at a time
into one long pair, aligned by BiSoftmax with and without its long-pair band, against the same pairs
one per line. Gold links are shifted with the words, so AER is comparable across the three rows.
Rows are keyed `<set>/<layout>` and resume one by one."""
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

from benchmarks.align import METHODS, Pair, read_gold_set, run_xlmr_aligner
from benchmarks.results import Results
from spacy_xproj.core.alignment import Links, score_alignments

LAYOUTS = {  # layout: (pairs joined per line, BiSoftmax settings)
    "one pair per line": (1, {}),
    "joined, no band": (None, {"band": 0}),
    "joined, band (default)": (None, {}),
}


def joined_pairs(pairs: Sequence[Pair], sure: Sequence[Links], possible: Sequence[Links], group: int) -> Tuple[List[Pair], List[Links], List[Links]]:
    """Every `group` consecutive pairs as one pair, their gold links shifted by the words before them."""
    joined: Tuple[List[Pair], List[Links], List[Links]] = ([], [], [])
    for start in range(0, len(pairs), group):
        source: List[str] = []
        target: List[str] = []
        sure_links: Links = set()
        possible_links: Links = set()
        for (source_words, target_words), s, p in zip(pairs[start:start + group], sure[start:start + group], possible[start:start + group]):
            sure_links |= {(i + len(source), j + len(target)) for i, j in s}
            possible_links |= {(i + len(source), j + len(target)) for i, j in p}
            source, target = source + source_words, target + target_words
        for collected, item in zip(joined, ((source, target), sure_links, possible_links)):
            collected.append(item)  # type: ignore[arg-type]
    return joined


def run_long_pairs_benchmark(
    gold_dir: Path, output: Path, model: str, sets: Sequence[str], layer: int, group: int, fresh: bool = False, log: Callable[[str], None] = print,
) -> Dict:
    results = Results(output, fresh)
    results.use_setup({"model": model, "layer": layer, "group": group}, ("model", "layer", "group"), {})
    for name in sets:
        pairs, sure, possible = read_gold_set(gold_dir, name)
        for layout, (per_line, settings) in LAYOUTS.items():
            key = f"{name}/{layout}"
            if results.has(key):
                continue
            chosen = (pairs, sure, possible) if per_line == 1 else joined_pairs(pairs, sure, possible, group)
            links, seconds = run_xlmr_aligner(model, chosen[0], {**METHODS["bisoftmax"], **settings}, layer, "subwords", 32, repeats=1)
            row = {k: round(v, 4) for k, v in score_alignments(links, chosen[1], chosen[2]).as_dict().items()}
            row.update({"lines": len(chosen[0]), "mean_source_words": round(sum(len(s) for s, _ in chosen[0]) / len(chosen[0]), 1),
                        "links": sum(map(len, links)), "seconds": round(seconds, 1)})
            results.put(key, row)
            log(f"{key}: AER {100 * row['aer']:.1f} (P {100 * row['precision']:.1f}, R {100 * row['recall']:.1f}), {row['links']} links")
    return results.data


def render_long_pairs_table(data: Dict) -> str:
    group = data["setup"]["group"]
    lines = ["| gold set | layout | lines | source words a line | AER | precision | recall | links |", "|---|---|---|---|---|---|---|---|"]
    for key, row in data["rows"].items():
        name, layout = key.split("/", 1)
        layout = layout.replace("joined", f"{group} pairs joined")
        lines.append(f"| {name} | {layout} | {row['lines']} | {row['mean_source_words']} | {100 * row['aer']:.1f} | "
                     f"{100 * row['precision']:.1f} | {100 * row['recall']:.1f} | {row['links']} |")
    return "\n".join(lines) + "\n"
