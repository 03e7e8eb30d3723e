"""`nlp.pipe(texts, n_process=2)` after the parent has run torch (issue 36): spaCy forks its children on Linux, and a
child's first multi-threaded torch operation used to wait forever; the package sets one torch thread in such a child.
Run in a subprocess with a timeout, so that a hang fails the test instead of stopping the suite."""
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
import spacy
from spacy_xproj import get_alignment, make_parallel_doc
from tests.ner.test_frozen_features import frozen_pipeline

model_dir = sys.argv[1]
nlp, examples = frozen_pipeline(model_dir)
nlp.initialize(lambda: examples)
texts = ["Angela Merkel visited Paris on Monday ."] * 12 + ["Microsoft hired John Smith in London ."] * 12
entities = lambda docs: [[(e.start, e.end, e.label_) for e in doc.ents] for doc in docs]
alone = entities(nlp.pipe(texts))  # the parent runs torch first, as a user who tried one batch does
assert entities(nlp.pipe(texts, n_process=2, batch_size=4)) == alone
aligner = spacy.blank("de")
aligner.add_pipe("xlmr_aligner", config={"model": model_dir, "layer": 2})
aligner.initialize()
pairs = lambda: [make_parallel_doc(aligner, "the cat sits on the mat".split(), "die Katze sitzt auf der Matte".split()) for _ in range(16)]
links = [get_alignment(doc) for doc in aligner.pipe(pairs())]
assert [get_alignment(doc) for doc in aligner.pipe(pairs(), n_process=2, batch_size=4)] == links
print("same", flush=True)
"""


def test_n_process_does_not_hang_after_the_parent_ran_torch(tiny_model_dir):
    process = subprocess.Popen([sys.executable, "-c", SCRIPT, tiny_model_dir], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)  # its own process group: a hang is killed with spaCy's children
    try:
        stdout, stderr = process.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise AssertionError("nlp.pipe(n_process=2) hung after the parent had run torch") from None
    assert process.returncode == 0 and stdout.strip() == "same", stderr[-2000:]
