"""Fine-tune a multilingual encoder for word alignment on parallel text, on a CPU.

Only what alignment reads is trained: transformer layers 1..L, where L is the layer the
aligner compares. The 96M-parameter word-embedding matrix of the default encoder stays
frozen, and layers above L are neither run nor changed, so the saved model is a complete
encoder (usable by `xlmr_aligner` and as an NER encoder) whose lower layers moved.

Safety: training state is checkpointed every `checkpoint_every` steps (and on Ctrl-C /
SIGTERM) into `<output>.checkpoint/`; running the same command again resumes there. The
model directory `output` is replaced only when training completes, by renaming a fully
written directory into place, so an interrupted run leaves the previous model intact.
"""
import hashlib
import json
import math
import os
import pickle
import random
import shutil
import signal
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ..defaults import DEFAULT_LAYER


MODEL_MARKER = "xproj-aligner.json"
WordPair = Tuple[List[str], List[str]]


@dataclass
class AlignerTrainingSettings:
    """Everything that decides the trained weights; a checkpoint resumes only under the same settings.

    model (str): encoder to start from (name or path; the embedded default is materialized).
    layer (int): the alignment layer: layers 1..layer are trained, the ones above are kept as they are.
    objective (str): "self-training" (awesome-align's SO objective) or "contrastive".
    steps (int): optimizer steps.
    batch_size (int): sentence pairs per step.
    learn_rate (float): peak AdamW rate; linear warm-up over the first 10% of steps, then linear decay to 0.
    temperature, distortion, threshold (float): the similarity and guide links, as in BiSoftmax.
    max_subwords (int): longer pairs (either side) are left out.
    precision (str): "float32" or "bfloat16" (autocast; faster on CPUs with bf16 units).
    seed (int): the order of the batches and the dropout masks (the weights start from `model`, not from a random init).
    """

    model: str
    layer: int = DEFAULT_LAYER
    objective: str = "contrastive"
    steps: int = 100
    batch_size: int = 16
    learn_rate: float = 5e-5
    temperature: float = 0.07
    distortion: float = 0.3
    threshold: float = 0.45
    max_subwords: int = 96
    precision: str = "float32"
    seed: int = 0

    def check(self) -> None:
        from .alignment_objectives import OBJECTIVES  # torch: loaded when training, not when the CLI reads these defaults
        from .subword_encoder import resolve_precision

        if self.objective not in OBJECTIVES:
            raise ValueError(f"Unknown objective {self.objective!r}: use one of {sorted(OBJECTIVES)}.")
        self.precision = resolve_precision(self.precision)  # "auto": what this CPU runs fastest, recorded as such
        if self.precision not in ("float32", "bfloat16"):
            raise ValueError(f"Unknown precision {self.precision!r}: use 'float32', 'bfloat16' or 'auto'.")
        for name in ("layer", "steps", "batch_size", "max_subwords"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if not (self.temperature > 0 and self.learn_rate > 0 and 0 < self.threshold < 1):
            raise ValueError(f"Need temperature > 0, learn_rate > 0 and 0 < threshold < 1; got {self.temperature}, {self.learn_rate}, {self.threshold}.")


# -- data ----------------------------------------------------------------------------------------
def subword_pairs(tokenizer, pairs: Sequence[WordPair], max_subwords: int) -> Tuple[List[Tuple[List[int], List[int]]], int, int]:
    """Subword ids of both sides, without special tokens.

    Returns (kept pairs, number with a side longer than `max_subwords`, number with a side of no subwords).
    """
    if not pairs:
        return [], 0, 0
    source = tokenizer([s for s, _ in pairs], is_split_into_words=True, add_special_tokens=False, verbose=False)["input_ids"]
    target = tokenizer([t for _, t in pairs], is_split_into_words=True, add_special_tokens=False, verbose=False)["input_ids"]
    without_subwords = sum(1 for s, t in zip(source, target) if not s or not t)
    kept = [(s, t) for s, t in zip(source, target) if 0 < len(s) <= max_subwords and 0 < len(t) <= max_subwords]
    return kept, len(pairs) - len(kept) - without_subwords, without_subwords


def corpus_digest(pairs: Sequence[Tuple[List[int], List[int]]]) -> str:
    digest = hashlib.sha256()
    for source, target in pairs:
        digest.update(repr((source, target)).encode("utf-8"))
    return digest.hexdigest()[:16]


def epoch_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int) -> List[List[int]]:
    """Batches of pair indices for one epoch: shuffled, then sorted by length within pools of 50 batches
    (little padding), batch order shuffled again. Deterministic in (seed, epoch), so a resumed run
    sees the same batches as an uninterrupted one."""
    rng = random.Random(seed * 100003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda k: lengths[k])
        batches.extend(chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


class BatchSchedule:
    """The batch of any global step (epochs follow each other), computing each epoch's order once."""

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int):
        self.lengths, self.batch_size, self.seed = lengths, batch_size, seed
        self.per_epoch = math.ceil(len(lengths) / batch_size)
        self._epoch, self._batches = -1, []

    def __getitem__(self, step: int) -> List[int]:
        epoch = step // self.per_epoch
        if epoch != self._epoch:
            self._epoch, self._batches = epoch, epoch_batches(self.lengths, self.batch_size, self.seed, epoch)
        return self._batches[step % self.per_epoch]


