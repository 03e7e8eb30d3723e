#!/usr/bin/env bash
# The English teacher with its frozen encoder in float32 (configs/frozen_ner.cfg) and in bfloat16, one after
# the other on the same machine: eng.testa F1, training seconds, wall time and peak memory.
# Writes metrics/teacher_precision/{float32,bfloat16}.json; models go to training/teacher-precision/ (not committed).
# Usage: bash scripts/teacher_precision.sh [SHARED_DATA]   (default ../shared/data)
set -euo pipefail
SHARED=${1:-../shared/data}
WORK=training/teacher-precision
OUT=metrics/teacher_precision
mkdir -p "$WORK" "$OUT"
sed 's/^precision = "float32"/precision = "bfloat16"/' configs/frozen_ner.cfg > "$WORK/frozen_ner_bfloat16.cfg"
for precision in bfloat16 float32; do
  config=configs/frozen_ner.cfg
  [ "$precision" = bfloat16 ] && config=$WORK/frozen_ner_bfloat16.cfg
  /usr/bin/time -v -o "$WORK/$precision.time" python -m spacy_xproj train-teacher "$SHARED/conll/eng.train" "$SHARED/conll/eng.testa" \
    "$WORK/$precision" --config "$config" --metrics "$WORK/$precision.json"
  python - "$WORK/$precision.json" "$WORK/$precision.time" "$precision" "$OUT/$precision.json" <<'PY'
import json, re, sys
record, timing, precision, out = json.load(open(sys.argv[1])), open(sys.argv[2]).read(), sys.argv[3], sys.argv[4]
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", timing).group(1)  # m:ss.ss, or h:mm:ss past an hour
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", timing).group(1))
record.update(precision=precision, wall_seconds=round(sum(float(part) * 60**k for k, part in enumerate(reversed(wall.split(":")))), 1), peak_rss_gb=round(rss / 1024**2, 2))
open(out, "w").write(json.dumps(record, indent=2) + "\n")
PY
done
