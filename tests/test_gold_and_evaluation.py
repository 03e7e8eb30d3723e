import json

import pytest
import spacy
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_xproj.cli import app
from spacy_xproj.conll import read_gold_file
from spacy_xproj.docbins import convert_gold_file, merge_docbins
from spacy_xproj.evaluation import evaluate_ner

runner = CliRunner()
CONLL_IOB1 = "-DOCSTART- -X- O O\n\nEU NNP I-NP I-ORG\nrejects VBZ I-VP O\nGerman JJ I-NP I-MISC\ncall NN I-NP O\n\nPeter NNP I-NP I-PER\nBlackburn NNP I-NP I-PER\n"
WIKIANN = "0\tAnton\tB-PER\n1\tin\tO\n2\tKöln\tB-LOC\n\n0\tDie\tO\n1\tEU\tB-ORG\n"


def test_gold_files_in_every_shared_layout(tmp_path):
    (tmp_path / "eng.train").write_text(CONLL_IOB1, encoding="utf-8")
    assert read_gold_file(tmp_path / "eng.train") == [
        (["EU", "rejects", "German", "call"], [(0, 1, "ORG"), (2, 3, "MISC")]),
        (["Peter", "Blackburn"], [(0, 2, "PER")]),
    ]
    (tmp_path / "val.conllu").write_text(WIKIANN, encoding="utf-8")
    assert read_gold_file(tmp_path / "val.conllu") == [(["Anton", "in", "Köln"], [(0, 1, "PER"), (2, 3, "LOC")]), (["Die", "EU"], [(1, 2, "ORG")])]
    # CoNLL-2002 Dutch is Latin-1
    (tmp_path / "ned.testa").write_bytes("Dat Pron O\nis V O\nCuraçao N B-LOC\n".encode("latin-1"))
    assert read_gold_file(tmp_path / "ned.testa") == [(["Dat", "is", "Curaçao"], [(2, 3, "LOC")])]
    (tmp_path / "bad.conllu").write_text("0\tAnton\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.conllu:1: expected index 'token ... TAG'"):
        read_gold_file(tmp_path / "bad.conllu")
    with pytest.raises(FileNotFoundError, match="missing.conll"):
        read_gold_file(tmp_path / "missing.conll")


def test_convert_and_merge_docbins(tmp_path):
    (tmp_path / "eng.train").write_text(CONLL_IOB1, encoding="utf-8")
    assert convert_gold_file(tmp_path / "eng.train", tmp_path / "en.spacy", "en") == (2, 3)
    docs = list(DocBin().from_disk(tmp_path / "en.spacy").get_docs(spacy.blank("en").vocab))
    assert [(e.text, e.label_) for e in docs[0].ents] == [("EU", "ORG"), ("German", "MISC")]
    # gold files are complete: every token is annotated (O or inside an entity), none missing
    assert all(t.ent_iob_ in ("B", "I", "O") for d in docs for t in d)

    (tmp_path / "val.conllu").write_text(WIKIANN, encoding="utf-8")
    convert_gold_file(tmp_path / "val.conllu", tmp_path / "de.spacy", "de", limit=1)
    assert merge_docbins([tmp_path / "en.spacy", tmp_path / "de.spacy"], tmp_path / "both.spacy") == [2, 1]
    merged = list(DocBin().from_disk(tmp_path / "both.spacy").get_docs(spacy.blank("xx").vocab))
    assert [d.text for d in merged] == ["EU rejects German call ", "Peter Blackburn ", "Anton in Köln "]
    with pytest.raises(FileNotFoundError, match="nope.spacy"):
        merge_docbins([tmp_path / "nope.spacy"], tmp_path / "x.spacy")


def city_ruler():
    nlp = spacy.blank("de")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "LOC", "pattern": "Köln"}, {"label": "PER", "pattern": "Anton"}])
    return nlp


def test_evaluate_ner_scores_on_the_gold_tokens():
    sentences = [(["Anton", "in", "Köln"], [(0, 1, "PER"), (2, 3, "LOC")]), (["Die", "EU", "in", "Köln"], [(1, 2, "ORG"), (3, 4, "LOC")])]
    scores = evaluate_ner(city_ruler(), sentences)
    # 3 predicted, all correct; 4 gold (the ORG is missed)
    assert (scores["p"], scores["r"], scores["f"]) == (100.0, 75.0, 85.71)
    assert scores["per_type"]["ORG"]["r"] == 0.0 and scores["per_type"]["LOC"]["f"] == 100.0
    assert scores["sentences"] == 2 and scores["words"] == 7 and scores["words_per_second"] > 0


