"""Render projected pairs as HTML, in the spirit of displaCy: source entities above, projected entities below, alignment links between.

The page is self-contained: tokens are laid out by the browser, and a few lines
of script draw the links as SVG lines between the token boxes once fonts are
laid out. Projections below `min_confidence` get a dashed outline and a "?".
"""
import html
import random
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

from spacy.tokens import Doc
from spacy.vocab import Vocab

from .schema import get_alignment, get_projection, get_source

COLORS: Dict[str, str] = {"PER": "#aa9cfc", "ORG": "#7aecec", "LOC": "#ff9561", "MISC": "#e4e7d2"}
# a teacher's OntoNotes labels on the source side get the colour of the CoNLL label they map to
COLORS.update({"PERSON": COLORS["PER"], "GPE": COLORS["LOC"], "FAC": COLORS["LOC"], "NORP": COLORS["MISC"], "EVENT": COLORS["MISC"],
               "WORK_OF_ART": COLORS["MISC"], "LAW": COLORS["MISC"], "LANGUAGE": COLORS["MISC"], "PRODUCT": COLORS["MISC"]})
DEFAULT_COLOR = "#ddd"

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px; color: #222; }
.pair { position: relative; margin: 0 0 28px 0; padding: 12px; border: 1px solid #eee; border-radius: 6px; }
.row { display: flex; flex-wrap: wrap; gap: 6px 4px; line-height: 2.2; }
.row.target { margin-top: 56px; }
.tok { padding: 1px 4px; border-radius: 4px; white-space: pre; }
.ent { padding: 2px 6px; border-radius: 6px; display: inline-flex; gap: 4px; align-items: center; }
.ent.low { outline: 2px dashed #c00; }
.label { font-size: 0.65em; font-weight: bold; text-transform: uppercase; opacity: 0.8; }
.meta { font-size: 0.75em; color: #777; margin-top: 6px; }
svg.links { position: absolute; left: 0; top: 0; pointer-events: none; overflow: visible; }
"""

SCRIPT = """
function drawLinks() {
  document.querySelectorAll('.pair').forEach(function (pair) {
    var svg = pair.querySelector('svg.links');
    var box = pair.getBoundingClientRect();
    svg.setAttribute('width', box.width); svg.setAttribute('height', box.height);
    JSON.parse(pair.dataset.links).forEach(function (link) {
      var s = pair.querySelector('.source [data-i="' + link[0] + '"]');
      var t = pair.querySelector('.target [data-i="' + link[1] + '"]');
      if (!s || !t) return;
      var a = s.getBoundingClientRect(), b = t.getBoundingClientRect();
      var line = document.createElementNS('http://www.w3.org/2000/svg', 'line');
      line.setAttribute('x1', a.left + a.width / 2 - box.left); line.setAttribute('y1', a.bottom - box.top);
      line.setAttribute('x2', b.left + b.width / 2 - box.left); line.setAttribute('y2', b.top - box.top);
      line.setAttribute('stroke', 'rgba(40, 80, 200, ' + (0.25 + 0.75 * link[2]).toFixed(2) + ')');
      line.setAttribute('stroke-width', '1.5');
      svg.appendChild(line);
    });
  });
}
window.addEventListener('load', drawLinks);
"""


def _row(words: Sequence[str], entities: Sequence[tuple], side: str, min_confidence: float) -> str:
    """Tokens of one side; entities are (start, end, label, confidence or None)."""
    starts = {e[0]: e for e in entities}
    parts: List[str] = []
    i = 0
    while i < len(words):
        entity = starts.get(i)
        if entity is None:
            parts.append(f'<span class="tok" data-i="{i}">{html.escape(words[i])}</span>')
            i += 1
            continue
        start, end, label, confidence = entity
        low = confidence is not None and confidence < min_confidence
        tokens = "".join(f'<span class="tok" data-i="{k}">{html.escape(words[k])}</span>' for k in range(start, end))
        title = f"{label}" + (f", confidence {confidence:.2f}" if confidence is not None else "")
        mark = "?" if low else ""
        parts.append(
            f'<span class="ent{" low" if low else ""}" style="background:{COLORS.get(label, DEFAULT_COLOR)}" title="{html.escape(title)}">'
            f'{tokens}<span class="label">{html.escape(label)}{mark}</span></span>'
        )
        i = end
    return f'<div class="row {side}">{"".join(parts)}</div>'


def render_pair(doc: Doc, min_confidence: float = 0.5) -> str:
    """One pair as an HTML fragment (a `div.pair`)."""
    import json

    source = get_source(doc)
    projection = get_projection(doc)
    links = get_alignment(doc) or []
    if projection is not None:
        target_entities = [(s, e, label, c) for s, e, label, c in projection["ents"]]
        status = f'projection {projection["status"]}' + "".join(
            f"; source entity {index} not projected: {html.escape(reason)}" for index, reason in projection["unprojected"]
        )
    else:
        target_entities = [(e.start, e.end, e.label_, None) for e in doc.ents]
        status = "no projection record"
    source_entities = [(s, e, label, None) for s, e, label in source.ents]
    link_data = html.escape(json.dumps([[i, j, round(s, 3)] for i, j, s in links]))
    return (
        f'<div class="pair" data-links="{link_data}"><svg class="links"></svg>'
        f'{_row(source.words, source_entities, "source", min_confidence)}'
        f'{_row([t.text for t in doc], target_entities, "target", min_confidence)}'
        f'<div class="meta">{len(links)} links; {status}</div></div>'
    )


def render_page(docs: Iterable[Doc], title: str = "spacy_xproj projections", min_confidence: float = 0.5) -> str:
    body = "\n".join(render_pair(doc, min_confidence) for doc in docs)
    return (
        f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h2>{html.escape(title)}</h2>\n{body}\n<script>{SCRIPT}</script></body></html>"
    )


def sample_docbin(path: Path, n: int = 20, seed: int = 0, vocab: Optional[Vocab] = None) -> List[Doc]:
    """A reproducible random sample of Docs from a DocBin (store_user_data must have been on)."""
    from .docbins import read_docbin

    docs = list(read_docbin(path).get_docs(vocab or Vocab()))
    if len(docs) > n:
        docs = random.Random(seed).sample(docs, n)
    return docs
