"""Benchmarks of spacy_xproj against gold alignments and gold NER, and its peers (simalign, eflomal); not packaged."""
