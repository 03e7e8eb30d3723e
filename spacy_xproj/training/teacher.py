"""The English teacher whose entities every projection carries: trained on English gold when there is
some, the shipped en_core_web_sm copy otherwise; the label map a teacher's labels call for; and the
teacher as a target-language pipeline."""
import json
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Tuple

from spacy.language import Language

from ..components.label_maps import ner_labels
from ..files import atomic_write_bytes
from .ner_runs import FROZEN_TOK2VEC, is_frozen_config, train_ner



def teacher_precision_override(config: Path, precision: Optional[str], log: Callable[[str], None] = print) -> Dict[str, str]:
    """The config override that gives the frozen encoder `precision` ("auto" resolved on this machine);
    none for None. Only frozen-encoder configs have that precision: "auto" leaves another config as it
    is, an explicit precision is a ValueError naming the config."""
    if precision is None:
        return {}
    if not is_frozen_config(config):
        if precision == "auto":
            return {}
        raise ValueError(f"precision {precision!r}: {config} does not train on the frozen encoder (spacy-xproj.FrozenEncoderBiLSTM.v1), "
                         "so it has no encoder precision to set; use 'auto' or leave it out")
    from ..encoders.subword_encoder import resolve_precision

    resolved = resolve_precision(precision)
    if precision == "auto":
        log(f"teacher encoder in {resolved} (auto: {'this CPU has' if resolved == 'bfloat16' else 'this CPU lacks'} bfloat16 units)")
    return {f"{FROZEN_TOK2VEC}.precision": resolved}


