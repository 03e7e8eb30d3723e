"""Alignment benchmark: xlmr_aligner vs simalign and eflomal on gold word alignments, in one run.

Rows are keyed "<set>/<system>" and written to the metrics JSON as soon as each
is measured, so an interrupted run resumes where it stopped.
"""
import itertools
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from spacy_xproj.core.alignment import Links, align_vectors, links_as_set, parse_pharaoh, score_alignments
from spacy_xproj.defaults import DEFAULT_LAYER
from .results import Results
from .shared_data import ENGLISH_PARALLEL, ParallelText, alignment_gold_files, parallel_file_pairs

# gold set -> (source lang, target lang, parallel text for eflomal)
GOLD_SETS: Dict[str, Tuple[str, str, Optional[ParallelText]]] = {
    "enfr": ("en", "fr", ENGLISH_PARALLEL["fr"]),
    "roen": ("ro", "en", None),
    "jaen": ("ja", "en", None),
}
METHODS: Dict[str, Dict[str, object]] = {
    "bisoftmax": {"@misc": "spacy-xproj.BiSoftmax.v1"},
    "argmax": {"@misc": "spacy-xproj.ArgMax.v1"},
    "itermax": {"@misc": "spacy-xproj.IterMax.v1"},
    "match": {"@misc": "spacy-xproj.Match.v1"},
    "softmax": {"@misc": "spacy-xproj.SoftmaxThreshold.v1"},
}
# also timed in bfloat16 (the fast option on CPUs with bf16 units) and int8 (dynamic quantization, measured only)
LOW_PRECISION_METHODS = ("bisoftmax", "argmax")
Pair = Tuple[List[str], List[str]]


def read_gold_set(gold_dir: Path, name: str) -> Tuple[List[Pair], List[Links], List[Links]]:
    """Pairs and (sure, possible) links of `<name>.src-tgt` / `<name>.gold` (1-based Pharaoh links)."""
    text_path, gold_path = alignment_gold_files(gold_dir, name)
    from spacy_xproj.corpus.readers import parse_pharaoh_text

    lines = [parse_pharaoh_text([line], f"{text_path}:{number}") for number, line in enumerate(text_path.read_text(encoding="utf-8").splitlines(), start=1)]
    pairs: List[Pair] = [(line.source, line.target) for line in lines]
    gold = [parse_pharaoh(line, one_based=True) for line in gold_path.read_text().splitlines()]
    if len(gold) != len(pairs):
        raise ValueError(f"{gold_path} has {len(gold)} lines but {text_path} has {len(pairs)}")
    return pairs, [s for s, _ in gold], [p for _, p in gold]


def read_extra_parallel(parallel_dir: Path, spec: ParallelText, source_lang: str, target_lang: str) -> List[Pair]:
    """All line pairs of a wmt-news folder, tokenized with spaCy's tokenizers (for training eflomal)."""
    from spacy_xproj.corpus.pair_docs import blank_tokenizer

    pairs: List[Pair] = []
    source_tok, target_tok = blank_tokenizer(source_lang), blank_tokenizer(target_lang)
    for source_file, target_file in parallel_file_pairs(parallel_dir, spec):
        for s, t in zip(source_file.read_text(encoding="utf-8").splitlines(), target_file.read_text(encoding="utf-8").splitlines()):
            pairs.append(([w.text for w in source_tok(s) if not w.is_space], [w.text for w in target_tok(t) if not w.is_space]))
    return pairs


def _row(predicted: Sequence[Links], sure: Sequence[Links], possible: Sequence[Links], seconds: Optional[float], **extra) -> Dict:
    row = {k: round(v, 4) for k, v in score_alignments(predicted, sure, possible).as_dict().items()}
    row["pairs_per_second"] = round(len(predicted) / seconds, 2) if seconds else None
    if set(extra) & set(row):
        raise ValueError(f"extra fields {sorted(set(extra) & set(row))} would overwrite measured ones")
    row.update(extra)
    return row


def aligner_pipeline(lang: str, model: str, method: Dict, layer: int, **settings):
    """A blank pipeline with an initialized xlmr_aligner, as users build one."""
    import spacy

    nlp = spacy.blank(lang)
    nlp.add_pipe("xlmr_aligner", config={"model": model, "method": method, "layer": layer, **settings})
    nlp.initialize()
    return nlp


