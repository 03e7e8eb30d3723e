"""From a parallel corpus to target-language NER training data: teacher, align, project, DocBin.

The corpus is projected shard by shard (`shards.py`), by whichever engine (`engines.py`); each
shard's train and dev DocBins and its report are written atomically (`train/`, `dev/`, `shards/`),
the report last, so an interrupted run (even `kill -9`) resumes at the shards not finished and a
re-run duplicates nothing. `manifest.json` and `report.json` are written from the shards' reports
at the end.

A shard is reused only if it was made from the same pairs (its report holds their hash) and its
DocBins are the ones written (the report holds their hashes too); otherwise it is projected again.
The settings and the input files (path, size, sha256) are recorded in `shards/`, and a run with
other settings or on other files is refused, naming the folder or file.
"""
import hashlib
import json
import time
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy
import spacy
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.util import registry

from ..core.thresholds import confidence_threshold_error
from ..defaults import DEFAULT_ENCODER, DEFAULT_LAYER, DEFAULT_TEACHER, PROJECTION_METHOD
from ..files import atomic_write_bytes
from .engines import Engine, InProcess
from .parallel import WINDOWS_EXT, ParallelLine, SourceSide, get_alignment, get_projection, set_source, set_token_weights
from .shards import InputMismatchError, ParallelInput, ShardSpec, file_identity, plan_shards, read_shard


# The extraction method used for projecting entities. xlmr_aligner's own default (BiSoftmax)
# has the lowest AER, but IterMax's higher recall projects entities better (README, projection table).


@dataclass
class CorpusSettings:
    source_lang: str = "en"
    target_lang: str = "de"
    teacher: str = DEFAULT_TEACHER
    label_map: Optional[Dict] = None  # config block or dict; None: OntoNotes -> CoNLL
    unmapped: str = "drop"
    model: str = DEFAULT_ENCODER
    method: str = PROJECTION_METHOD
    layer: int = DEFAULT_LAYER
    precision: str = "float32"  # the aligner's: float32, bfloat16 or float16 (resolve "auto" before, so every worker runs the same)
    on_incomplete: str = "missing"
    # 0: the teacher's entities as they are; in [0.5, 1]: only the entities the teacher is this sure of are
    # projected, and target words aligned to words it is less sure of are marked missing, not "O"
    teacher_confidence: float = 0.0
    # every target word carries the teacher's confidence in the tags it was taught from (doc._.xproj_token_weights)
    teacher_weights: bool = False
    drop_derived_adjectives: bool = False  # for target annotations that tag no adjectives derived from names
    dev_fraction: float = 0.1
    shard_size: int = 500
    seed: int = 0

    def __post_init__(self):
        problem = confidence_threshold_error(self.teacher_confidence, may_be_off=True)
        if problem:
            raise ValueError(f"teacher_confidence: {problem}")
        if self.teacher_confidence and self.teacher_weights:
            raise ValueError("teacher_confidence and teacher_weights: choose one (a confidence filter drops what the weights would weigh)")


def _is_dev(index: int, seed: int, fraction: float) -> bool:
    """Stable split: the same pair lands in the same split on every run."""
    digest = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def build_pipelines(settings: CorpusSettings) -> tuple:
    teacher = spacy.load(settings.teacher)
    target = spacy.blank(settings.target_lang)
    target.add_pipe("xlmr_aligner", config={"model": settings.model, "method": {"@misc": settings.method}, "layer": settings.layer, "precision": settings.precision})
    target.add_pipe("entity_projector", config=projector_config(settings))
    target.initialize()
    return teacher, target


def projector_config(settings: CorpusSettings) -> Dict:
    label_map = settings.label_map if settings.label_map is not None else {"@misc": "spacy-xproj.ontonotes_to_conll.v1"}
    return {
        "label_map": label_map, "unmapped": settings.unmapped, "on_incomplete": settings.on_incomplete,
        "drop_derived_adjectives": settings.drop_derived_adjectives,
    }


def projector_identity(settings: CorpusSettings) -> Dict:
    """The projector's full config, defaults filled in: shards projected under other defaults (an older
    spacy_xproj) must not be reused as if they were current."""
    nlp = spacy.blank(settings.target_lang)
    nlp.add_pipe("entity_projector", config=projector_config(settings))
    return nlp.config["components"]["entity_projector"]