def prepare_teacher(
    train_file: Path, dev_file: Path, output: Path, config: Path, encoder: str, fallback: str,
    overrides: Optional[Dict[str, object]] = None, log: Callable[[str], None] = print, train_limit: int = 0,
    shipped_gold: Optional[Tuple[Path, Path]] = None,
    precision: Optional[str] = None, also_train: Sequence[Path] = (), absent_labels: str = "capitalized-unknown",
    shipped_gold_fill: Optional[Tuple[str, Sequence[str]]] = None,
) -> Dict:
    """Train the English teacher on gold (CoNLL-2003 layout, WikiANN .conllu or Universal NER .iob2; its first
    `train_limit` sentences when given) into `output/model-best` and score it on the dev file. Without both gold
    files it says so and trains on `shipped_gold` (train, dev: the project's UNER English-EWT) instead, or, when
    a `fallback` pipeline is named, copies that one there. Returns the record written to `output/teacher.json`.

    `also_train` gold files join the training set (CoNLL-2003 news with Universal NER web text, say);
    `absent_labels` says what their O words teach about a label they lack (`convert_gold_files`).

    `precision` (None: the config's) sets the frozen encoder's: "auto" resolves on this machine, bfloat16
    where the CPU has bfloat16 units (92.2 F1 against 92.0 in float32, in 26% less training time:
    docs/results/teacher.md). The teacher keeps that precision wherever it runs.

    `shipped_gold_fill` (PIPELINE, LABELS), for a teacher trained on the shipped gold only: an `entity_filler` after
    it adds PIPELINE's entities of LABELS where it found none (the shipped gold has no MISC, and web text's ORG)."""
    import spacy

    from ..corpus.docbins import convert_gold_file, convert_gold_files
    from ..corpus.evaluation import evaluate_on_gold_files

    output = Path(output)
    missing = [str(path) for path in (train_file, dev_file) if not Path(path).is_file()]
    if missing and not fallback and shipped_gold and all(Path(path).is_file() for path in shipped_gold):
        log(f"English gold not found ({', '.join(missing)}): training the teacher on the shipped English gold {shipped_gold[0]} "
            "(Universal NER English-EWT: web text, PER/ORG/LOC)")
        train_file, dev_file = shipped_gold
        also_train = [path for path in also_train if Path(path).resolve() != Path(train_file).resolve()]
        missing = []
    else:
        shipped_gold_fill = None
    if missing:
        if not fallback:
            raise ValueError(f"English gold not found ({', '.join(missing)}) and no shipped gold or --fallback pipeline to use instead")
        log(f"English gold not found ({', '.join(missing)}): the teacher is the shipped {fallback!r} (OntoNotes labels mapped to "
            "PER/ORG/LOC/MISC), much weaker than one trained on gold (docs/results/teacher.md). Set vars.english_dir to a CoNLL-2003 folder to train one.")
        nlp = spacy.load(fallback)
        ner_labels(nlp, fallback)
        (output / "model-best").mkdir(parents=True, exist_ok=True)
        nlp.to_disk(output / "model-best")
        record: Dict = {"teacher": fallback, "trained": False, "reason": f"not found: {', '.join(missing)}"}
    else:
        overrides = {**(overrides or {}), **teacher_precision_override(Path(config), precision, log)}
        corpus = output / "corpus"
        train_files = [Path(train_file), *map(Path, also_train)]
        for path in train_files[1:]:
            if not path.is_file():
                raise ValueError(f"English gold {path} (also trained on) not found")
        train_sizes = convert_gold_files(train_files, corpus / "train.spacy", "en", limit=train_limit, absent_labels=absent_labels)
        for index, (path, (n_docs, n_ents)) in enumerate(zip(train_files, train_sizes)):
            log(f"{path}: {n_docs} sentences{' (the first ones)' if train_limit and index == 0 else ''}, {n_ents} entities")
        dev_size, n_ents = convert_gold_file(Path(dev_file), corpus / "dev.spacy", "en")
        log(f"{dev_file}: {dev_size} sentences, {n_ents} entities")
        sizes = {"train": sum(n for n, _ in train_sizes), "dev": dev_size}
        seconds = train_ner(Path(config), output, corpus / "train.spacy", corpus / "dev.spacy", "en", encoder, overrides=overrides)
        trained = spacy.load(output / "model-best")
        scores = evaluate_on_gold_files(trained, [("dev", Path(dev_file))])["dev"]
        log(f"teacher: F1 {scores['f']:.1f} on {dev_file} after {seconds / 60:.1f} min of training")
        fill: Dict = {}
        if shipped_gold_fill:
            pipeline, labels = shipped_gold_fill
            trained.add_pipe("entity_filler", config={"pipeline": pipeline, "labels": list(labels)}).initialize()
            trained.to_disk(output / "model-best")
            fill = {"filled_from": pipeline, "filled_labels": list(labels), "unfilled_scores": scores}
            # on the labels the dev gold has: the shipped one has no MISC, which the filler adds
            scores = evaluate_on_gold_files(trained, [("dev", Path(dev_file))], pipeline_labels=ner_labels(trained, "teacher"))["dev"]
            log(f"teacher with {pipeline}'s {', '.join(labels)} where it found none (entity_filler): F1 {scores['f']:.1f} on {dev_file} "
                f"({'/'.join(scores['labels'])}); on news and parliament text it gains (docs/results/teacher.md)")
        record = {"teacher": str(output / "model-best"), "trained": True, "train_seconds": round(seconds, 1), "train": str(train_file),
                  **({"also_train": [str(path) for path in also_train], "absent_labels": absent_labels} if also_train else {}),
                  "train_sentences": sizes["train"], "dev": str(dev_file), "config": str(config), "encoder": encoder,
                  # the precision the saved pipeline runs its encoder in (None without a frozen encoder)
                  "precision": trained.config["components"].get("token_ner", {}).get("model", {}).get("tok2vec", {}).get("precision"), **{k: scores[k] for k in ("p", "r", "f")}, "scores": scores,
                  **fill}
    atomic_write_bytes(output / "teacher.json", (json.dumps(record, indent=2) + "\n").encode("utf-8"))
    return record


def in_language(nlp: Language, lang: str) -> Language:
    """`nlp`'s enabled components, trained weights and all, in a blank pipeline of `lang` (its tokenizer, stop words
    and lexical attributes): the English teacher as a target-language pipeline, for targets where the
    teacher zero-shot beats the students (a teacher trained on English WikiANN for WikiANN: docs/results/teacher.md)."""

    from ..corpus.languages import blank_pipeline

    target = blank_pipeline(lang)
    for name in nlp.pipe_names:
        target.add_pipe(name, source=nlp)
    target.meta["description"] = f"{nlp.meta.get('name', 'pipeline')} ({nlp.lang}) with the tokenizer of {lang!r}"
    return target
