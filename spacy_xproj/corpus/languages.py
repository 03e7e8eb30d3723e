"""Any ISO 639 language: the spaCy tokenizer that serves it, and its NTREX-128 file.

spaCy has tokenizers for about 75 languages, named by ISO 639-1 codes where those exist. A language it lacks
(Zulu, Hausa, Swahili, ...) is tokenized by spaCy's multi-language `xx` tokenizer, which splits on spaces and
punctuation as every tokenizer does: right for the languages written with spaces between words. Codes are read
by `langcodes` (the IANA registry), so "zu", "zul" and "ZU" are one language.
"""
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import langcodes

MULTI_LANGUAGE = "xx"

# NTREX-128's file codes (MicrosoftTranslator/NTREX, LANGUAGES.tsv): ISO 639-3, a script or region added where the
# set has more than one variety; a language with two varieties maps to the one given here
NTREX_CODES = (
    "afr amh arb aze-Latn bak bel bem ben bod bos bul cat ces ckb-Arab cym dan deu div dzo ell eng-GB eng-IN eng-US est "
    "eus ewe fao fas fij fil fin fra fra-CA fuc gle glg guj hau heb hin hmn hrv hun hye ibo ind isl ita jpn kan kat kaz "
    "khm kin kir kmr kor lao lav lit ltz mal mar mey mkd mlg mlt mon mri msa mya nde nep nld nno nob nso nya orm pan pol "
    "por por-BR prs pus ron rus shi sin slk slv smo sna-Latn snd-Arab som spa spa-MX sqi srp-Cyrl srp-Latn ssw swa swe "
    "tah tam tat tel tgk-Cyrl tha tir ton tsn tuk tur uig ukr urd uzb ven vie wol xho yor yue zho-CN zho-TW zul"
).split()
NTREX_SOURCE = "newstest2019-src.eng.txt"
# ISO 639-3 codes whose NTREX file is named otherwise (a macrolanguage's member, or a script suffix)
NTREX_NAMES = {"ara": "arb", "aze": "aze-Latn", "ckb": "ckb-Arab", "sna": "sna-Latn", "snd": "snd-Arab", "srp": "srp-Cyrl",
               "tgk": "tgk-Cyrl", "zho": "zho-CN", "eng": "eng-US", "kur": "kmr", "nor": "nob", "ful": "fuc"}


class UnknownLanguageError(ValueError):
    pass


@dataclass(frozen=True)
class TargetLanguage:
    """code: the shortest ISO 639 code (639-1 where there is one); name: its English name; spacy_lang: the spaCy
    language class that tokenizes it (`xx` when spaCy has none); ntrex: its NTREX-128 file code, None if NTREX lacks it;
    iso3: its ISO 639-3 code (how MAFAND, MasakhaNER and the WMT folders name it)."""

    code: str
    name: str
    spacy_lang: str
    ntrex: Optional[str]
    iso3: str = ""

    @property
    def uses_fallback(self) -> bool:
        return self.spacy_lang == MULTI_LANGUAGE and self.code != MULTI_LANGUAGE

    def fallback_note(self) -> str:
        """The one line a command prints when spaCy has no tokenizer for the language."""
        return (f"spaCy has no tokenizer for {self.name} ({self.code}): using its multi-language tokenizer '{MULTI_LANGUAGE}', "
                "which splits words at spaces and punctuation")


def spacy_has_language(code: str) -> bool:
    return code.isidentifier() and importlib.util.find_spec(f"spacy.lang.{code}") is not None


def resolve_language(code: str) -> TargetLanguage:
    """The language an ISO 639-1 or 639-3 code (or a BCP 47 tag such as `zh-Hans`) names; an UnknownLanguageError
    when it names none."""
    if not isinstance(code, str) or not code.strip():
        raise UnknownLanguageError(f"{code!r} is not a language code: give an ISO 639-1 or 639-3 code such as zu, zul, de or deu")
    code = code.strip()
    if code.lower() == MULTI_LANGUAGE:
        return TargetLanguage(MULTI_LANGUAGE, "multi-language", MULTI_LANGUAGE, None)
    try:
        language = langcodes.Language.get(code)
        name = language.display_name()
        known = langcodes.tag_is_valid(code) and language.language and not name.startswith("Unknown language")
    except (ValueError, LookupError, AttributeError):
        known = False
    if not known:
        raise UnknownLanguageError(f"{code!r} is not an ISO 639 language code: give one such as zu, zul, de or deu ('xx' for spaCy's multi-language tokenizer)")
    short = language.language
    spacy_lang = short if spacy_has_language(short) else MULTI_LANGUAGE
    try:
        alpha3 = language.to_alpha3()
    except LookupError:
        alpha3 = short
    ntrex = NTREX_NAMES.get(alpha3, alpha3)
    return TargetLanguage(short, name, spacy_lang, ntrex if ntrex in NTREX_CODES else None, alpha3)


def fill_language(value: str, language: TargetLanguage) -> str:
    """`{lang}`, `{iso3}` and `{ntrex}` in a path filled in for `language`, so one project var names the files of
    every language (`mafand/en-{iso3}/train.{iso3}`)."""
    return value.replace("{lang}", language.code).replace("{iso3}", language.iso3).replace("{ntrex}", language.ntrex or language.iso3)


def ntrex_pair(folder: Path, language: TargetLanguage) -> Tuple[Path, Path]:
    """NTREX-128's English source and `language`'s reference in `folder`; a FileNotFoundError naming what is missing."""
    if language.ntrex is None:
        raise FileNotFoundError(f"NTREX-128 has no translation into {language.name} ({language.code}); give your own parallel corpus as SOURCE=TARGET")
    source, target = Path(folder) / NTREX_SOURCE, Path(folder) / f"newstest2019-ref.{language.ntrex}.txt"
    for path in (source, target):
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: NTREX-128's {'English source' if path == source else language.name + ' reference'} "
                                    f"belongs there (github.com/MicrosoftTranslator/NTREX)")
    return source, target


# languages written without spaces between words: the segmenter each needs (module, extra that installs it,
# spaCy's tokenizer setting); spaCy's default for Chinese cuts every character apart, a name included
SEGMENTERS = {"zh": ("jieba", "zh", {"segmenter": "jieba"}), "ja": ("sudachipy", "ja", {}), "th": ("pythainlp", "th", {})}


class MissingSegmenterError(UnknownLanguageError):
    pass


def check_segmenter(language: TargetLanguage) -> None:
    """A MissingSegmenterError, in one line naming the extra, when the language needs a word segmenter not installed."""
    if language.spacy_lang in SEGMENTERS:
        module, extra, _ = SEGMENTERS[language.spacy_lang]
        if importlib.util.find_spec(module) is None:
            raise MissingSegmenterError(f"{language.name} is written without spaces between words and its word segmenter ({module}) "
                                        f"is not installed: pip install 'spacy_xproj[{extra}]'")


def blank_pipeline(code: str):
    """A blank spaCy pipeline for the language `code` names (`xx` where spaCy has none) whose tokenizer reads text in
    NFC (normal_form.py), so composed and decomposed diacritics give the same words; Chinese, Japanese and Thai get
    a word segmenter (or a MissingSegmenterError naming the extra that installs it)."""
    import spacy

    from .normal_form import NFCTokenizer

    language = resolve_language(code)
    check_segmenter(language)
    settings = SEGMENTERS.get(language.spacy_lang, (None, None, {}))[2]
    nlp = spacy.blank(language.spacy_lang, config={"nlp": {"tokenizer": settings}} if settings else {})
    nlp.tokenizer = NFCTokenizer(nlp.tokenizer)
    return nlp