def check_inputs(shard_dir: Path, inputs: Sequence[Path]) -> List[Dict]:
    """The identities of the input files; an InputMismatchError naming the file when the shards were made from others."""
    current = [file_identity(path) for path in inputs]
    record = shard_dir / "inputs.json"
    if current and record.exists():
        recorded = json.loads(record.read_text(encoding="utf-8"))
        if len(recorded) != len(current):
            raise InputMismatchError(f"{shard_dir} holds shards projected from {len(recorded)} input files, not {len(current)}; remove it or choose another output directory.")
        for old, new in zip(recorded, current):
            if (old["size"], old["sha256"]) != (new["size"], new["sha256"]):
                raise InputMismatchError(
                    f"{new['path']} ({new['size']} bytes, sha256 {new['sha256'][:12]}) is not the file the shards in {shard_dir} were projected from "
                    f"({old['path']}, {old['size']} bytes, sha256 {old['sha256'][:12]}); remove {shard_dir} or choose another output directory."
                )
    return current


def teacher_docs(teacher: Language, texts: List[str], confidence: float, weights: bool = False) -> Tuple[List[Doc], Optional[List[numpy.ndarray]]]:
    """The teacher's Docs of `texts`; with `confidence`, only its entities scored at least that and the
    tokens it doubts marked missing (`self_label`, which scores token_ner and spaCy's ner alike); with
    `weights`, also its confidence in each token's tag (`tag_confidences`)."""
    # the scoring belongs to the NER layer above this one: spaCy's registry finds it (an entry point)
    if weights:
        docs, confidences = zip(*registry.misc.get("spacy-xproj.tag_confidences.v1")(teacher, texts)) if texts else ((), ())
        return list(docs), list(confidences)
    if not confidence:
        return list(teacher.pipe(texts)), None
    self_label = registry.misc.get("spacy-xproj.self_label.v1")
    return list(self_label(teacher, texts, threshold=confidence)), None


def target_token_weights(doc: Doc, source_confidences: numpy.ndarray) -> numpy.ndarray:
    """Per target word of an aligned, projected Doc: the teacher's lowest confidence among the source words
    aligned to it. A word aligned to none takes the lowest weight of the aligned words of the projected
    entity it lies in (projection bridges short gaps), and 1 outside entities, where it is taught "O"."""
    weights = numpy.ones(len(doc))
    links = numpy.array([(i, j) for i, j, _ in get_alignment(doc) or ()], dtype="int64").reshape(-1, 2)
    numpy.minimum.at(weights, links[:, 1], source_confidences[links[:, 0]])
    aligned = numpy.zeros(len(doc), dtype=bool)
    aligned[links[:, 1]] = True
    for entity in doc.ents:
        inside, linked = weights[entity.start : entity.end], aligned[entity.start : entity.end]
        if linked.any():
            inside[~linked] = inside[linked].min()
    return weights


def mask_doubted_words(doc: Doc, doubted_source: Sequence[int]) -> int:
    """Mark missing the target words aligned to source words the teacher doubted (outside projected
    entities), so the student is taught neither "O" nor an entity there; returns how many."""
    doubted = set(doubted_source)
    inside = {token.i for entity in doc.ents for token in entity}
    masked = sorted({j for i, j, _ in get_alignment(doc) or () if i in doubted} - inside)
    if masked:
        doc.set_ents(list(doc.ents), missing=[doc[j : j + 1] for j in masked], default="unmodified")
    return len(masked)


