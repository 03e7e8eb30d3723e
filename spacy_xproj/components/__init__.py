"""The pipes (xlmr_aligner, entity_projector), their registered matching and projection strategies, label maps."""
