"""One shard of a parallel corpus projected: the teacher tags the source side, xlmr_aligner aligns, entity_projector
projects; its train and dev DocBins are written first and its report last, each atomically, so an interrupted run
(even `kill -9`) leaves whole shards or none. A teacher on a frozen encoder that reads as the aligner's does reads the
source side in one pass for both (`shared_source_encoder`): the same output, the source side encoded once."""
import ctypes
import ctypes.util
import functools
import hashlib
import json
import os
import time
import warnings
from contextlib import nullcontext
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy
import spacy
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from thinc.api import Model

from ..components.aligner import LongPairWarning, XLMRAligner
from ..components.entity_filler import EntityFiller
from ..files import atomic_write_bytes
from ..ner.frozen_encoder import FrozenEncoder
from ..ner.frozen_features import frozen_encoders
from ..ner.self_training import self_label, tag_confidences
from ..corpus.languages import blank_pipeline
from ..corpus.schema import WINDOWS_EXT, ParallelLine, SourceSide, get_alignment, get_projection, set_source, set_token_weights
from .resume import shard_file
from .settings import CorpusSettings, is_dev, projector_config
from .shards import ParallelInput, ShardSpec, read_shard


# set to anything but "" or "0": the teacher and the aligner each read the source side (the benchmark's and tests' "before")
TWO_PASSES_ENV = "SPACY_XPROJ_TWO_PASSES"


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Optional[Callable[[int], int]]:
    """glibc's `malloc_trim`, looked up once per process (find_library runs ldconfig); None elsewhere."""
    name = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None


