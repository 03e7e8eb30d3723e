"""The one place that turns a user's projection options (label map, precision, engine, GPU) into settings and an
engine: the `project-corpus` command and the benchmarks call it alike, so both project the same way."""
import json
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

from ..components.label_maps import ONTONOTES_TO_CONLL, label_map_for, map_label, ner_labels, scheme_label_map
from .engines import Engine, InProcess, LocalProcesses, RayData
from .settings import CorpusSettings

# --label-map names: read the teacher's labels, OntoNotes -> CoNLL, or the labels as they are
LABEL_MAP_NAMES = ("auto", "ontonotes", "none")


class ProjectionOptionError(ValueError):
    """A projection option that cannot be used; `option` names it (e.g. "--label-map")."""

    def __init__(self, option: str, message: str):
        super().__init__(message)
        self.option = option


def teacher_labels_of(teacher: str) -> List[str]:
    """The entity labels of the teacher pipeline; a ValueError naming it when no component of it sets `doc.ents`
    (a teacher that cannot teach), an OSError when it does not load."""
    import spacy

    return ner_labels(spacy.load(teacher), teacher)


def resolve_label_map(spec: Union[str, Dict, None], teacher: str, target_labels: Sequence[str] = (),
                      teacher_labels: Optional[Sequence[str]] = None) -> Optional[Dict[str, Optional[str]]]:
    """The projector's label map for `spec`: "auto" (from the teacher's labels: CoNLL kept, OntoNotes mapped),
    "ontonotes" (None: the OntoNotes -> CoNLL map), "none" ({}: labels kept), a dict as it is, or a JSON file
    {label: target or null}. With `target_labels` (the target's scheme, e.g. PER, ORG, LOC, DATE), every teacher
    label the map does not turn into one of them is dropped (`scheme_label_map`). `teacher_labels`: the teacher's,
    when already read (else the teacher is loaded where they are needed)."""
    if teacher_labels is None and (spec == "auto" or target_labels):
        teacher_labels = teacher_labels_of(teacher)
    mapping = label_map_for(teacher_labels, teacher) if spec == "auto" else _label_map(spec, teacher)
    if not target_labels:
        return mapping
    scheme = scheme_label_map(teacher_labels, mapping, target_labels)
    if not any(scheme.values()):
        raise ProjectionOptionError("--target-labels", f"no label of teacher {teacher!r} ({', '.join(teacher_labels)}) becomes one of {', '.join(target_labels)}")
    return scheme


