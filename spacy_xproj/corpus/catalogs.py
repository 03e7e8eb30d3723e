"""Sentence pairs from gettext message catalogs: in-language parallel text that most Linux machines already hold.

Software translations (`/usr/share/locale/<lang>/LC_MESSAGES/*.mo` on Debian) pair English
messages with human translations (198 locale folders hold catalogs on the Debian machine this was
built on). They are short and technical, but they were the only English-Romanian text there, and `train-aligner` learns
from them (see the README's fine-tuning results). The `.mo` layout is GNU gettext's documented
binary format: a magic number, the message count, and two tables of (length, offset) pairs.
"""
import codecs
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

from ..files import atomic_write_bytes

MO_MAGIC = 0x950412DE
CONTEXT_SEPARATOR = "\x04"  # msgctxt and msgid are stored as "context\x04msgid"
PLURAL_SEPARATOR = "\x00"  # plural forms are stored NUL-separated
# printf and brace placeholders, shell variables, markup, escapes and line breaks make a message a
# template rather than a sentence, whose words would not align one to one (accelerators, "_" and
# "&", are checked on the English side, where they mark menu items)
TEMPLATE_MARKS = re.compile(r"%|\{|\}|\$|<|>|\n|\t|\\")


class CatalogFormatError(ValueError):
    pass


def read_mo(path: Path) -> Iterator[Tuple[str, str]]:
    """(msgid, msgstr) of every message in a compiled gettext catalog, decoded with the catalog's charset."""
    data = Path(path).read_bytes()
    if len(data) < 20:
        raise CatalogFormatError(f"{path}: {len(data)} bytes, too short for a .mo file")
    for order in ("<", ">"):
        if struct.unpack(order + "I", data[:4])[0] == MO_MAGIC:
            break
    else:
        raise CatalogFormatError(f"{path}: not a gettext .mo file (magic number {data[:4].hex()})")
    _, count, originals_at, translations_at = struct.unpack(order + "4I", data[4:20])

    def entry(table_at: int, index: int) -> bytes:
        at = table_at + 8 * index
        if at + 8 > len(data):
            raise CatalogFormatError(f"{path}: the table of message {index} lies past the end of the file")
        length, offset = struct.unpack(order + "2I", data[at: at + 8])
        if offset + length > len(data):
            raise CatalogFormatError(f"{path}: message {index} points past the end of the file")
        return data[offset: offset + length]

    raw = [(entry(originals_at, i), entry(translations_at, i)) for i in range(count)]
    charset = "utf-8"
    for msgid, msgstr in raw:
        if msgid == b"":  # the header: "Content-Type: text/plain; charset=..."
            found = re.search(rb"charset=([^\s;]+)", msgstr)
            # untranslated templates keep the placeholder "CHARSET"
            if found and found.group(1).lower() != b"charset":
                charset = found.group(1).decode("ascii", errors="replace")
    try:
        codecs.lookup(charset)
    except LookupError:
        raise CatalogFormatError(f"{path}: unknown charset {charset!r} in its header") from None
    for msgid, msgstr in raw:
        if msgid:
            yield msgid.decode(charset, errors="replace"), msgstr.decode(charset, errors="replace")


@dataclass
class CatalogReport:
    files: int = 0
    unreadable: List[str] = field(default_factory=list)
    messages: int = 0
    kept: int = 0

    def as_dict(self) -> Dict:
        return {"files": self.files, "unreadable": self.unreadable, "messages": self.messages, "kept": self.kept}


def is_sentence_pair(english: str, translation: str, min_words: int) -> bool:
    """A translated message of at least `min_words` English words with no template syntax."""
    if not translation.strip() or translation == english or len(english.split()) < min_words:
        return False
    return not (TEMPLATE_MARKS.search(english) or TEMPLATE_MARKS.search(translation) or "_" in english or "&" in english)


def catalog_pairs(locale_dir: Path, lang: str, min_words: int = 5) -> Tuple[List[Tuple[str, str]], CatalogReport]:
    """Distinct (English, translation) sentence pairs of every catalog in LOCALE_DIR/LANG/LC_MESSAGES, sorted.

    Plural forms are skipped (their counts rarely match the English), contexts are dropped, and
    the same pair found in several catalogs is kept once.
    """
    folder = Path(locale_dir) / lang / "LC_MESSAGES"
    files = sorted(folder.glob("*.mo"))
    if not files:
        raise FileNotFoundError(f"No .mo catalogs in {folder}: is the language code right, and are translations installed (Debian: the packages' locale files)?")
    report, pairs = CatalogReport(files=len(files)), set()
    for path in files:
        try:
            messages = list(read_mo(path))
        except CatalogFormatError as err:
            report.unreadable.append(str(err))
            continue
        for msgid, msgstr in messages:
            report.messages += 1
            if PLURAL_SEPARATOR in msgid:
                continue
            english = msgid.split(CONTEXT_SEPARATOR)[-1].strip()
            translation = msgstr.strip()
            if is_sentence_pair(english, translation, min_words):
                pairs.add((english, translation))
    report.kept = len(pairs)
    return sorted(pairs), report


def write_pairs(pairs: List[Tuple[str, str]], source_path: Path, target_path: Path) -> None:
    """Line-aligned files, as `train-aligner SOURCE --target TARGET` reads them."""
    for path, side in ((source_path, 0), (target_path, 1)):
        atomic_write_bytes(path, "".join(pair[side] + "\n" for pair in pairs).encode("utf-8"))
