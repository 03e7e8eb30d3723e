"""Multilingual encoders: loading (the embedded default and any HF model), its file format, subword vectors, aligner fine-tuning."""