def return_freed_memory() -> bool:
    """Hand the heap pages freed since the last call back to the system (glibc's `malloc_trim`); False where the C
    library has no such call. glibc keeps freed pages of its heaps mapped, so without this a worker's resident memory
    creeps up over a long run to what its largest shards once needed rather than what it holds now."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def build_pipelines(settings: CorpusSettings) -> tuple:
    """The teacher, the target pipeline (aligner and projector) and the extra teacher (None without one)."""
    teacher = spacy.load(settings.teacher)
    extra = EntityFiller(teacher.vocab, "extra_teacher", pipeline=settings.extra_teacher, labels=settings.extra_labels) if settings.extra_teacher else None
    if extra is not None:
        extra.initialize()  # loads it: a pipeline without the labels asked for stops here, before any pair
    target = blank_pipeline(settings.target_lang)
    target.add_pipe("xlmr_aligner", config={"model": settings.model, "method": {"@misc": settings.method}, "layer": settings.layer, "precision": settings.precision})
    target.add_pipe("entity_projector", config=projector_config(settings))
    target.initialize()
    return teacher, target, extra


def teacher_docs(teacher: Language, texts: List[str], confidence: float, weights: bool = False) -> Tuple[List[Doc], Optional[List[numpy.ndarray]]]:
    """The teacher's Docs of `texts`; with `confidence`, only its entities scored at least that and the
    tokens it doubts marked missing (`self_label`, which scores token_ner and spaCy's ner alike); with
    `weights`, also its confidence in each token's tag (`tag_confidences`)."""
    if weights:
        docs, confidences = zip(*tag_confidences(teacher, texts)) if texts else ((), ())
        return list(docs), list(confidences)
    if not confidence:
        return list(teacher.pipe(texts)), None
    return list(self_label(teacher, texts, threshold=confidence)), None


def shared_source_encoder(teacher: Language, aligner: XLMRAligner) -> Optional[FrozenEncoder]:
    """The teacher's frozen encoder when one pass of it over the source side can serve the aligner too: the teacher
    has exactly one, it reads as the aligner's encoder does (`SubwordEncoder.reading`: the same weights, precision,
    device and windows) and computes the aligner's layer, so the aligner gets the bits it would have read itself.
    None otherwise (or with SPACY_XPROJ_TWO_PASSES set): the two read the source side apart."""
    if os.environ.get(TWO_PASSES_ENV, "") not in ("", "0"):
        return None
    found = [encoder for _, pipe in teacher.pipeline if isinstance(getattr(pipe, "model", None), Model) for encoder in frozen_encoders(pipe.model)]
    if len(found) != 1:
        return None
    ours, theirs = found[0].encoder(), aligner.encoder
    return found[0] if ours.reading == theirs.reading and len(theirs.layers) == 1 and theirs.layers[0] in ours.layers else None


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


def project_pairs(lines: Sequence[ParallelLine], first_index: int, teacher: Language, target: Language, extra: Optional[EntityFiller] = None,
                  teacher_confidence: float = 0.0,
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

    aligner, projector = target.get_pipe("xlmr_aligner"), target.get_pipe("entity_projector")
    start = time.perf_counter()
    texts = [line.source if isinstance(line.source, str) else " ".join(line.source) for _, line in usable]
    shared = shared_source_encoder(teacher, aligner)
    reuse = nullcontext()
    if shared is not None:  # one pass: the teacher reads its features from it, the aligner its layer
        source_words = [[token.text for token in teacher.make_doc(text)] for text in texts]
        reuse = aligner.encoder.reusing(source_words, shared.read_ahead(source_words, aligner.encoder.layers[0]))
    source_docs, source_confidences = teacher_docs(teacher, texts, teacher_confidence, teacher_weights)
    if shared is not None:
        shared.forget_ahead()
    confidences_of = {index: c for (index, _), c in zip(usable, source_confidences or ())}
    source_ents = extra.filled(source_docs) if extra is not None else [[(e.start, e.end, e.label_) for e in d.ents] for d in source_docs]
    seconds["teacher"] = time.perf_counter() - start
    docs: List[Doc] = []
    indices: List[int] = []
    doubted: Dict[int, List[int]] = {}  # pair index -> source words without a confident tag (ent_iob 0: missing)
    for (index, line), source_doc, ents in zip(usable, source_docs, source_ents):
        if teacher_confidence:
            doubted[index] = [token.i for token in source_doc if token.ent_iob == 0]
        doc = target.make_doc(line.target) if isinstance(line.target, str) else Doc(target.vocab, words=line.target)
        set_source(doc, SourceSide(
            words=[t.text for t in source_doc], spaces=[bool(t.whitespace_) for t in source_doc],
            ents=ents, lang=teacher.lang,
        ))
        doc.user_data["xproj_index"] = index
        docs.append(doc)
        indices.append(index)

    failures: List[str] = []

    def remember(name, component, bad_docs, error):
        failures.extend(f"{d.user_data.get('xproj_index')}: {error}" for d in bad_docs)

    aligner.set_error_handler(remember)
    projector.set_error_handler(remember)
    start = time.perf_counter()
    with warnings.catch_warnings(), reuse:
        warnings.simplefilter("ignore", LongPairWarning)  # reported with the lines, below
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
            "long_pairs": long_pairs, "source_passes": 1 if shared is not None else 2}


def limit_threads(threads: int) -> None:
    """This process's torch threads and those of every BLAS and OpenMP library loaded (threadpoolctl) set to
    `threads`: numpy's and scipy's OpenBLAS start a thread per core of their own, so workers sharing a machine
    would run more threads than it has cores, each spinning while it waits."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(threads)


class ShardProjector:
    """Projects shards of one corpus and writes each shard's files; the teacher and aligner are loaded once,
    at the first shard, so an engine builds one per worker process.

    threads (int): threads of torch and of numpy's and scipy's BLAS for this worker (0: their defaults); workers
        sharing a machine split its cores.
    gpu_id (int): the CUDA GPU teacher and aligner run on (`spacy.require_gpu`), -1 for the CPU.
    """

    def __init__(self, corpus: ParallelInput, output_dir: Path, settings: CorpusSettings, threads: int = 0, gpu_id: int = -1):
        self.corpus, self.output_dir, self.settings, self.threads, self.gpu_id = corpus, Path(output_dir), settings, threads, gpu_id
        self.pipelines: Optional[tuple] = None

    def __call__(self, spec: ShardSpec) -> Dict:
        """Project one shard; its DocBins (train and dev) are written first, its report last, all atomically."""
        if self.pipelines is None:
            if self.threads:
                limit_threads(self.threads)
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
            splits["dev" if is_dev(doc.user_data["xproj_index"], self.settings.seed, self.settings.dev_fraction) else "train"].append(doc)
        report = {"shard": spec.index, "lines": spec.lines(self.corpus), "first_pair": spec.first_pair, "n_pairs": spec.n_pairs,
                  "pairs_sha256": spec.pairs_sha256, **result}
        for split, docs in splits.items():
            data = DocBin(store_user_data=True, docs=docs).to_bytes()
            atomic_write_bytes(shard_file(self.output_dir, split, spec.index), data)
            report[f"{split}_docs"], report[f"{split}_sha256"] = len(docs), hashlib.sha256(data).hexdigest()
        report["seconds"]["write"] = time.perf_counter() - start
        atomic_write_bytes(shard_file(self.output_dir, "report", spec.index), json.dumps(report, indent=2).encode())
        del result, splits
        return_freed_memory()
        return report