def project_pairs(lines: Sequence[ParallelLine], first_index: int, teacher: Language, target: Language, teacher_confidence: float = 0.0,
                  teacher_weights: bool = False) -> Dict:
    """Teacher-tag, align and project some pairs; returns its Docs (by index) and counts."""
    counts: Dict[str, int] = {"read": len(lines), "complete": 0, "partial": 0, "dropped": 0, "empty": 0, "failed": 0}
    if teacher_confidence:
        counts["doubted_words"] = 0
    reasons: Dict[str, int] = {}
    labels: Dict[str, int] = {}
    seconds = {"teacher": 0.0, "align": 0.0, "project": 0.0}
    usable = [(first_index + k, line) for k, line in enumerate(lines) if str(line.source).strip() and str(line.target).strip()]
    counts["empty"] = len(lines) - len(usable)

    start = time.perf_counter()
    source_docs, source_confidences = teacher_docs(teacher, [line.source if isinstance(line.source, str) else " ".join(line.source) for _, line in usable],
                                                   teacher_confidence, teacher_weights)
    confidences_of = {index: c for (index, _), c in zip(usable, source_confidences or ())}
    seconds["teacher"] = time.perf_counter() - start
    docs: List[Doc] = []
    indices: List[int] = []
    doubted: Dict[int, List[int]] = {}  # pair index -> source words without a confident tag (ent_iob 0: missing)
    for (index, line), source_doc in zip(usable, source_docs):
        if teacher_confidence:
            doubted[index] = [token.i for token in source_doc if token.ent_iob == 0]
        doc = target.make_doc(line.target) if isinstance(line.target, str) else Doc(target.vocab, words=line.target)
        set_source(doc, SourceSide(
            words=[t.text for t in source_doc], spaces=[bool(t.whitespace_) for t in source_doc],
            ents=[(e.start, e.end, e.label_) for e in source_doc.ents], lang=teacher.lang,
        ))
        doc.user_data["xproj_index"] = index
        docs.append(doc)
        indices.append(index)

    failures: List[str] = []
    aligner, projector = target.get_pipe("xlmr_aligner"), target.get_pipe("entity_projector")

    def remember(name, component, bad_docs, error):
        failures.extend(f"{d.user_data.get('xproj_index')}: {error}" for d in bad_docs)

    aligner.set_error_handler(remember)
    projector.set_error_handler(remember)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\[xlmr_aligner\] a pair longer")  # reported with the lines, below
        aligned = list(aligner.pipe(docs, batch_size=1000))
    location = dict(usable)
    long_pairs = [location[d.user_data["xproj_index"]].location for d in aligned if d._.get(WINDOWS_EXT)]
    seconds["align"] = time.perf_counter() - start
    start = time.perf_counter()
    projected = list(projector.pipe(aligned))
    seconds["project"] = time.perf_counter() - start
    counts["failed"] = len(failures)

    kept: List[Doc] = []
    for doc in projected:
        record = get_projection(doc)
        counts[record["status"]] += 1
        for _, reason in record["unprojected"]:
            reasons[reason] = reasons.get(reason, 0) + 1
        if record["status"] == "dropped":
            continue
        if doubted.get(doc.user_data["xproj_index"]):
            counts["doubted_words"] += mask_doubted_words(doc, doubted[doc.user_data["xproj_index"]])
        if teacher_weights:
            set_token_weights(doc, target_token_weights(doc, confidences_of[doc.user_data["xproj_index"]]).tolist())
        for _, _, label, _ in record["ents"]:
            labels[label] = labels.get(label, 0) + 1
        kept.append(doc)
    return {"docs": kept, "counts": counts, "unprojected_reasons": reasons, "entities": labels, "seconds": seconds, "failures": failures[:20],
            "long_pairs": long_pairs}


