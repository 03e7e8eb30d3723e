"""Parallel Doc data and its readers, corpus projection, gold NER readers and scoring, DocBins, rendering."""
