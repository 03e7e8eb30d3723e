from typer.testing import CliRunner

from benchmarks.cli import app

runner = CliRunner()


def test_benchmarks_name_a_missing_shared_data_folder(tmp_path):
    missing = tmp_path / "no-such-data"
    for command in ("bench-transfer", "bench-ablation", "bench-aligner-finetune"):
        result = runner.invoke(app, [command, "--shared-data", str(missing), "--output", str(tmp_path / "m.json")])
        assert result.exit_code == 1, (command, result.output)
        assert f"--shared-data {missing} is not a folder" in result.output
        assert not (tmp_path / "m.json").exists()


def test_comma_separated_numbers_fail_with_the_option_named(tmp_path):
    result = runner.invoke(app, ["bench-aligner-finetune", "--shared-data", str(tmp_path), "--in-language-pairs", "3200,lots"])
    assert result.exit_code == 2 and "--in-language-pairs" in result.output and "'lots'" in result.output
    for bad in ("0,one", "--5", "\u00b2"):  # a word, a doubled sign, a superscript digit (isdigit() says yes)
        result = runner.invoke(app, ["bench-transfer", "--shared-data", str(tmp_path), "--seeds", bad])
        assert result.exit_code == 2 and "--seed" in result.output and "expected whole numbers" in result.output


def test_list_options_repeat_and_also_take_commas():
    from spacy_xproj.cli.common import comma_ints, comma_list

    assert comma_list(["es", "de"]) == comma_list("es,de") == comma_list(["es,de"]) == ["es", "de"]
    assert comma_ints(["0", "1,2"], "--seed") == [0, 1, 2]
    assert comma_ints(["all", "3200"], "--in-language-pairs", ["all"]) == ["all", 3200]
