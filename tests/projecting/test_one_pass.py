"""One pass over the source side (issue 38): a teacher on a frozen encoder that reads as the aligner's does gives the
aligner its layer, so project-corpus reads the English side once and writes the bytes two passes write; a teacher
that would read otherwise (another precision, other weights, other windows) or no frozen encoder at all: two passes."""
from pathlib import Path

import pytest
import spacy
from thinc.api import Adam

from spacy_xproj.encoders.loading import materialize_embedded_encoder
from spacy_xproj.encoders.subword_encoder import SubwordEncoder
from spacy_xproj.projecting.run import build_training_data
from spacy_xproj.projecting.settings import CorpusSettings
from spacy_xproj.projecting.shards import ParallelInput
from spacy_xproj.projecting.worker import TWO_PASSES_ENV, shared_source_encoder

from ..ner.test_frozen_features import frozen_pipeline
from ..packed_encoder import write_packed_encoder
from ..test_project_workflow import tiny_corpus

LONG = "the cat sits on the mat and the cat sits on the mat while the cat sits on the mat , " * 3  # longer than a tiny window


def frozen_teacher(model_dir: str, folder: Path, precision: str = "float32") -> str:
    """A token_ner teacher on the tiny frozen encoder, trained until it finds entities. Two windows a batch: the aligner
    batches the source side otherwise, which would change some of its bits if a sentence's vectors depended on its batch."""
    nlp, examples = frozen_pipeline(model_dir, n=12, precision=precision, batch_size=2)
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.01)
    for _ in range(25):
        nlp.update(examples, sgd=optimizer)
    nlp.to_disk(folder)
    return str(folder)


def write_corpus(folder: Path, n: int = 14) -> ParallelInput:
    """n distinct pairs of the tiny templates and one long pair (aligned in several windows)."""
    pairs = [(" ".join(en), " ".join(de)) for (en, _), (de, _) in tiny_corpus(n)]
    pairs = list(dict.fromkeys(pairs)) + [(LONG + "Anna visited Berlin .", LONG + "Anna besuchte Berlin .")]
    (folder / "src.txt").write_text("".join(s + "\n" for s, _ in pairs), encoding="utf-8")
    (folder / "tgt.txt").write_text("".join(t + "\n" for _, t in pairs), encoding="utf-8")
    return ParallelInput(folder / "src.txt", "lines", folder / "tgt.txt")


def written(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for split in ("train", "dev") for p in sorted((folder / split).glob("*.spacy"))}


def test_one_pass_writes_the_bytes_two_passes_write_and_reads_the_source_side_once(tiny_model_dir, tmp_path, monkeypatch):
    teacher = frozen_teacher(tiny_model_dir, tmp_path / "teacher")
    corpus = write_corpus(tmp_path)
    pairs = len(corpus.path.read_text(encoding="utf-8").splitlines())
    settings = CorpusSettings(target_lang="de", teacher=teacher, label_map={}, model=tiny_model_dir, layer=1, precision="float32",
                              shard_size=6, dev_fraction=0.3)
    read = []
    original = SubwordEncoder._read
    monkeypatch.setattr(SubwordEncoder, "_read", lambda self, sentences, progress: read.extend(sentences) or original(self, sentences, progress))
    one = build_training_data(corpus, tmp_path / "one", settings, log=lambda m: None, progress=False)
    read_once, read[:] = len(read), []
    monkeypatch.setenv(TWO_PASSES_ENV, "1")
    two = build_training_data(corpus, tmp_path / "two", settings, log=lambda m: None, progress=False)
    assert (one["source_passes"], two["source_passes"]) == ({"1": 3}, {"2": 3})
    assert (read_once, len(read)) == (2 * pairs, 3 * pairs)  # source and target sides; the source side twice
    assert written(tmp_path / "one") == written(tmp_path / "two") and len(written(tmp_path / "one")) == 6
    assert one["counts"] == two["counts"] and one["entities"] == two["entities"] and sum(one["entities"].values()) >= 10
    assert one["long_pairs"]["count"] == 1


@pytest.mark.parametrize("teacher_precision, aligner, shared", [
    ("float32", {}, True),
    ("bfloat16", {}, False),  # the teacher reads in bfloat16, the aligner in float32
    ("float32", {"precision": "bfloat16"}, False),
    ("float32", {"max_window": 1000}, True),  # cut to the model's limit: the same windows
    ("float32", {"max_window": 40, "window_overlap": 20}, False),  # another window plan
    ("float32", {"window_overlap": 8}, False),
    ("float32", {"model": "other"}, False),  # other weights
])
def test_the_source_side_is_read_once_only_when_both_read_alike(tiny_model_dir, tiny_packed_file, tmp_path, teacher_precision, aligner, shared):
    teacher = spacy.load(frozen_teacher(tiny_model_dir, tmp_path / "teacher", precision=teacher_precision))
    if aligner.get("model") == "other":
        aligner = {"model": str(materialize_embedded_encoder(tmp_path / "other", packed_file=write_packed_encoder(tmp_path / "other.bin", seed=1)))}
    target = spacy.blank("de")
    pipe = target.add_pipe("xlmr_aligner", config={"model": tiny_model_dir, "layer": 2, **aligner})
    assert (shared_source_encoder(teacher, pipe) is not None) == shared


def test_two_passes_without_a_frozen_encoder_or_when_asked(tiny_model_dir, tmp_path, monkeypatch):
    target = spacy.blank("de")
    pipe = target.add_pipe("xlmr_aligner", config={"model": tiny_model_dir, "layer": 2})
    ruler = spacy.blank("en")
    ruler.add_pipe("entity_ruler").add_patterns([{"label": "PER", "pattern": "Anna"}])
    assert shared_source_encoder(ruler, pipe) is None
    teacher = spacy.load(frozen_teacher(tiny_model_dir, tmp_path / "teacher"))
    assert shared_source_encoder(teacher, pipe) is not None
    monkeypatch.setenv(TWO_PASSES_ENV, "1")
    assert shared_source_encoder(teacher, pipe) is None
    monkeypatch.setenv(TWO_PASSES_ENV, "0")
    assert shared_source_encoder(teacher, pipe) is not None


def test_a_teacher_trained_on_other_weights_is_still_refused_before_its_first_sentence(tiny_model_dir, tiny_packed_file, tmp_path):
    teacher_dir = frozen_teacher(tiny_model_dir, tmp_path / "teacher")
    other = str(materialize_embedded_encoder(tmp_path / "other", packed_file=write_packed_encoder(tmp_path / "other.bin", seed=1)))
    teacher = spacy.load(teacher_dir, config={"components": {"token_ner": {"model": {"tok2vec": {"encoder": other}}}}})
    pipe = spacy.blank("de").add_pipe("xlmr_aligner", config={"model": other, "layer": 2})
    with pytest.raises(ValueError, match="was trained on the features of"):
        shared_source_encoder(teacher, pipe)
