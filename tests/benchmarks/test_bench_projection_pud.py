"""bench-projection's PUD rows on a 10-sentence sample in Universal NER's PUD layout, with the tiny encoder.

The target side repeats the English words (a translation by identity), so every aligner links each word to itself
and the scores show what the benchmark adds: the target's own gold (a label the languages annotate differently, an
entity only English tags), PUD's scheme (no MISC: a teacher's MISC and a projection onto one lowercase word are
not projected) and the rows' keys, resumption and tables.
"""
import json

import pytest
import spacy
from typer.testing import CliRunner

from benchmarks.cli import app
from benchmarks.projection import (
    PUD_TREEBANKS, europarl_gold_sets, pud_gold_sets, render_projection_tables, run_projection_benchmark,
)

from ..test_project_workflow import tiny_corpus, write_conll

# 8 template sentences (18 entities) and two that PUD's own annotations differ on: English tags "moon" LOC, and
# "Obama" ORG where it means his office ("Obama aide"), as English PUD does
ENGLISH = [english for english, _ in tiny_corpus(8)] + [
    ("The moon rose over Berlin .".split(), [(1, 2, "LOC"), (4, 5, "LOC")]),
    ("Obama aide Kori Schulman wrote .".split(), [(0, 1, "ORG"), (2, 4, "PER")]),
]
# German gold: no entity on "moon", and "Obama" PER; Swedish gold: the English gold
GERMAN = ENGLISH[:8] + [(ENGLISH[8][0], [(4, 5, "LOC")]), (ENGLISH[9][0], [(0, 1, "PER"), (2, 4, "PER")])]
SWEDISH = list(ENGLISH)
# an OntoNotes teacher: PERSON -> PER, GPE -> LOC, ORG; NORP would be MISC and DATE nothing, neither is projected
TEACHER_PATTERNS = [("PERSON", "Anna Schmidt"), ("GPE", "London"), ("ORG", "Google"), ("NORP", "Obama"), ("DATE", "Yesterday")]


