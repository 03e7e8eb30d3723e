"""A parallel corpus through teacher, aligner and projector into NER training data: settings, shards, engines, resume."""
