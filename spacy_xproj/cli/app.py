"""The one typer app every command module adds its commands to."""
import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None, help="spacy_xproj: cross-lingual NER by annotation projection.")
