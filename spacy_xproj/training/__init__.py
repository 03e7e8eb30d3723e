"""Training runs: `spacy train` with the package's configs, the English teacher, NER students."""
