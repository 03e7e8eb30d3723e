import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spacy_xproj.corpus.catalogs import CatalogFormatError, catalog_pairs, read_mo
from spacy_xproj.cli import app
from spacy_xproj.corpus.readers import read_line_aligned


def write_mo(path, messages, charset="UTF-8", byte_order="<"):
    """A compiled gettext catalog: header, count, the two (length, offset) tables, then the strings."""
    encoding = "utf-8" if charset == "CHARSET" else charset  # "CHARSET": the placeholder of untranslated templates
    messages = [(b"", f"Content-Type: text/plain; charset={charset}\n".encode("ascii"))] + [
        (msgid.encode(encoding), msgstr.encode(encoding)) for msgid, msgstr in messages
    ]
    count, header_size = len(messages), 28
    originals_at, translations_at = header_size, header_size + 8 * len(messages)
    data_at = translations_at + 8 * len(messages)
    tables, blob = [b"", b""], b""
    for side in (0, 1):
        for message in messages:
            tables[side] += struct.pack(byte_order + "2I", len(message[side]), data_at + len(blob))
            blob += message[side] + b"\0"
    header = struct.pack(byte_order + "7I", 0x950412DE, 0, count, originals_at, translations_at, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + tables[0] + tables[1] + blob)


MESSAGES = [
    ("Could not open the file for writing", "Fișierul nu a putut fi deschis pentru scriere"),
    ("menu\x04Show all hidden files in this folder", "Arată toate fișierele ascunse din dosar"),
    ("Deleted one file from the list\x00Deleted %d files from the list", "Un fișier șters\x00%d fișiere șterse"),
    ("Cannot open %s for reading today", "Nu se poate deschide %s azi"),
    ("Open file", "Deschide fișierul"),
    ("This sentence is left untranslated here", "This sentence is left untranslated here"),
    ("_Save the document to disk now", "_Salvează documentul pe disc acum"),
]


def test_catalog_pairs_keep_translated_sentences_once(tmp_path):
    folder = tmp_path / "ro" / "LC_MESSAGES"
    write_mo(folder / "a.mo", MESSAGES)
    write_mo(folder / "b.mo", MESSAGES[:1], byte_order=">")  # big-endian, and a duplicate of a.mo's first message
    (folder / "broken.mo").write_bytes(b"not a catalog at all, just text")
    pairs, report = catalog_pairs(tmp_path, "ro", min_words=5)
    assert pairs == [
        ("Could not open the file for writing", "Fișierul nu a putut fi deschis pentru scriere"),
        ("Show all hidden files in this folder", "Arată toate fișierele ascunse din dosar"),  # context dropped
    ]
    assert report.files == 3 and report.messages == len(MESSAGES) + 1 and report.kept == 2
    assert len(report.unreadable) == 1 and "broken.mo" in report.unreadable[0]


def test_catalog_charset_comes_from_the_header(tmp_path):
    path = tmp_path / "latin.mo"
    write_mo(path, [("Could not open the file", "Impossible d'ouvrir le fichier é")], charset="ISO-8859-1")
    assert list(read_mo(path)) == [("Could not open the file", "Impossible d'ouvrir le fichier é")]
    (tmp_path / "short.mo").write_bytes(b"\xde\x12\x04\x95")
    with pytest.raises(CatalogFormatError, match="too short"):
        list(read_mo(tmp_path / "short.mo"))
    (tmp_path / "no-tables.mo").write_bytes(path.read_bytes()[:30])  # the header promises two messages; their table is gone
    with pytest.raises(CatalogFormatError, match="the table of message 0 lies past the end"):
        list(read_mo(tmp_path / "no-tables.mo"))
    (tmp_path / "no-strings.mo").write_bytes(path.read_bytes()[:60])  # the tables are there, the strings they point to are not
    with pytest.raises(CatalogFormatError, match="message 0 points past the end"):
        list(read_mo(tmp_path / "no-strings.mo"))


def test_unknown_charsets_skip_the_catalog_and_the_template_placeholder_means_utf8(tmp_path):
    folder = tmp_path / "ro" / "LC_MESSAGES"
    write_mo(folder / "a.mo", MESSAGES[:1], charset="CHARSET")  # an untranslated template's header
    write_mo(folder / "b.mo", [("Could not read the disk label now", "Eticheta discului nu a putut fi citită")], charset="UTF-8")
    b = (folder / "b.mo").read_bytes().replace(b"charset=UTF-8", b"charset=NOSUCH")  # same length: offsets stay valid
    (folder / "b.mo").write_bytes(b)
    pairs, report = catalog_pairs(tmp_path, "ro")
    assert pairs == [MESSAGES[0]]
    assert len(report.unreadable) == 1 and "unknown charset 'NOSUCH'" in report.unreadable[0]


def test_catalog_pairs_command_writes_training_text(tmp_path):
    write_mo(tmp_path / "locale" / "ro" / "LC_MESSAGES" / "a.mo", MESSAGES)
    runner = CliRunner()
    result = runner.invoke(app, ["catalog-pairs", "ro", str(tmp_path / "out" / "en-ro"), "--locale-dir", str(tmp_path / "locale")])
    assert result.exit_code == 0, result.output
    lines = list(read_line_aligned(tmp_path / "out" / "en-ro.en", tmp_path / "out" / "en-ro.ro"))
    assert [(line.source, line.target) for line in lines][0] == MESSAGES[0]
    assert len(lines) == 2

    missing = runner.invoke(app, ["catalog-pairs", "xx", str(tmp_path / "out" / "en-xx"), "--locale-dir", str(tmp_path / "locale")])
    assert missing.exit_code == 1 and "No .mo catalogs in" in missing.output and "xx" in missing.output
    too_long = runner.invoke(app, ["catalog-pairs", "ro", str(tmp_path / "out" / "long"), "--locale-dir", str(tmp_path / "locale"), "--min-words", "50"])
    assert too_long.exit_code == 1 and "none of the" in too_long.output
    assert not (tmp_path / "out" / "long.en").exists()
    english = runner.invoke(app, ["catalog-pairs", "en_GB", str(tmp_path / "out" / "en-gb"), "--locale-dir", str(tmp_path / "locale")])
    assert english.exit_code == 1 and "English into English" in english.output


LOCALE_DE = Path("/usr/share/locale/de/LC_MESSAGES")


@pytest.mark.skipif(not LOCALE_DE.is_dir(), reason="no German catalogs on this machine")
def test_read_mo_agrees_with_stdlib_gettext_and_reads_what_it_refuses():
    """The reason read_mo is not replaced by gettext.GNUTranslations: on every catalog both read, the
    messages are the same, but gettext decodes strictly and refuses catalogs with a stray byte in their
    header (5 of the Debian machine's 3,674, e.g. net-tools), or a plural formula it cannot parse (1),
    which read_mo reads with replacement characters."""
    import gettext

    refused = []
    for path in sorted(LOCALE_DE.glob("*.mo")):
        try:
            with path.open("rb") as f:
                catalog = gettext.GNUTranslations(f)._catalog
        except (UnicodeDecodeError, ValueError, IndexError, OSError):
            refused.append(path.name)
            assert len(list(read_mo(path))) > 0
            continue
        # gettext keeps plural forms under (msgid, n) and drops the English plural; read_mo keeps "msgid\0plural"
        singular = [(msgid, msgstr) for msgid, msgstr in read_mo(path) if "\x00" not in msgid]
        assert singular == [(k, v) for k, v in catalog.items() if isinstance(k, str) and k], path
    if (LOCALE_DE / "net-tools.mo").exists():
        assert "net-tools.mo" in refused