def _label_map(spec: Union[str, Dict, None], teacher: str) -> Optional[Dict[str, Optional[str]]]:
    if spec is None or isinstance(spec, dict):
        return spec
    if spec == "ontonotes":
        return None
    if spec == "none":
        return {}
    try:
        mapping = json.loads(Path(spec).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ProjectionOptionError("--label-map", f"{spec}: not a readable JSON file of {{label: target or null}} ({err}); the names are {', '.join(LABEL_MAP_NAMES)}")
    if not isinstance(mapping, dict):
        raise ProjectionOptionError("--label-map", f"{spec}: expected a JSON object {{label: target or null}}")
    return mapping


def label_targets(teacher_labels: Sequence[str], mapping: Optional[Dict[str, Optional[str]]], unmapped: str = "drop") -> Dict[str, Optional[str]]:
    """What each teacher label becomes in the projector (None: its entities are not projected), for a resolved
    label map (None: OntoNotes -> CoNLL; {}: kept) and the projector's `unmapped` setting."""
    return {label: map_label(label, _table(mapping), unmapped) for label in teacher_labels}


def _table(mapping: Optional[Dict]) -> Dict[str, Optional[str]]:
    """The label map as a dict: None is OntoNotes -> CoNLL; a config block ({"@misc": ...}) is resolved."""
    if mapping is None:
        return ONTONOTES_TO_CONLL
    if any(str(key).startswith("@") for key in mapping):
        from spacy.util import registry

        return registry.resolve({"map": mapping})["map"]
    return mapping


def check_teacher_labels(teacher: str, targets: Dict[str, Optional[str]], mapping: Optional[Dict[str, Optional[str]]], spec_name: str,
                         log: Callable[[str], None]) -> None:
    """Refuse a teacher none of whose labels the label map projects (ProjectionOptionError naming --label-map, the
    labels and what they become); warn in one line, with the figures, when most of them map to nothing, or when
    one is dropped only because the map does not list it (a map written for another teacher)."""
    table = _table(mapping)
    dropped = [label for label, target in targets.items() if target is None]
    unlisted = [label for label in dropped if table and label not in table]
    shown = ", ".join(f"{label} -> {target or 'nothing'}" + (" (not in the map)" if label in unlisted else "") for label, target in targets.items())
    if len(dropped) == len(targets):
        raise ProjectionOptionError(
            "--label-map", f"no label of teacher {teacher!r} becomes a target label under --label-map {spec_name}: {shown}; "
            "give a --label-map FILE.json {label: target or null} for this teacher ('none' keeps its labels)")
    if 2 * len(dropped) > len(targets) or unlisted:
        log(f"warning: {len(dropped)} of {len(targets)} labels of teacher {teacher!r} map to nothing under --label-map {spec_name}, so their "
            f"entities are not projected (report.json counts them under dropped_by_label_map): {shown}")


def resolve_aligner_precision(precision: str, gpu_id: int) -> Tuple[str, str]:
    """The precision every worker aligns in ("auto" resolved once, here, so the settings record one value) and why."""
    from ..encoders.subword_encoder import resolve_precision

    resolved = resolve_precision(precision, "cuda" if gpu_id >= 0 else "cpu")
    if precision != "auto":
        return resolved, "as asked"
    return resolved, "on a GPU" if gpu_id >= 0 else "this CPU has bfloat16 units" if resolved == "bfloat16" else "this CPU has no bfloat16 units"


def make_engine(engine: str, workers: int, threads: int, gpu_id: int, ray_address: Optional[str]) -> Engine:
    """This process (one worker), worker processes, or Ray Data; a ProjectionOptionError for an impossible mix."""
    if engine not in ("local", "ray"):
        raise ProjectionOptionError("--engine", f"unknown engine {engine!r}: local or ray")
    if engine == "local" and ray_address:
        raise ProjectionOptionError("--ray-address", "--ray-address needs --engine ray")
    if gpu_id >= 0 and engine == "local":
        import torch

        if gpu_id >= torch.cuda.device_count():
            raise ProjectionOptionError("--gpu-id", f"no CUDA GPU {gpu_id} here (torch sees {torch.cuda.device_count()}); -1 runs on the CPU")
    if engine == "ray":
        return RayData(workers, ray_address, threads, gpus=1 if gpu_id >= 0 else 0)
    return LocalProcesses(workers, threads, gpu_id) if workers > 1 else InProcess(threads, gpu_id)


def resolve_projection(
    *,
    teacher: str,
    label_map: Union[str, Dict, None] = "ontonotes",
    precision: str = "auto",
    gpu_id: int = -1,
    engine: str = "local",
    workers: int = 1,
    threads: int = 0,
    ray_address: Optional[str] = None,
    log: Callable[[str], None] = print,
    target_labels: Sequence[str] = (),
    **settings,
) -> Tuple[CorpusSettings, Engine]:
    """Settings (label map and precision resolved) and the engine of one projection run; `settings` are the other
    CorpusSettings fields. Raises ProjectionOptionError naming the option, ValueError for settings that clash."""
    if settings.get("teacher_confidence") and settings.get("teacher_weights"):
        raise ProjectionOptionError("--teacher-weights", "choose one of --teacher-confidence and --teacher-weights: the filter drops what the weights would weigh")
    runner = make_engine(engine, workers, threads, gpu_id, ray_address)
    teacher_labels = teacher_labels_of(teacher)  # a pipeline that sets no entities is refused by name, before any work
    mapping = resolve_label_map(label_map, teacher, target_labels, teacher_labels)
    spec_name = label_map if isinstance(label_map, str) else "(the given map)"
    check_teacher_labels(teacher, label_targets(teacher_labels, mapping, settings.get("unmapped", "drop")), mapping, spec_name, log)
    if target_labels and "MISC" not in target_labels:
        # an entity projected onto one lowercase word would become MISC (a derived adjective): a scheme without MISC drops it
        settings["drop_derived_adjectives"] = True
    extra_labels = tuple(settings.get("extra_labels") or ())
    if bool(settings.get("extra_teacher")) != bool(extra_labels):
        raise ProjectionOptionError("--extra-labels", "--extra-teacher and --extra-labels go together: which pipeline, and which of its labels")
    if extra_labels:  # projected under these names (entity_filler finds the extra teacher's labels that give them)
        mapping = {**(ONTONOTES_TO_CONLL if mapping is None else mapping), **{label: label for label in extra_labels}}
        settings["extra_labels"] = extra_labels
    resolved, why = resolve_aligner_precision(precision, gpu_id)
    if precision == "auto":
        log(f"aligning in {resolved} ({why}; --precision sets it)")
    return CorpusSettings(teacher=teacher, label_map=mapping, precision=resolved, **settings), runner