# -- model ---------------------------------------------------------------------------------------
class TruncatedEncoder:
    """The encoder with layers above `layer` detached while training, restored for saving."""

    def __init__(self, model_name: str, layer: int):
        import torch

        from .loading import _encoder_layers, load_encoder

        self.tokenizer, self.model = load_encoder(model_name)
        self.all_layers = _encoder_layers(self.model)
        if not 1 <= layer <= len(self.all_layers):
            raise ValueError(f"Encoder {model_name!r} has {len(self.all_layers)} layers; the alignment layer must be 1..{len(self.all_layers)}, got {layer}.")
        self.training_layers = torch.nn.ModuleList(list(self.all_layers)[:layer])
        self.model.encoder.layer = self.training_layers
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        for parameter in self.model.encoder.layer.parameters():
            parameter.requires_grad_(True)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0

    def trainable(self) -> Dict[str, "torch.nn.Parameter"]:  # noqa: F821
        return {name: p for name, p in self.model.named_parameters() if p.requires_grad}

    def encode(self, sequences: Sequence[List[int]]):
        """Content vectors [B, L, H] and mask [B, L] for subword id lists (special tokens added, then cut off)."""
        import torch

        inputs = [self.tokenizer.build_inputs_with_special_tokens(ids) for ids in sequences]
        width = max(len(x) for x in inputs)
        input_ids = torch.full((len(inputs), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(inputs), width), dtype=torch.long)
        for row, ids in enumerate(inputs):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            attention[row, : len(ids)] = 1
        hidden = self.model(input_ids=input_ids, attention_mask=attention).last_hidden_state
        offset = self.tokenizer.build_inputs_with_special_tokens([-1]).index(-1)
        longest = max(len(ids) for ids in sequences)
        lengths = torch.tensor([len(ids) for ids in sequences])
        mask = torch.arange(longest)[None, :] < lengths[:, None]
        return hidden[:, offset : offset + longest], mask

    def save(self, directory: Path, metadata: Dict) -> None:
        self.model.encoder.layer = self.all_layers
        try:
            self.model.save_pretrained(str(directory), safe_serialization=True)
            self.tokenizer.save_pretrained(str(directory))
        finally:
            self.model.encoder.layer = self.training_layers
        (directory / MODEL_MARKER).write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")


# -- checkpoints and the final directory ---------------------------------------------------------
def checkpoint_dir(output: Path) -> Path:
    return output.with_name(output.name + ".checkpoint")


def _save_checkpoint(path: Path, state: Dict) -> None:
    import torch

    path.mkdir(parents=True, exist_ok=True)
    partial = path / "state.pt.partial"
    torch.save(state, partial)
    os.replace(partial, path / "state.pt")


def _check_output_is_replaceable(output: Path) -> None:
    if output.exists() and (not output.is_dir() or (any(output.iterdir()) and not (output / MODEL_MARKER).exists())):
        raise FileExistsError(f"{output} exists and is not an aligner written by spacy_xproj; choose another output path or remove it.")


def _replace_directory(staging: Path, output: Path) -> None:
    """Rename a complete `staging` directory to `output`. A previous `output` is moved aside and deleted
    only once the new one is in place; if the swap fails, it is put back and the error raised."""
    if not output.exists():
        os.rename(staging, output)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{output.name}.old-", dir=output.parent))
    try:
        os.rename(output, retired / output.name)
    except OSError:
        retired.rmdir()
        raise
    try:
        os.rename(staging, output)
    except OSError as err:
        try:
            os.rename(retired / output.name, output)
        except OSError:
            raise OSError(f"could not put the new model in {output} ({err}) nor the previous one back: it is in {retired / output.name}") from err
        retired.rmdir()
        raise
    shutil.rmtree(retired, ignore_errors=True)


