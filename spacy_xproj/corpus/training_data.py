"""From a parallel corpus to target-language NER training data: teacher, align, project, DocBin.

Work is done in chunks; each chunk's DocBin and report are written atomically
under `<output>/chunks/`, so an interrupted run resumes at the first missing
chunk and a re-run duplicates nothing. `train.spacy` / `dev.spacy` and
`report.json` are assembled from the chunks at the end, also atomically.

A chunk is reused only if it was made from the same pairs (its report holds their
hash) and its DocBin is the one written (the report holds that hash too); otherwise
it is projected again. The input files (path, size, sha256) are recorded in
`chunks/inputs.json`, and a run on other files is refused, naming the file.
"""
import hashlib
import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import spacy
from spacy.language import Language
from spacy.tokens import Doc, DocBin

from ..defaults import DEFAULT_ENCODER, DEFAULT_LAYER, DEFAULT_TEACHER, PROJECTION_METHOD
from ..files import atomic_write_bytes
from .parallel import WINDOWS_EXT, ParallelLine, SourceSide, get_projection, set_source


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
    on_incomplete: str = "missing"
    drop_derived_adjectives: bool = False  # for target annotations that tag no adjectives derived from names
    dev_fraction: float = 0.1
    chunk_size: int = 500
    seed: int = 0


def _is_dev(index: int, seed: int, fraction: float) -> bool:
    """Stable split: the same pair lands in the same split on every run."""
    digest = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def build_pipelines(settings: CorpusSettings) -> tuple:
    teacher = spacy.load(settings.teacher)
    target = spacy.blank(settings.target_lang)
    target.add_pipe("xlmr_aligner", config={"model": settings.model, "method": {"@misc": settings.method}, "layer": settings.layer})
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
    """The projector's full config, defaults filled in: chunks projected under other defaults (an older
    spacy_xproj) must not be reused as if they were current."""
    nlp = spacy.blank(settings.target_lang)
    nlp.add_pipe("entity_projector", config=projector_config(settings))
    return nlp.config["components"]["entity_projector"]


class InputMismatchError(ValueError):
    pass


def file_identity(path: Path) -> Dict:
    """What decides a file's content: its path (for the message), size and sha256."""
    path = Path(path)
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return {"path": str(path), "size": path.stat().st_size, "sha256": digest.hexdigest()}


def check_inputs(chunk_dir: Path, inputs: Sequence[Path]) -> List[Dict]:
    """The identities of the input files; an InputMismatchError naming the file when the chunks were made from others."""
    current = [file_identity(path) for path in inputs]
    record = chunk_dir / "inputs.json"
    if current and record.exists():
        recorded = json.loads(record.read_text(encoding="utf-8"))
        if len(recorded) != len(current):
            raise InputMismatchError(f"{chunk_dir} holds chunks projected from {len(recorded)} input files, not {len(current)}; remove it or choose another output directory.")
        for old, new in zip(recorded, current):
            if (old["size"], old["sha256"]) != (new["size"], new["sha256"]):
                raise InputMismatchError(
                    f"{new['path']} ({new['size']} bytes, sha256 {new['sha256'][:12]}) is not the file the chunks in {chunk_dir} were projected from "
                    f"({old['path']}, {old['size']} bytes, sha256 {old['sha256'][:12]}); remove {chunk_dir} or choose another output directory."
                )
    return current


def pairs_digest(lines: Sequence[ParallelLine]) -> str:
    """A hash of the text of some pairs: a chunk is reused only for the very pairs it was made from."""
    digest = hashlib.sha256()
    for line in lines:
        digest.update(json.dumps([line.source, line.target], ensure_ascii=False).encode("utf-8") + b"\n")
    return digest.hexdigest()


def reusable_chunk(report_path: Path, docbin_path: Path, pairs: str) -> Optional[str]:
    """None if the chunk on disk is complete and made from `pairs`; else why it must be projected again."""
    if not report_path.exists():
        return "missing"
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except ValueError:
        return "its report is not JSON"
    if report.get("pairs_sha256") != pairs:
        return "made from other pairs" if "pairs_sha256" in report else "made by an older spacy_xproj"
    if not docbin_path.is_file() or hashlib.sha256(docbin_path.read_bytes()).hexdigest() != report.get("docbin_sha256"):
        return "its DocBin is missing, truncated or changed"
    return None


def project_chunk(lines: Sequence[ParallelLine], first_index: int, teacher: Language, target: Language) -> Dict:
    """Teacher-tag, align and project one chunk; returns its Docs (by index) and counts."""
    counts: Dict[str, int] = {"read": len(lines), "complete": 0, "partial": 0, "dropped": 0, "empty": 0, "failed": 0}
    reasons: Dict[str, int] = {}
    labels: Dict[str, int] = {}
    seconds = {"teacher": 0.0, "align": 0.0, "project": 0.0}
    usable = [(first_index + k, line) for k, line in enumerate(lines) if str(line.source).strip() and str(line.target).strip()]
    counts["empty"] = len(lines) - len(usable)

    start = time.perf_counter()
    source_docs = list(teacher.pipe(line.source if isinstance(line.source, str) else " ".join(line.source) for _, line in usable))
    seconds["teacher"] = time.perf_counter() - start
    docs: List[Doc] = []
    indices: List[int] = []
    for (index, line), source_doc in zip(usable, source_docs):
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
        for _, _, label, _ in record["ents"]:
            labels[label] = labels.get(label, 0) + 1
        kept.append(doc)
    return {"docs": kept, "counts": counts, "unprojected_reasons": reasons, "entities": labels, "seconds": seconds, "failures": failures[:20],
            "long_pairs": long_pairs}


