from benchmarks.align import METHODS, aligner_pipeline, quantize_aligner, run_xlmr_aligner

PAIRS = [(["Angela", "Merkel", "visited", "Paris", "."], ["Angela", "Merkel", "besuchte", "Paris", "."]),
         (["The", "cat", "sleeps", "."], ["Die", "Katze", "schläft", "."])]


def test_int8_rows_align_with_dynamically_quantized_linear_layers(tiny_model_dir):
    nlp = aligner_pipeline("xx", tiny_model_dir, METHODS["argmax"], 2)
    # the tiny encoder: 2 layers of 6 (query, key, value, attention output, intermediate, output), and the pooler
    assert quantize_aligner(nlp) == 2 * 6 + 1
    quantized, seconds = run_xlmr_aligner(tiny_model_dir, PAIRS, METHODS["argmax"], 2, "subwords", 8, repeats=1, precision="int8")
    assert len(quantized) == 2 and seconds > 0
    assert all(links and max(i for i, _ in links) < len(pair[0]) and max(j for _, j in links) < len(pair[1]) for links, pair in zip(quantized, PAIRS))