def run_xlmr_aligner(model: str, pairs: Sequence[Pair], method: Dict, layer: int, pooling: str, batch_size: int, repeats: int = 2, precision: str = "float32") -> Tuple[List[Links], float]:
    """Align with the component in a blank pipeline, exactly as users run it (Docs in, nlp.pipe).

    precision: "float32", "bfloat16", or "int8": the encoder's linear layers quantized dynamically
        (torch.ao's `quantize_dynamic`; measured here only: the component does not offer it).
    Returns links and the fastest of `repeats` timed passes (the machine is shared and noisy).
    """
    from spacy_xproj.corpus.schema import get_alignment
    from spacy_xproj.corpus.pair_docs import make_parallel_doc

    nlp = aligner_pipeline("xx", model, method, layer, subword_pooling=pooling, batch_size=batch_size, precision="float32" if precision == "int8" else precision)
    if precision == "int8":
        quantize_aligner(nlp)
    seconds = float("inf")
    for _ in range(repeats):
        docs = [make_parallel_doc(nlp, source, target) for source, target in pairs]
        start = time.perf_counter()
        aligned = list(nlp.pipe(docs, batch_size=1000))
        seconds = min(seconds, time.perf_counter() - start)
    return [{(i, j) for i, j, _ in get_alignment(doc) or []} for doc in aligned], seconds


def quantize_aligner(nlp) -> int:
    """Replace the xlmr_aligner encoder's linear layers by int8 dynamically quantized ones; returns how many."""
    import warnings

    import torch
    from torch.ao.quantization import quantize_dynamic

    encoder = nlp.get_pipe("xlmr_aligner").encoder
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch 2.13 marks quantized tensors deprecated
        encoder.model = quantize_dynamic(encoder.model, {torch.nn.Linear}, dtype=torch.qint8)
    return sum(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in encoder.model.modules())


def layer_sweep(model: str, pairs: Sequence[Pair], layers: Sequence[int], methods: Dict[str, Callable], pooling: str) -> Dict[int, Dict[str, List[Links]]]:
    """Links per layer and method from one forward pass that keeps every requested layer."""
    from spacy_xproj.encoders.subword_encoder import SubwordEncoder

    encoder = SubwordEncoder(model, layers=layers)
    vectors = encoder.encode([s for s, _ in pairs] + [t for _, t in pairs], progress=True)
    sources, targets = vectors[: len(pairs)], vectors[len(pairs) :]
    sweep: Dict[int, Dict[str, List[Links]]] = {}
    for k, layer in enumerate(layers):
        sweep[layer] = {}
        for name, method in methods.items():
            sweep[layer][name] = [
                links_as_set(align_vectors(method, s.vectors[k], t.vectors[k], s.word_index, t.word_index, s.n_words, t.n_words, pooling)[0])
                for s, t in zip(sources, targets)
            ]
    return sweep


def agreement(ours: Sequence[Links], theirs: Sequence[Links]) -> float:
    """Fraction of pairs whose link sets are identical."""
    return sum(a == b for a, b in zip(ours, theirs)) / max(len(ours), 1)


