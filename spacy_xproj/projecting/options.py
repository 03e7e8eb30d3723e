"""The one place that turns a user's projection options (label map, precision, engine, GPU) into settings and an
engine: the `project-corpus` command and the benchmarks call it alike, so both project the same way."""
import json
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple, Union

from ..components.label_maps import label_map_for, ner_labels
from .engines import Engine, InProcess, LocalProcesses, RayData
from .settings import CorpusSettings

# --label-map names: read the teacher's labels, OntoNotes -> CoNLL, or the labels as they are
LABEL_MAP_NAMES = ("auto", "ontonotes", "none")


class ProjectionOptionError(ValueError):
    """A projection option that cannot be used; `option` names it (e.g. "--label-map")."""

    def __init__(self, option: str, message: str):
        super().__init__(message)
        self.option = option


def resolve_label_map(spec: Union[str, Dict, None], teacher: str) -> Optional[Dict[str, Optional[str]]]:
    """The projector's label map for `spec`: "auto" (from the teacher's labels: CoNLL kept, OntoNotes mapped),
    "ontonotes" (None: the OntoNotes -> CoNLL map), "none" ({}: labels kept), a dict as it is, or a JSON file
    {label: target or null}."""
    if spec is None or isinstance(spec, dict):
        return spec
    if spec == "auto":
        import spacy

        return label_map_for(ner_labels(spacy.load(teacher), teacher), teacher)
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
    **settings,
) -> Tuple[CorpusSettings, Engine]:
    """Settings (label map and precision resolved) and the engine of one projection run; `settings` are the other
    CorpusSettings fields. Raises ProjectionOptionError naming the option, ValueError for settings that clash."""
    if settings.get("teacher_confidence") and settings.get("teacher_weights"):
        raise ProjectionOptionError("--teacher-weights", "choose one of --teacher-confidence and --teacher-weights: the filter drops what the weights would weigh")
    runner = make_engine(engine, workers, threads, gpu_id, ray_address)
    mapping = resolve_label_map(label_map, teacher)
    resolved, why = resolve_aligner_precision(precision, gpu_id)
    if precision == "auto":
        log(f"aligning in {resolved} ({why}; --precision sets it)")
    return CorpusSettings(teacher=teacher, label_map=mapping, precision=resolved, **settings), runner
