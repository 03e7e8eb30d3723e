"""Trainable NER: token_ner and its heads, layer mix, losses, frozen-encoder features, training callbacks, self-training, the teacher."""