def build_training_data(
    lines: Sequence[ParallelLine],
    output_dir: Path,
    settings: CorpusSettings,
    log: Callable[[str], None] = print,
    inputs: Sequence[Path] = (),
    progress: bool = True,
) -> Dict:
    """Write `train.spacy`, `dev.spacy` and `report.json` for a parallel corpus; resumable by chunk.

    inputs (Sequence[Path]): the files `lines` were read from; chunks made from other files are refused.
    progress (bool): a tqdm bar of projected pairs on stderr (rate and time left), when stderr is a terminal.
    """
    from tqdm import tqdm

    output_dir = Path(output_dir)
    chunk_dir = output_dir / "chunks"
    settings_json = json.dumps({**settings.__dict__, "projector": projector_identity(settings)}, sort_keys=True, default=str)
    settings_file = chunk_dir / "settings.json"
    if settings_file.exists() and settings_file.read_text() != settings_json:
        raise ValueError(
            f"{chunk_dir} holds chunks made with other settings or another version's projector; remove it or choose another output directory."
        )
    identities = check_inputs(chunk_dir, inputs)

    n_chunks = (len(lines) + settings.chunk_size - 1) // settings.chunk_size
    teacher = target = None
    bar = tqdm(total=len(lines), desc="projecting", unit="pair", disable=None if progress else True)  # None: off unless a terminal
    for k in range(n_chunks):
        report_path, docbin_path = chunk_dir / f"chunk-{k:05d}.json", chunk_dir / f"chunk-{k:05d}.spacy"
        chunk_lines = lines[k * settings.chunk_size : (k + 1) * settings.chunk_size]
        pairs = pairs_digest(chunk_lines)
        why = reusable_chunk(report_path, docbin_path, pairs)
        if why is None:
            bar.total -= len(chunk_lines)  # done by an earlier run: the rate and time left count this run's work only
            continue  # the report is written last, so a matching one means the chunk is complete
        if why != "missing":
            with tqdm.external_write_mode():
                log(f"chunk {k + 1}/{n_chunks} is projected again: {why}")
            report_path.unlink()
        if teacher is None:
            teacher, target = build_pipelines(settings)
            # recorded once the pipelines load, so a typo in --teacher or --model leaves nothing to refuse later
            atomic_write_bytes(settings_file, settings_json.encode("utf-8"))
            if identities:
                atomic_write_bytes(chunk_dir / "inputs.json", json.dumps(identities, indent=2).encode("utf-8"))
        result = project_chunk(chunk_lines, k * settings.chunk_size, teacher, target)
        data = DocBin(store_user_data=True, docs=result.pop("docs")).to_bytes()
        result["pairs_sha256"], result["docbin_sha256"] = pairs, hashlib.sha256(data).hexdigest()
        atomic_write_bytes(docbin_path, data)
        atomic_write_bytes(report_path, json.dumps(result, indent=2).encode())
        bar.update(len(chunk_lines))
        with tqdm.external_write_mode():
            log(f"chunk {k + 1}/{n_chunks}: {len(chunk_lines)} pairs projected")
    bar.close()
    return assemble(output_dir, n_chunks, settings, log)


def assemble(output_dir: Path, n_chunks: int, settings: CorpusSettings, log: Callable[[str], None] = print) -> Dict:
    """Merge chunk DocBins into train/dev and sum their reports."""
    chunk_dir = output_dir / "chunks"
    vocab = spacy.blank(settings.target_lang).vocab
    train, dev = DocBin(store_user_data=True), DocBin(store_user_data=True)
    report: Dict = {"counts": {}, "unprojected_reasons": {}, "entities": {}, "seconds": {}, "failures": [], "long_pairs": []}
    for k in range(n_chunks):
        chunk = json.loads((chunk_dir / f"chunk-{k:05d}.json").read_text())
        for section in ("counts", "unprojected_reasons", "entities", "seconds"):
            for key, value in chunk[section].items():
                report[section][key] = report[section].get(key, 0) + value
        report["failures"].extend(chunk["failures"])
        report["long_pairs"].extend(chunk.get("long_pairs", []))
        for doc in DocBin(store_user_data=True).from_disk(chunk_dir / f"chunk-{k:05d}.spacy").get_docs(vocab):
            (dev if _is_dev(doc.user_data.get("xproj_index", 0), settings.seed, settings.dev_fraction) else train).add(doc)
    report["seconds"] = {k: round(v, 2) for k, v in report["seconds"].items()}
    report["train_docs"], report["dev_docs"] = len(train), len(dev)
    report["settings"] = settings.__dict__
    if (chunk_dir / "inputs.json").exists():
        report["inputs"] = json.loads((chunk_dir / "inputs.json").read_text(encoding="utf-8"))
    atomic_write_bytes(output_dir / "train.spacy", train.to_bytes())
    atomic_write_bytes(output_dir / "dev.spacy", dev.to_bytes())
    atomic_write_bytes(output_dir / "report.json", json.dumps(report, indent=2, default=str).encode())
    long_pairs, report["long_pairs"] = report["long_pairs"], {"count": len(report["long_pairs"]), "first": report["long_pairs"][:20]}
    if long_pairs:
        shown = ", ".join(long_pairs[:10]) + (f" and {len(long_pairs) - 10} more" if len(long_pairs) > 10 else "")
        log(f"warning: {len(long_pairs)} pairs are longer than the encoder's window and were aligned in overlapping windows, "
            f"which finds fewer links: {shown}. Split such lines into sentences.")
    log(f"{report['counts']} -> train {len(train)}, dev {len(dev)} docs in {output_dir}")
    return report