def write_iob2(path, sentences, ids) -> None:
    """Universal NER's layout: `# sent_id` and `# text` comments, then ID TAB FORM TAB TAG TAB - TAB -."""
    lines = []
    for sent_id, (words, spans) in zip(ids, sentences):
        tags = ["O"] * len(words)
        for start, end, label in spans:
            tags[start:end] = [f"B-{label}"] + [f"I-{label}"] * (end - start - 1)
        lines += [f"# sent_id = {sent_id}", f"# text = {' '.join(words)}"]
        lines += [f"{k}\t{word}\t{tag}\t-\t-" for k, (word, tag) in enumerate(zip(words, tags), start=1)] + [""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_pud(uner, target_ids=None) -> None:
    ids = [f"n0100{k}-0001" for k in range(len(ENGLISH))]
    for lang, sentences in (("en", ENGLISH), ("de", GERMAN), ("sv", SWEDISH)):
        write_iob2(uner / f"{PUD_TREEBANKS[lang]}-PUD" / f"{lang}_pud-ud-test.iob2", sentences, target_ids if target_ids and lang == "sv" else ids)


@pytest.fixture
def teacher_dir(tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": label, "pattern": pattern} for label, pattern in TEACHER_PATTERNS])
    nlp.to_disk(tmp_path / "teacher")
    return str(tmp_path / "teacher")


def test_pud_rows_on_a_ten_sentence_sample(tmp_path, tiny_model_dir, teacher_dir):
    write_pud(tmp_path / "uner")
    gold_sets = pud_gold_sets(tmp_path / "uner", ["de", "sv"])
    assert [(g.pair, g.english_name, g.labels, len(g.target)) for g in gold_sets] == [
        ("pud-de", "pud-en", ("PER", "ORG", "LOC"), 10), ("pud-sv", "pud-en", ("PER", "ORG", "LOC"), 10)]
    output = tmp_path / "projection.json"
    europarl_row = {"f": 94.42, "p": 94.9, "r": 93.94, "support": 693, "per_type": {}}
    output.write_text(json.dumps({"rows": {"en-de/gold/xlmr_aligner-itermax": europarl_row}}))

    data = run_projection_benchmark(gold_sets, None, output, tiny_model_dir, layer=2, teachers={"teacher": teacher_dir},
                                    naive_layer=1, log=lambda message: None)
    rows = data["rows"]
    assert rows["en-de/gold/xlmr_aligner-itermax"] == europarl_row  # another gold set's row is left as it was
    # (SoftmaxThreshold's threshold is set for the real encoder: on the random one it links too much to say)
    assert rows["pud-de/gold/xlmr_aligner-softmax"]["support"] == 21 and rows["pud-de/gold/xlmr_aligner-softmax"]["align_seconds"] > 0
    systems = ["xlmr_aligner-bisoftmax", "xlmr_aligner-argmax", "xlmr_aligner-itermax", "xlmr_aligner-match", "xlmr_aligner-bisoftmax-bfloat16",
               "simalign-argmax-layer2+policy"]
    # German: 22 English entities, 21 gold ones. "moon" lands on one lowercase word and is not projected; "Obama"
    # is projected as ORG against a gold PER: 20 of 21 projected entities are right, 20 of 21 gold ones found
    for system in systems:
        assert (rows[f"pud-de/gold/{system}"]["p"], rows[f"pud-de/gold/{system}"]["r"], rows[f"pud-de/gold/{system}"]["f"]) == (95.24, 95.24, 95.24), system
        # Swedish tags "moon" as English does: everything projected is right, "moon" is missed
        assert (rows[f"pud-sv/gold/{system}"]["p"], rows[f"pud-sv/gold/{system}"]["r"], rows[f"pud-sv/gold/{system}"]["f"]) == (100.0, 95.45, 97.67), system
    assert rows["pud-de/gold/xlmr_aligner-itermax"]["per_type"]["ORG"] == {"p": 80.0, "r": 100.0, "f": 88.89, "support": 4}
    # without the refinements "moon" is projected: a wrong entity in German, a right one in Swedish
    for system in ("xlmr_aligner-bisoftmax-unrefined", "naive-simalign-argmax-layer1"):
        assert (rows[f"pud-de/gold/{system}"]["p"], rows[f"pud-de/gold/{system}"]["f"]) == (90.91, 93.02), system
        assert rows[f"pud-sv/gold/{system}"]["f"] == 100.0, system
    for lang in ("de", "sv"):
        for symmetrization in ("grow-diag-final-and", "intersection"):
            row = rows[f"pud-{lang}/gold/eflomal-{symmetrization}+policy"]
            assert row["eflomal_training_pairs"] == 10 and row["support"] == (21 if lang == "de" else 22) and 0 <= row["f"] <= 100

    # the teacher finds 6 of the 22 English entities (Anna Schmidt twice, London twice, Google twice): its NORP
    # ("Obama", MISC) and DATE entities have no PUD label
    assert {k: rows["pud-en/teacher-vs-english-gold"][k] for k in ("p", "r", "f", "support")} == {"p": 100.0, "r": 27.27, "f": 42.86, "support": 22}
    assert rows["pud-en/teacher-vs-english-gold"]["teacher"] == teacher_dir
    assert {k: rows["pud-de/teacher/xlmr_aligner-bisoftmax"][k] for k in ("p", "r", "f")} == {"p": 100.0, "r": 28.57, "f": 44.44}
    assert rows["pud-sv/teacher/xlmr_aligner-bisoftmax"]["f"] == 42.86
    # the annotations' ceiling: German has one LOC fewer in sentence 8 and no ORG in sentence 9, Swedish none less
    assert {k: rows["pud-de/label-ceiling"][k] for k in ("r", "f", "matchable", "support", "english", "f_all_projected")} == {
        "r": 95.24, "f": 97.56, "matchable": 20, "support": 21, "english": 22, "f_all_projected": 93.02}
    assert rows["pud-de/label-ceiling"]["per_type"]["ORG"] == {"p": 100.0, "r": 100.0, "f": 100.0, "support": 4}
    assert (rows["pud-sv/label-ceiling"]["f"], rows["pud-sv/label-ceiling"]["f_all_projected"]) == (100.0, 100.0)
    assert {key.split("/")[0] for key in rows} == {"en-de", "pud-en", "pud-de", "pud-sv"}
    assert json.loads(output.read_text())["rows"] == rows

    # rows resume: nothing is measured again (neither this encoder nor this teacher could load)
    again = run_projection_benchmark(gold_sets, None, output, "no-such-encoder", layer=2, teachers={"teacher": "no-such-teacher"},
                                     naive_layer=1, log=lambda message: None)
    assert again["rows"] == rows

    tables = render_projection_tables(data)
    pud = tables["bench-projection-pud"]
    assert "| pair | English entities | system | P | R | F1 | F1 PER | F1 ORG | F1 LOC |\n" in pud and "MISC" not in pud
    assert "| pud-de | gold | xlmr_aligner-itermax | 95.2 | 95.2 | 95.2 | 94.7 | 88.9 | 100.0 |" in pud
    assert "pud-de, default configuration (bisoftmax): gold English entities reach 95.2; teacher entities reach 44.4, 50.8 lower." in pud
    assert "The teacher's own English F1 against the English gold (labels mapped to PER/ORG/LOC): 42.9 (P 100.0, R 27.3)." in pud
    assert ("pud-de: the two sides' annotations cap any projection of the English gold entities at F1 97.6: at most 20 of the 21 target entities "
            "have an English entity of their label in their sentence (projecting all 22 English entities: at most 93.0).") in pud
    assert "pud-sv: the default configuration (97.7) is not ahead of the best peer, naive-simalign-argmax-layer1 (100.0)." in pud
    assert "pud-" not in tables["bench-projection"] and "| en-de | gold | xlmr_aligner-itermax | 94.9 | 93.9 | 94.4 |" in tables["bench-projection"]


def test_pud_files_must_hold_the_same_sentences_in_the_same_order(tmp_path):
    ids = [f"n0100{k}-0001" for k in range(len(ENGLISH))]
    write_pud(tmp_path, target_ids=ids[:3] + [ids[4], ids[3]] + ids[5:])
    assert len(pud_gold_sets(tmp_path, ["de"])[0].target) == 10
    with pytest.raises(ValueError, match=r"sv_pud-ud-test.iob2: sentence 4 is n01004-0001, English PUD's is n01003-0001"):
        pud_gold_sets(tmp_path, ["sv"])
    with pytest.raises(ValueError, match="no PUD treebank for 'es'"):
        pud_gold_sets(tmp_path, ["es"])


def test_bench_projection_names_a_missing_pud_folder(tmp_path):
    (tmp_path / "europarl").mkdir()
    for lang in ("en", "de"):
        write_conll(tmp_path / "europarl" / f"{lang}-europarl.test.conll02", ENGLISH)
    assert len(europarl_gold_sets(tmp_path / "europarl", ["de"])[0].english) == 10
    result = CliRunner().invoke(app, ["bench-projection", "--europarl-dir", str(tmp_path / "europarl"), "--lang", "de", "--pud-dir", str(tmp_path / "uner"),
                                      "--output", str(tmp_path / "m.json")])
    assert result.exit_code == 1 and "English-PUD/en_pud-ud-test.iob2" in result.output
    assert not (tmp_path / "m.json").exists()