class ShardProjector:
    """Projects shards of one corpus and writes each shard's files; the teacher and aligner are loaded once,
    at the first shard, so an engine builds one per worker process.

    threads (int): torch threads for this worker (0: torch's default); workers sharing a machine split its cores.
    gpu_id (int): the CUDA GPU teacher and aligner run on (`spacy.require_gpu`), -1 for the CPU.
    """

    def __init__(self, corpus: ParallelInput, output_dir: Path, settings: CorpusSettings, threads: int = 0, gpu_id: int = -1):
        self.corpus, self.output_dir, self.settings, self.threads, self.gpu_id = corpus, Path(output_dir), settings, threads, gpu_id
        self.pipelines: Optional[tuple] = None

    def __call__(self, spec: ShardSpec) -> Dict:
        """Project one shard; its DocBins (train and dev) are written first, its report last, all atomically."""
        if self.pipelines is None:
            if self.threads:
                import torch

                torch.set_num_threads(self.threads)
            if self.gpu_id >= 0:
                spacy.require_gpu(self.gpu_id)  # the teacher's thinc models and the aligner's encoder follow it
            self.pipelines = build_pipelines(self.settings)
        start = time.perf_counter()
        lines = read_shard(self.corpus, spec)
        result = project_pairs(lines, spec.first_pair, *self.pipelines, teacher_confidence=self.settings.teacher_confidence,
                               teacher_weights=self.settings.teacher_weights)
        result["seconds"]["read"] = time.perf_counter() - start - sum(result["seconds"].values())
        start = time.perf_counter()
        splits: Dict[str, List[Doc]] = {"train": [], "dev": []}
        for doc in result.pop("docs"):
            splits["dev" if _is_dev(doc.user_data["xproj_index"], self.settings.seed, self.settings.dev_fraction) else "train"].append(doc)
        report = {"shard": spec.index, "lines": spec.lines(self.corpus), "first_pair": spec.first_pair, "n_pairs": spec.n_pairs,
                  "pairs_sha256": spec.pairs_sha256, **result}
        for split, docs in splits.items():
            data = DocBin(store_user_data=True, docs=docs).to_bytes()
            atomic_write_bytes(shard_file(self.output_dir, split, spec.index), data)
            report[f"{split}_docs"], report[f"{split}_sha256"] = len(docs), hashlib.sha256(data).hexdigest()
        report["seconds"]["write"] = time.perf_counter() - start
        atomic_write_bytes(shard_file(self.output_dir, "report", spec.index), json.dumps(report, indent=2).encode())
        return report


SPLITS = ("train", "dev")


def shard_file(output_dir: Path, kind: str, index: int) -> Path:
    """`train/` and `dev/` hold one DocBin per shard (`spacy train --paths.train OUTPUT/train` reads the folder);
    `shards/` their reports."""
    if kind == "report":
        return Path(output_dir) / "shards" / f"shard-{index:05d}.json"
    return Path(output_dir) / kind / f"shard-{index:05d}.spacy"


def reusable_shard(output_dir: Path, spec: ShardSpec) -> Optional[str]:
    """None if the shard on disk is complete and made from `spec`'s pairs; else why it must be projected again."""
    report_path = shard_file(output_dir, "report", spec.index)
    if not report_path.exists():
        return "missing"
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except ValueError:
        return "its report is not JSON"
    if (report.get("pairs_sha256"), report.get("first_pair"), report.get("n_pairs")) != (spec.pairs_sha256, spec.first_pair, spec.n_pairs):
        return "made from other pairs"
    for split in SPLITS:
        path = shard_file(output_dir, split, spec.index)
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != report.get(f"{split}_sha256"):
            return f"its {split} DocBin is missing, truncated or changed"
    return None


def settings_record(settings: CorpusSettings) -> str:
    return json.dumps({**settings.__dict__, "projector": projector_identity(settings)}, sort_keys=True, default=str)


def build_training_data(
    corpus: ParallelInput,
    output_dir: Path,
    settings: CorpusSettings,
    log: Callable[[str], None] = print,
    limit: int = 0,
    engine: Optional[Engine] = None,
    progress: bool = True,
    projector: Callable[..., ShardProjector] = ShardProjector,
) -> Dict:
    """Project `corpus` into `output_dir`: `train/` and `dev/` (a DocBin per shard), `manifest.json` and
    `report.json`; resumable by shard, and the same output whichever engine runs it.

    limit (int): the first `limit` pairs only (0: all).
    engine (Engine): where shards are projected (default: this process).
    progress (bool): a tqdm bar of projected pairs on stderr (rate and time left), when stderr is a terminal.
    projector: builds the per-worker shard projector (a seam for engines' tests).
    """
    from tqdm import tqdm

    output_dir = Path(output_dir)
    shard_dir = output_dir / "shards"
    record = settings_record(settings)
    settings_file = shard_dir / "settings.json"
    if settings_file.exists() and settings_file.read_text() != record:
        raise ValueError(f"{output_dir} holds shards made with other settings or another version's projector; remove it or choose another output directory.")
    identities = check_inputs(shard_dir, corpus.files)
    specs = list(plan_shards(corpus, settings.shard_size, limit))
    if not specs:
        raise ValueError(f"{corpus.files[0]} holds no sentence pairs")
    remove_other_shards(output_dir, len(specs))
    pending = []
    for spec in specs:
        why = reusable_shard(output_dir, spec)
        if why is None:
            continue
        if why != "missing":
            log(f"shard {spec.index + 1}/{len(specs)} ({spec.lines(corpus)}) is projected again: {why}")
        pending.append(spec)
    engine = engine or InProcess()
    bar = tqdm(total=sum(s.n_pairs for s in pending), desc="projecting", unit="pair", disable=None if progress else True)  # None: off unless a terminal
    recorded = False
    for report in engine.run(partial(projector, corpus, output_dir, settings), pending):
        if not recorded:  # once a shard is done, so a typo in --teacher or --model leaves nothing to refuse later
            atomic_write_bytes(settings_file, record.encode("utf-8"))
            atomic_write_bytes(shard_dir / "inputs.json", json.dumps(identities, indent=2).encode("utf-8"))
            recorded = True
        bar.update(report["n_pairs"])
        with tqdm.external_write_mode():
            log(f"shard {report['shard'] + 1}/{len(specs)}: {report['n_pairs']} pairs projected")
    bar.close()
    return write_manifest(output_dir, specs, settings, record, identities, log)


