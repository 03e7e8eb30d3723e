"""The pipes (xlmr_aligner, entity_projector, entity_filler), their registered matching and projection strategies, label maps."""