def run_benchmark(
    gold_dir: Path,
    parallel_dir: Optional[Path],
    output: Path,
    model: str,
    sets: Sequence[str],
    layer: int = DEFAULT_LAYER,
    pooling: str = "subwords",
    sweep_layers: Sequence[int] = tuple(range(4, 13)),
    batch_size: int = 32,
    simalign_limit: int = 0,
    fresh: bool = False,
    log: Callable[[str], None] = print,
) -> Dict:
    """Measure every system on every gold set; see the module doc."""
    from spacy_xproj.encoders.loading import resolve_encoder
    from spacy_xproj.components.methods import make_argmax, make_bisoftmax, make_itermax, make_match, make_softmax_threshold
    from .peers import align_with_simalign, train_and_align_with_eflomal

    results = Results(output, fresh)
    model_path = resolve_encoder(model)
    results.data["setup"] = {
        "model": model, "layer": layer, "subword_pooling": pooling, "cpu_threads": _threads(),
        "simalign_pairs": simalign_limit or "all",
    }
    results.save()
    for name in sets:
        if name not in GOLD_SETS:
            raise ValueError(f"Unknown gold set {name!r}: choose from {sorted(GOLD_SETS)}")
        source_lang, target_lang, extra_spec = GOLD_SETS[name]
        pairs, sure, possible = read_gold_set(gold_dir, name)
        log(f"== {name}: {len(pairs)} pairs")
        ours: Dict[str, List[Links]] = {}
        for method_name, method in METHODS.items():
            key = f"{name}/xlmr_aligner-{method_name}"
            links, seconds = run_xlmr_aligner(model, pairs, method, layer, pooling, batch_size)
            ours[method_name] = links
            if not results.has(key):
                results.put(key, _row(links, sure, possible, seconds, layer=layer))
            log(f"{key}: {results.data['rows'][key]}")
        for method_name, precision in itertools.product(LOW_PRECISION_METHODS, ("bfloat16", "int8")):
            key = f"{name}/xlmr_aligner-{method_name}-{precision}"
            if not results.has(key):
                links, seconds = run_xlmr_aligner(model, pairs, METHODS[method_name], layer, pooling, batch_size, precision=precision)
                row = _row(links, sure, possible, seconds, layer=layer, encoder_dtype=precision)
                row["identical_to_float32"] = round(agreement(links, ours[method_name]), 4)
                results.put(key, row)
            log(f"{key}: {results.data['rows'][key]}")

        simalign_pairs = pairs[:simalign_limit] if simalign_limit else pairs
        n = len(simalign_pairs)
        for group in (("argmax",), ("itermax", "match")):
            keys = [f"{name}/simalign-{m}" for m in group]
            if all(results.has(k) for k in keys):
                continue
            # like ours: model loading is not timed, and the faster of two passes counts
            # (one pass for itermax + match: networkx matching dominates and takes minutes)
            seconds = float("inf")
            for _ in range(2 if group == ("argmax",) else 1):
                timing: Dict[str, float] = {}
                theirs = align_with_simalign(model_path, simalign_pairs, layer=layer, methods=group, timing=timing)
                seconds = min(seconds, timing["seconds"])
            for method_name, key in zip(group, keys):
                row = _row(theirs[method_name], sure[:n], possible[:n], seconds, layer=layer, timed_together_with=list(group))
                ours_on_same = ours[method_name][:n]
                row["identical_to_xlmr_aligner"] = round(agreement(ours_on_same, theirs[method_name]), 4)
                results.put(key, row)
                log(f"{key}: {row}")

        key = f"{name}/eflomal"
        if not results.has(key):
            extra: List[Pair] = []
            if extra_spec and parallel_dir is not None:
                extra = read_extra_parallel(parallel_dir, extra_spec, source_lang, target_lang)
            start = time.perf_counter()
            links = train_and_align_with_eflomal(pairs, extra)
            seconds = time.perf_counter() - start
            results.put(key, _row(links, sure, possible, seconds, training_pairs=len(pairs) + len(extra), includes_training_time=True))
            log(f"{key}: {results.data['rows'][key]}")

        key = f"{name}/layer-sweep"
        if not results.has(key):
            methods = {"bisoftmax": make_bisoftmax(), "argmax": make_argmax(), "itermax": make_itermax(), "match": make_match(), "softmax": make_softmax_threshold()}
            sweep = layer_sweep(model, pairs, sweep_layers, methods, pooling)
            results.put(key, {
                str(lay): {m: round(score_alignments(links, sure, possible).aer, 4) for m, links in by_method.items()}
                for lay, by_method in sweep.items()
            })
            log(f"{key}: done")

    rows = results.data["rows"]
    summary = {}
    for name in sets:
        theirs_pps = rows.get(f"{name}/simalign-argmax", {}).get("pairs_per_second")
        summary[name] = {}
        for variant in ("argmax", "argmax-bfloat16", "argmax-int8"):
            ours_pps = rows.get(f"{name}/xlmr_aligner-{variant}", {}).get("pairs_per_second")
            summary[name][f"xlmr_aligner_{variant}_speed_vs_simalign"] = round(ours_pps / theirs_pps, 2) if ours_pps and theirs_pps else None
    results.data["summary"] = summary
    results.save()
    return results.data


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def render_table(data: Dict) -> str:
    """Markdown table of the benchmark rows (AER / precision / recall in %, pairs per second)."""
    rows = data["rows"]
    lines = ["| gold set | system | AER | precision | recall | pairs/s | same links as ours (float32) |", "|---|---|---|---|---|---|---|"]
    for key in sorted(k for k in rows if not k.endswith("layer-sweep")):
        name, system = key.split("/", 1)
        r = rows[key]
        same_key = "identical_to_xlmr_aligner" if "identical_to_xlmr_aligner" in r else "identical_to_float32"
        same = f"{100 * r[same_key]:.1f}%" if same_key in r else ""
        pps = f"{r['pairs_per_second']:.1f}" if r.get("pairs_per_second") else ""
        lines.append(f"| {name} | {system} | {100 * r['aer']:.1f} | {100 * r['precision']:.1f} | {100 * r['recall']:.1f} | {pps} | {same} |")
    lines.append("")
    sweeps = {k.split("/")[0]: v for k, v in rows.items() if k.endswith("layer-sweep")}
    if sweeps:
        methods = sorted(next(iter(next(iter(sweeps.values())).values())).keys())
        lines.append("Layer sweep (AER %, " + ", ".join(methods) + "):")
        lines.append("")
        layers = sorted(next(iter(sweeps.values())).keys(), key=int)
        lines.append("| gold set | " + " | ".join(f"layer {lay}" for lay in layers) + " |")
        lines.append("|---|" + "---|" * len(layers))
        for name, sweep in sorted(sweeps.items()):
            cells = [" / ".join(f"{100 * sweep[lay][m]:.1f}" for m in methods) for lay in layers]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    summary = data.get("summary", {})
    if summary:
        lines.append("")
        lines.append("Speed of xlmr_aligner ArgMax relative to simalign ArgMax (same model, layer, machine, run), float32 / bfloat16 / int8: "
                     + ", ".join(f"{k} {v['xlmr_aligner_argmax_speed_vs_simalign']}x / {v['xlmr_aligner_argmax-bfloat16_speed_vs_simalign']}x / "
                                 f"{v.get('xlmr_aligner_argmax-int8_speed_vs_simalign')}x" for k, v in summary.items()))
    return "\n".join(lines) + "\n"
