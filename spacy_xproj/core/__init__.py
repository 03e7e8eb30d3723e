"""Pure maths: word-alignment extraction, Pharaoh I/O, AER, span projection, BIO tags (numpy and scipy; no spaCy)."""