CHECKPOINT_KEYS = ("identity", "step", "history", "torch_rng", "seconds", "trainable", "optimizer", "scheduler")


def _load_checkpoint(path: Path) -> Dict:
    """The state saved by `_save_checkpoint`; a ValueError with the --restart hint if it cannot be read."""
    import torch

    try:
        state = torch.load(path, weights_only=False)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, KeyError) as err:
        raise ValueError(f"{path} cannot be read ({err!r}); pass --restart to start over.") from err
    missing = [key for key in CHECKPOINT_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise ValueError(f"{path} is not a complete checkpoint (no {', '.join(missing)}); pass --restart to start over.")
    return state


def _identity_differences(saved: Dict, current: Dict) -> str:
    """What differs between a checkpoint's identity and this run's: each setting by name, and the corpus
    by digest and size, with the checkpoint's value and this run's."""
    saved_settings, settings = saved.get("settings", {}), current["settings"]
    differences = [
        f"{key}: {saved_settings.get(key)!r} in the checkpoint, {settings.get(key)!r} now"
        for key in sorted(set(saved_settings) | set(settings)) if saved_settings.get(key) != settings.get(key)
    ]
    if (saved.get("corpus"), saved.get("pairs")) != (current["corpus"], current["pairs"]):
        differences.append(f"corpus: digest {saved.get('corpus')} ({saved.get('pairs')} pairs) in the checkpoint, "
                           f"{current['corpus']} ({current['pairs']} pairs) now")
    return "; ".join(differences)


class TrainingStopped(Exception):
    """Training stopped early on request (Ctrl-C, SIGTERM or `stop_after`); the checkpoint holds its state."""


def _format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


# -- training ------------------------------------------------------------------------------------
def train_aligner(
    pairs: Sequence[WordPair],
    output: Path,
    settings: AlignerTrainingSettings,
    checkpoint_every: int = 100,
    log_every: int = 10,
    restart: bool = False,
    log: Callable[[str], None] = print,
    stop_after: Optional[int] = None,
    progress: bool = True,
) -> Dict:
    """Fine-tune `settings.model` on word pairs and save it to `output`; returns a summary.

    checkpoint_every (int): steps between checkpoints in `<output>.checkpoint/`.
    restart (bool): discard a checkpoint left by an earlier run instead of resuming from it.
    stop_after (Optional[int]): stop (with a checkpoint, as on Ctrl-C) after this many steps of this run; for tests.
    progress (bool): a tqdm bar of steps (with the last loss) on stderr, when stderr is a terminal; the
        `log` lines every `log_every` steps are written either way, as the training record.
    """
    import torch
    from tqdm import tqdm

    from .alignment_objectives import OBJECTIVES, PairBatch

    settings.check()
    if checkpoint_every < 1 or log_every < 1:
        raise ValueError(f"checkpoint_every and log_every must be at least 1, got {checkpoint_every} and {log_every}.")
    output = Path(output)
    _check_output_is_replaceable(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(settings.seed)
    encoder = TruncatedEncoder(settings.model, settings.layer)
    data, too_long, without_subwords = subword_pairs(encoder.tokenizer, pairs, settings.max_subwords)
    left_out = f"{too_long} longer than {settings.max_subwords} subwords, {without_subwords} with a side of no subwords"
    if not data:
        raise ValueError(f"No training pairs left: {len(pairs)} given, {left_out}.")
    identity = {"settings": asdict(settings), "corpus": corpus_digest(data), "pairs": len(data)}
    schedule = BatchSchedule([max(len(s), len(t)) for s, t in data], settings.batch_size, settings.seed)

    parameters = encoder.trainable()
    optimizer = torch.optim.AdamW(parameters.values(), lr=settings.learn_rate, weight_decay=0.0)
    warmup = max(1, settings.steps // 10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (settings.steps - s) / max(1, settings.steps - warmup)))
    )
    step, history, seconds_before = 0, [], 0.0
    checkpoint = checkpoint_dir(output)
    if restart and checkpoint.exists():
        if any(child.name not in ("state.pt", "state.pt.partial") for child in checkpoint.iterdir()):
            raise FileExistsError(f"{checkpoint} holds files that are not a spacy_xproj checkpoint; remove it yourself.")
        shutil.rmtree(checkpoint)
    if (checkpoint / "state.pt").exists():
        state = _load_checkpoint(checkpoint / "state.pt")
        if state["identity"] != identity:
            raise ValueError(
                f"{checkpoint} was written by a run with other settings or data ({_identity_differences(state['identity'], identity)}); "
                "run with the same settings to resume, or pass restart=True (--restart) to start over."
            )
        with torch.no_grad():
            for name, value in state["trainable"].items():
                parameters[name].copy_(value)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, history, seconds_before = state["step"], state["history"], state["seconds"]
        torch.set_rng_state(state["torch_rng"])
        log(f"Resuming from {checkpoint} at step {step}/{settings.steps}")

    def save_checkpoint() -> None:
        _save_checkpoint(checkpoint, {
            "identity": identity, "step": step, "history": history, "torch_rng": torch.get_rng_state(),
            "seconds": seconds_before + time.perf_counter() - start,
            "trainable": {name: p.detach().clone() for name, p in parameters.items()},
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        })

    objective = OBJECTIVES[settings.objective]
    log(f"Training {settings.objective} on {len(data)} pairs ({left_out} left out), "
        f"{sum(p.numel() for p in parameters.values()) / 1e6:.1f}M trainable parameters, layers 1-{settings.layer}, {settings.steps} steps")
    start, start_step, run_steps = time.perf_counter(), step, 0
    encoder.model.train()
    bar = tqdm(total=settings.steps, initial=step, desc=f"training {settings.objective}", unit="step", disable=None if progress else True)
    # Ctrl-C and SIGTERM only raise a flag, read between steps: a checkpoint never holds half a step.
    with _StopRequests() as stop:
        while step < settings.steps:
            if stop.requested or (stop_after is not None and run_steps >= stop_after):
                save_checkpoint()
                bar.close()
                log(f"Stopped at step {step}/{settings.steps}; checkpoint in {checkpoint}. Run the same command again to resume. "
                    f"{output} was not changed.")
                raise TrainingStopped(f"stopped at step {step}/{settings.steps}")
            batch_ids = schedule[step]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=settings.precision == "bfloat16"):
                source, source_mask = encoder.encode([data[k][0] for k in batch_ids])
                target, target_mask = encoder.encode([data[k][1] for k in batch_ids])
            result = objective(PairBatch(source, source_mask, target, target_mask), settings.temperature, settings.distortion, settings.threshold)
            optimizer.zero_grad(set_to_none=True)
            result["loss"].backward()
            torch.nn.utils.clip_grad_norm_(parameters.values(), 1.0)
            optimizer.step()
            scheduler.step()
            step, run_steps = step + 1, run_steps + 1
            history.append([step, round(result["loss"].item(), 5), round(result["links"].item(), 3)])
            bar.set_postfix(loss=history[-1][1], refresh=False)
            bar.update(1)
            if step % log_every == 0 or step == settings.steps:
                recent = history[-log_every:]
                elapsed = time.perf_counter() - start
                rate = (step - start_step) / elapsed
                with tqdm.external_write_mode():
                    log(f"step {step}/{settings.steps}  loss {sum(h[1] for h in recent) / len(recent):.4f}  "
                        f"links/pair {sum(h[2] for h in recent) / len(recent):.1f}  {rate * settings.batch_size:.1f} pairs/s  "
                        f"elapsed {_format_seconds(elapsed)}  ETA {_format_seconds((settings.steps - step) / rate)}")
            if step % checkpoint_every == 0 or step == settings.steps:
                save_checkpoint()  # also after the last step: a failed save below loses no training
        bar.close()
        encoder.model.eval()
        summary = {
            **identity, "base_model": settings.model, "pairs_too_long": too_long, "pairs_without_subwords": without_subwords, "steps": step,
            "training_seconds": round(seconds_before + time.perf_counter() - start, 1), "first_loss": history[0][1] if history else None,
            "last_loss": round(sum(h[1] for h in history[-log_every:]) / max(1, len(history[-log_every:])), 5) if history else None,
        }
        staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.partial-", dir=output.parent))
        try:
            encoder.save(staging, summary)
            os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes it private; the model is for everyone who could read the old one
            _replace_directory(staging, output)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(checkpoint, ignore_errors=True)
    log(f"Saved the fine-tuned encoder to {output}")
    return summary


class _StopRequests:
    """While active, SIGINT and SIGTERM set `requested` instead of interrupting; the old handlers come back on exit."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = False
        self._previous: Dict[int, object] = {}

    def _request(self, signum, frame) -> None:
        self.requested = True

    def __enter__(self) -> "_StopRequests":
        if _in_main_thread():  # signal handlers can only be set from the main thread
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._request)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