def test_evaluate_and_convert_commands(tmp_path):
    (tmp_path / "val.conllu").write_text(WIKIANN, encoding="utf-8")
    city_ruler().to_disk(tmp_path / "ruler")
    result = runner.invoke(app, ["evaluate", str(tmp_path / "ruler"), "--gold", f"wikiann={tmp_path / 'val.conllu'}", "--output", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "m.json").read_text())["gold"]["wikiann"]
    assert (scores["p"], scores["r"]) == (100.0, 66.67)
    assert "wikiann: F1 80.0" in result.output

    bad = runner.invoke(app, ["evaluate", str(tmp_path / "ruler"), "--gold", str(tmp_path / "val.conllu")])
    assert bad.exit_code == 1 and "--gold expects NAME=PATH" in bad.output
    missing = runner.invoke(app, ["evaluate", str(tmp_path / "ruler"), "--gold", "x=nowhere.conll"])
    assert missing.exit_code == 1 and "gold file nowhere.conll" in missing.output
    converted = runner.invoke(app, ["convert-conll", str(tmp_path / "val.conllu"), str(tmp_path / "v.spacy"), "--lang", "de"])
    assert converted.exit_code == 0 and "2 sentences, 3 entities" in converted.output
    (tmp_path / "empty.conll").write_text("\n", encoding="utf-8")
    empty = runner.invoke(app, ["convert-conll", str(tmp_path / "empty.conll"), str(tmp_path / "e.spacy")])
    assert empty.exit_code == 1 and "holds no sentences" in empty.output and not (tmp_path / "e.spacy").exists()


def test_transfer_error_counts_sort_each_wrong_prediction():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent.parent / "scripts" / "transfer_errors.py"
    spec = importlib.util.spec_from_file_location("transfer_errors", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    words = [["(", "EFE", ")", "el", "Mérida", "ganó", "en", "Madrid", "español"]]
    gold = [{(1, 2, "ORG"), (4, 5, "ORG"), (7, 8, "LOC")}]
    predicted = [{(4, 5, "LOC"), (6, 8, "LOC"), (8, 9, "MISC")}]  # EFE missed, club as LOC, a boundary error, a spurious adjective
    counts = module.error_counts(words, gold, predicted, {"EFE"})
    assert (counts["watch_missed"], counts["org_as_loc"], counts["spurious_misc"], counts["boundary"]) == (1, 1, 1, 1)
    assert counts["f"] == 0.0 and counts["f_without_lowercase_words"] == 0.0
    right = [{(1, 2, "ORG"), (4, 5, "ORG"), (7, 8, "LOC"), (8, 9, "MISC")}]
    counts = module.error_counts(words, gold, right, {"EFE"})
    assert counts["spurious_misc"] == 1 and counts["f_without_lowercase_words"] == 100.0 > counts["f"]


# The entity counts published with CoNLL-2002/2003 (Tjong Kim Sang and De Meulder 2003, table 2; Tjong
# Kim Sang 2002) and the Europarl-NER / WikiANN counts of the hand-written decoder spaCy's replaced:
# any difference in IOB1/IOB2 decoding moves them.
GOLD_COUNTS = {
    "conll/eng.testa": (3250, {"LOC": 1837, "MISC": 922, "ORG": 1341, "PER": 1842}),  # IOB1
    "conll/esp.testa": (1915, {"LOC": 985, "MISC": 445, "ORG": 1700, "PER": 1222}),
    "conll/ned.testa": (2895, {"LOC": 479, "MISC": 748, "ORG": 686, "PER": 703}),  # Latin-1
    "europarl-ner/de-europarl.test.conll02": (799, {"LOC": 91, "MISC": 191, "ORG": 325, "PER": 86}),
    "wikiann/nl/val.conllu": (10000, {"LOC": 4835, "ORG": 3943, "PER": 4754}),
}


@pytest.mark.parametrize("name", sorted(GOLD_COUNTS))
def test_gold_readers_decode_the_shared_data_as_published(shared_data, name):
    from collections import Counter

    sentences = read_gold_file(shared_data / name)
    n_sentences, counts = GOLD_COUNTS[name]
    assert len(sentences) == n_sentences
    assert Counter(label for _, spans in sentences for _, _, label in spans) == counts
