"""`spacy train` for the project's NER configs, run in this process: the encoder's shape filled into the
frozen-encoder architecture, evaluation once an epoch, and the training's wall-clock time recorded."""
import json
import time
from pathlib import Path
from typing import Dict, Optional, Tuple

from ..files import atomic_write_bytes

FROZEN_TOK2VEC = "components.token_ner.model.tok2vec"


def encoder_shape(encoder: str) -> Tuple[int, int]:
    """(hidden states, hidden size) of an encoder, read from its config: what FrozenEncoderBiLSTM.v1's
    `layers` and `width` must be."""
    from transformers import AutoConfig

    from ..encoders.loading import resolve_encoder

    config = AutoConfig.from_pretrained(resolve_encoder(encoder))
    return config.num_hidden_layers + 1, config.hidden_size


def epoch_schedule(config: Path, n_train: int, patience_epochs: int = 2, min_patience_steps: int = 100) -> Dict[str, int]:
    """Evaluate once an epoch and stop after `patience_epochs` without gain (never before
    `min_patience_steps`: on a small corpus the first epochs may find no entity at all), in steps of the
    config's sequence batcher (spaCy counts both in steps, not epochs)."""
    from spacy.util import load_config

    batcher = load_config(config)["training"]["batcher"]
    if batcher.get("@batchers") != "spacy.batch_by_sequence.v1":
        return {}
    steps = max(1, -(-n_train // int(batcher["size"])))
    return {"training.eval_frequency": steps, "training.patience": max(patience_epochs * steps, min_patience_steps)}


def train_pipeline(config: Path, output: Path, overrides: Dict[str, object], gpu_id: int = -1) -> float:
    """`spacy train` in this process (on CUDA GPU `gpu_id`, -1: CPU); returns its wall-clock seconds,
    also written to output/training.json."""
    from spacy.cli.train import train

    start = time.perf_counter()
    train(config, output, use_gpu=gpu_id, overrides=overrides)
    seconds = time.perf_counter() - start
    record = {"config": str(config), "overrides": {k: str(v) for k, v in overrides.items()}, "seconds": round(seconds, 1)}
    atomic_write_bytes(Path(output) / "training.json", (json.dumps(record, indent=2) + "\n").encode("utf-8"))
    return seconds


def is_frozen_config(config: Path) -> bool:
    """Whether the config trains NER on the frozen encoder (spacy-xproj.FrozenEncoderBiLSTM.v1)."""
    from spacy.util import load_config

    raw = load_config(config)
    return raw["components"].get("token_ner", {}).get("model", {}).get("tok2vec", {}).get("@architectures") == "spacy-xproj.FrozenEncoderBiLSTM.v1"


def train_ner(
    config: Path, output: Path, train: Path, dev: Path, lang: str, encoder: str,
    initial_weights: Optional[Path] = None, overrides: Optional[Dict[str, object]] = None, gpu_id: int = -1,
) -> float:
    """Train `config` on the DocBins `train` / `dev` into `output`; returns the seconds it took.

    For a frozen-encoder config (spacy-xproj.FrozenEncoderBiLSTM.v1) the encoder's layers and width are
    read from the encoder, and `initial_weights` (a trained pipeline with the same labels, e.g. the
    English teacher) starts the head from its weights; other configs get the encoder as
    `components.transformer.model.name`."""
    from ..corpus.docbins import read_docbin

    frozen = is_frozen_config(config)
    n_train = len(read_docbin(train))
    if not n_train:
        raise ValueError(f"{train} holds no training sentences")
    settings: Dict[str, object] = {"paths.train": str(train), "paths.dev": str(dev), "nlp.lang": lang}
    if frozen:
        layers, width = encoder_shape(encoder)
        # a local folder is saved as an absolute path: the pipeline may be loaded from elsewhere
        settings.update({"paths.encoder": str(Path(encoder).resolve()) if Path(encoder).is_dir() else encoder, f"{FROZEN_TOK2VEC}.layers": layers, f"{FROZEN_TOK2VEC}.width": width,
                         "paths.initial_weights": str(initial_weights) if initial_weights else None, **epoch_schedule(config, n_train)})
    else:
        from ..encoders.loading import resolve_encoder

        # spacy-transformers loads by name: the embedded encoder must be materialized first
        settings["components.transformer.model.name"] = resolve_encoder(encoder)
        if initial_weights:
            settings["initialize.after_init.initial_weights"] = str(initial_weights)
    settings.update(overrides or {})
    return train_pipeline(config, output, settings, gpu_id)