def remove_other_shards(output_dir: Path, n_shards: int) -> None:
    """Shards beyond this plan (left by a run with a larger --limit) would be read by `spacy train`: remove them."""
    for kind, pattern in (("train", "*.spacy"), ("dev", "*.spacy"), ("shards", "shard-*.json")):
        for path in (Path(output_dir) / kind).glob(pattern):
            stem = path.stem
            if stem.startswith("shard-") and stem[6:].isdigit() and int(stem[6:]) >= n_shards:
                path.unlink()


def write_manifest(output_dir: Path, specs: Sequence[ShardSpec], settings: CorpusSettings, record: str, inputs: List[Dict],
                   log: Callable[[str], None]) -> Dict:
    """`manifest.json` (each shard's lines, counts and failures, the settings and their hash) and `report.json`
    (the shards' reports summed); returns the report."""
    report: Dict = {"counts": {}, "unprojected_reasons": {}, "entities": {}, "seconds": {}, "failures": [], "long_pairs": [], "train_docs": 0, "dev_docs": 0}
    shards = []
    for spec in specs:
        shard = json.loads(shard_file(output_dir, "report", spec.index).read_text(encoding="utf-8"))
        for section in ("counts", "unprojected_reasons", "entities", "seconds"):
            for key, value in shard[section].items():
                report[section][key] = report[section].get(key, 0) + value
        report["failures"].extend(shard["failures"])
        report["long_pairs"].extend(shard["long_pairs"])
        report["train_docs"] += shard["train_docs"]
        report["dev_docs"] += shard["dev_docs"]
        shards.append({key: shard[key] for key in ("shard", "lines", "first_pair", "n_pairs", "counts", "failures", "train_docs", "dev_docs")})
        shards[-1]["files"] = {split: {"path": str(shard_file(Path(), split, spec.index)), "sha256": shard[f"{split}_sha256"]} for split in SPLITS}
    report["seconds"] = {k: round(v, 2) for k, v in report["seconds"].items()}
    report["settings"], report["inputs"] = settings.__dict__, inputs
    long_pairs, report["long_pairs"] = report["long_pairs"], {"count": len(report["long_pairs"]), "first": report["long_pairs"][:20]}
    report["failures"] = report["failures"][:100]
    manifest = {"settings": json.loads(record), "settings_sha256": hashlib.sha256(record.encode("utf-8")).hexdigest(), "inputs": inputs,
                "shards": shards, "totals": {k: report[k] for k in ("counts", "train_docs", "dev_docs", "seconds")}}
    atomic_write_bytes(Path(output_dir) / "manifest.json", json.dumps(manifest, indent=2, default=str).encode())
    atomic_write_bytes(Path(output_dir) / "report.json", json.dumps(report, indent=2, default=str).encode())
    if long_pairs:
        shown = ", ".join(long_pairs[:10]) + (f" and {len(long_pairs) - 10} more" if len(long_pairs) > 10 else "")
        log(f"warning: {len(long_pairs)} pairs are longer than the encoder's window and were aligned in overlapping windows, "
            f"which finds fewer links: {shown}. Split such lines into sentences.")
    log(f"{report['counts']} -> train {report['train_docs']}, dev {report['dev_docs']} docs in {output_dir}/train and {output_dir}/dev")
    return report
