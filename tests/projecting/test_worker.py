"""A shard's pairs through the teachers: an extra teacher's entities fill only where the teacher found none."""
import spacy

from spacy_xproj.projecting.worker import add_extra_entities


def test_extra_entities_are_added_where_the_teacher_found_none():
    teacher = spacy.blank("en")
    teacher.add_pipe("entity_ruler").add_patterns([{"label": "PER", "pattern": "Ada"}, {"label": "MISC", "pattern": "Monday Club"}])
    extra = spacy.blank("en")
    extra.add_pipe("entity_ruler").add_patterns([{"label": "DATE", "pattern": "Monday"}, {"label": "DATE", "pattern": "last year"},
                                                 {"label": "GPE", "pattern": "Lagos"}])
    docs = list(teacher.pipe(["Ada joined the Monday Club in Lagos last year ."]))
    assert add_extra_entities(docs, extra, ["DATE"]) == [[(0, 1, "PER"), (3, 5, "MISC"), (7, 9, "DATE")]]  # Monday overlaps; GPE not asked for
