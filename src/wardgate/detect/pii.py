"""Personal data in text: emails, phones, cards, IBANs, national ids, IPs, names, addresses.

`find_pii` makes one pass with one compiled pattern to find candidates, then confirms each
with the check its kind has: Luhn and the issuer ranges for cards, mod-97 and the
country's length for IBANs, the SSA's area/group/serial rules for US SSNs, `phonenumbers`
for phones, `ipaddress` for IPs, `python-stdnum` checksums for national ids. Precision
comes first: a bare number is never a phone, an SSN or a national id without its shape or a
context word just before it ("call", "SSN", "BSN", "passport", ...; a label line such as
"Phone:" counts for the line after it, and "office" or "fax" right after a number counts
too), so order ids, ISBNs and code stay unflagged. The phone shapes that need no word are
international numbers and North American ones written with their separators
("415-555-2671", "(415) 555-2671"); an extension ("x12", "ext. 12") is part of the number.
Validators run only on candidates and import their libraries on first use.

Scores say how sure the shape plus the check make us: 0.95 for checksummed values (cards,
IBANs), 0.85 to 0.9 for those needing context, 0.6 to 0.7 for names and addresses, which
only a context phrase finds. Dates (DATE_TIME) are found in their common written forms
(English, and with a year in French, German, Spanish, Italian, Portuguese and CJK), times
of day included, when they name a real day: 0.85 after a birth word ("born", "DOB"), as
that is the sensitive kind, else 0.55, and 0.4 for a month and year, a day and month, a
weekday, a time of day (with am/pm, or after "at") or a year after a word that makes it
one ("in 1977", "the 1990s") alone, so that the default policy leaves those in the text
and a policy can keep to dates of birth by its threshold. Bare numbers are not dates.
Person names (0.6 to 0.7) need a cue or a listed given name; a listed family name after
an unknown word scores 0.45. Listed countries, regions and cities alone are LOCATION 0.4.
IP addresses are flagged whatever their range, but private,
loopback, link-local and other non-global ones score 0.4: they name a machine inside a
network rather than a person or a reachable host. Dotted quads right after "version",
"build", "release" or "firmware" are version numbers, not addresses.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, NamedTuple

from wardgate.detect.anchors import Anchor, AnchorScanner

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import ModuleType

__all__ = ["PII_TYPES", "PiiMatch", "find_pii"]

PII_TYPES = frozenset(
    {
        "CREDIT_CARD",
        "CRYPTO",
        "DATE_TIME",
        "DE_TAX_ID",
        "EMAIL_ADDRESS",
        "ES_NIE",
        "ES_NIF",
        "FR_NIR",
        "IBAN_CODE",
        "IP_ADDRESS",
        "IT_FISCAL_CODE",
        "LOCATION",
        "NL_BSN",
        "PERSON",
        "PHONE_NUMBER",
        "UK_NHS",
        "US_PASSPORT",
        "US_SSN",
    }
)


@dataclass(frozen=True, slots=True)
class PiiMatch:
    """One piece of personal data: ``text[start:end]`` is the value.

    ``start`` and ``end`` are Python string indices (code points) into the text given to
    `find_pii`, end exclusive; ``type`` is one of `PII_TYPES`; ``score`` in 0..1 says how
    sure the detector is.
    """

    type: str
    start: int
    end: int
    score: float


# Latin-1 letters by case, and Latin Extended-A (Č, Ł, Ő, ...) in both: its cases alternate
# code point by code point, and a lower-case letter starting a name costs nothing here.
_UPPER = "A-ZÀ-ÖØ-Þ\u0100-\u017f"
_LOWER = "a-zß-öø-ÿ\u0100-\u017f"
# A capital inside a name only after a particle: MacDonald, McGuinness, DeShawn, LeBron,
# DiCaprio, VanHinkle (not YouTube or GitHub, which are brands).
_PARTICLE_CAPITAL = (  # the capital first: the look-behinds run only before one
    r"(?=[A-Z])(?:(?<=Mac)|(?<=Mc)|(?<=Van)|(?<=De)|(?<=Le)|(?<=La)|(?<=Di)|(?<=Du))[A-Z][a-z]+"
)
_NAME = (
    rf"[{_UPPER}](?:[{_LOWER}]+(?:'[{_UPPER}][{_LOWER}]+|{_PARTICLE_CAPITAL})?"
    rf"|'[{_UPPER}][{_LOWER}]+)"
)
_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November"
    r"|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.?"
)
# Month names of the other languages we find dates in; only with a year ("14 mai 2024",
# "am 3. März 2021", "el 5 de mayo de 2020"): alone, "mars" and "mayo" are other words.
_MONTH_ROMANCE = (  # lower case as written: "Mars 2020" is a rover
    r"(?:janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre"
    r"|novembre|décembre|decembre|enero|febrero|marzo|abril|mayo|junio|julio|agosto"
    r"|septiembre|setiembre|octubre|noviembre|diciembre|gennaio|febbraio|aprile|maggio"
    r"|giugno|luglio|settembre|ottobre|dicembre|janeiro|fevereiro|março|maio|junho|julho"
    r"|setembro|outubro|novembro|dezembro)"
)
_MONTH_DE = (  # capitalised, after a day with its period: "3. März 2021"
    r"(?:Januar|Jänner|Februar|März|Maerz|April|Mai|Juni|Juli|August|September|Oktober"
    r"|November|Dezember)"
)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TIME = r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?"
# Relatives and roles that a name follows: "my wife Ingrid", "our neighbour Mr Ito".
_KIN_WORDS = (
    "wife", "husband", "son", "daughter", "mother", "father", "mom", "mum", "dad", "brother",
    "sister", "friend", "colleague", "boss", "manager", "partner", "fiance", "fiancee",
    "girlfriend", "boyfriend", "neighbor", "neighbour", "grandmother", "grandfather",
    "grandson", "granddaughter", "uncle", "aunt", "cousin", "nephew", "niece", "assistant",
    "lawyer", "doctor", "landlord", "landlady", "tenant", "roommate", "flatmate", "coworker",
    "co-worker", "supervisor",
)  # fmt: skip
_KIN = "|".join(map(re.escape, sorted(_KIN_WORDS, key=len, reverse=True)))
_SIGNOFFS = (
    "regards,", "sincerely,", "truly,", "faithfully,", "cheers,", "thanks,", "thank you,",
    "best,", "wishes,", "cordially,", "respectfully,",
)  # fmt: skip
_INTRODUCTIONS = (
    "I'm", "I\u2019m", "I am", "this is", "This is", "call me", "Call me", "named", "President",
    "Senator", "Judge", "General", "Captain", "Professor", "Officer", "Detective", "Agent",
    "Sergeant", "Colonel", "Governor", "Mayor", "Minister", "Chancellor", "Coach", "Nurse",
    "Father", "Sister", "Brother", "Uncle", "Aunt",
)  # fmt: skip
_INTRODUCTION = "|".join(re.escape(cue) for cue in _INTRODUCTIONS)  # spaces escaped: VERBOSE
_TITLES = ("Dear", "Mr", "Ms", "Mx", "Dr", "Prof", "Miss", "Sra", "Mme", "Mlle", "Herr", "Frau",
           "Madame", "Monsieur", "Signor")  # fmt: skip
_STREET_EN = (
    r"Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl"
    r"|Terrace|Ter|Square|Sq|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Trail|Trl|Alley|Crescent"
    r"|Close|Grove|Gardens|Row|Walk|Mews|Expressway|Expy|Freeway|Pike|Loop|Crossing|Ridge"
    r"|Heights|Plaza|Junction|Commons"
    # More of the USPS street suffixes (Publication 28), those no ordinary phrase ends in
    # after a number ("Center", "Park", "Station", "Club", "Run" are left out).
    r"|Ramp|Plains?|Knolls?|Hollow|Glens?|Coves?|Creek|Crest|Curve|Dale|Estates?|Extensions?"
    r"|Falls|Ferry|Flats|Fords?|Forest|Forges?|Forks?|Gateway|Greens?|Groves|Harbou?rs?|Haven"
    r"|Hills?|Inlet|Junctions|Lakes?|Landing|Locks?|Manors?|Meadows?|Mills?"
    r"|Mount|Mountains?|Neck|Orchard|Oval|Overpass|Pines?|Points?|Prairie|Ranch|Rapids?"
    r"|Ridges|Shoals?|Shores?|Skyway|Spurs?|Stravenue|Stream|Summit|Throughway|Trace"
    r"|Trafficway|Tunnel|Turnpike|Underpass|Valleys?|Viaduct|Vista|Villages?|Ville|Bypass"
    r"|Causeway|Canyon|Cliffs?|Corners?|Courts|Crossroads?|Divide|Bluffs?|Branch|Brooks?"
)
_STREET_DIRECTION = r"(?:North|South|East|West|N|S|E|W|NE|NW|SE|SW)"
# What may follow an English street: a unit ("Apt 4B", "Suite 200", "#12"), then a town and
# a US state with its ZIP code or a UK postcode ("Springfield, IL 62704", "London SW1A 2AA").
_UNIT = (
    r"(?:,?\ (?:Apt|Apartment|Suite|Ste|Unit|Floor|Fl|Room|Rm|Bldg|Building)\.?\ \#?"
    r"[A-Za-z0-9-]{1,6}\b|,?\ \#\ ?\d{1,5}[A-Za-z]?\b)"
)
_TOWN = rf"(?:{_NAME}\ ){{0,2}}{_NAME}"
_ZIP_OR_POSTCODE = r"(?:,?\ [A-Z]{2}\ \d{5}(?:-\d{4})?|,?\ [A-Z]{1,2}\d[A-Z\d]?\ \d[A-Z]{2}\b)"
# The town on the street's line after a comma; on the next line (an address block) only
# with its state and ZIP code or its postcode, which no next paragraph starts with.
_REGION = (
    rf"(?:,\ {_TOWN}(?:{_ZIP_OR_POSTCODE}|,\ [A-Z]{{2}}\b)?"
    rf"|,?[ \t]*\r?\n[ \t]*{_TOWN}{_ZIP_OR_POSTCODE})"
)
# German, Dutch and Nordic streets end in their type ("Hauptstraße 5", "Berliner Str. 12",
# "Keizersgracht 123"); a postal code and town may follow ("10115 Berlin").
_STREET_SUFFIX = (
    r"straße|strasse|str\.|weg|gasse|platz|allee|damm|ufer|chaussee|straat|laan|gracht"
    r"|plein|kade|singel|dijk|gade|vej|gatan|vägen|veien"
)
_STREET_WORD = r"Straße|Strasse|Str\.|Weg|Gasse|Platz|Allee|Damm|Ufer|Chaussee"
_POSTAL_TOWN = rf"(?:,\ \d{{4,5}}\ {_NAME}(?:[ -]{_NAME}){{0,2}})"
# Romance languages name the type first ("Calle Mayor 5", "Via Roma 12", "Rua Augusta, 25").
_STREET_FIRST = r"Calle|Carrer|Avenida|Paseo|Plaza|Via|Viale|Piazza|Corso|Largo|Rua|Praça|Travessa"

# Alternatives are tried in order at each position, so the shapes that begin with digits
# but are not bare numbers (emails, addresses, dates, IPs, ids) come before `num`. When a
# validator rejects one, the alternatives after it are tried at the same position, so a
# dotted number that only looked like a date can still be an IP or a phone.
_BRANCHES = (
    (
        "email",
        r"""(?<![\w.+%-])[\w.+%-]{1,64}@
        (?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+
        (?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})(?![\w-])""",
    ),
    (
        "person",
        rf"""\b(?:(?i:my\ name\ is|my\ name's|full\ name:|name:)|Dear|Hi|Hello|Hey
        |(?:Mr|Mrs|Ms|Dr|Prof)\.?|Miss
        # Cues that as often precede a firm, a title or a thing ("Madame Tussauds", "our
        # partner Siemens", "Thanks,\nFinance Team"): the name after them must be one we know.
        |(?P<known>(?:Mx|Sra|Mme|Mlle)\.?|Herr|Frau|Madame|Monsieur|Signora?
            |(?i:my|our)\ (?i:{_KIN})
            |(?P<signoff>(?i:(?:kind|best|warm|warmest|with\ kind)\ regards|regards|sincerely
                |yours\ (?:sincerely|truly|faithfully)|cheers|thanks|many\ thanks|thank\ you
                |best|best\ wishes|cordially|respectfully),)
            |(?P<intro>{_INTRODUCTION})))
        (?:[ \t]+|(?<=,)[ \t]*(?:\r?\n[ \t]*){{1,2}})
        (?P<name>{_NAME}(?:\ [A-Z]\.)?(?:[ -]{_NAME}){{0,2}})(?!\w)""",
    ),
    # "Clara R. Dickson": a first name, a middle initial and a last name need no cue (without
    # the initial's period, title case says "Steak N Shake" and "Spend A Buck" too).
    ("initialed", rf"(?<![\w.]){_NAME}\ [A-Z]\.\ {_NAME}(?:-{_NAME})?(?!\w)"),
    # "Maria Lopez": a common given name (`data/names/given.txt`) and a capitalised word.
    ("given", rf"(?<![\w.]){_NAME}\ {_NAME}(?:-{_NAME})?(?![\w'])"),
    (
        "street",
        rf"""\b\d{{1,5}}[A-Za-z]?(?:-\d{{1,4}})?,?\ (?:{_STREET_DIRECTION}\.?\ )?
            (?:(?:{_NAME}|\d{{1,3}}(?:st|nd|rd|th))\ ){{1,3}}(?:{_STREET_EN})\b\.?
            (?:\ {_STREET_DIRECTION}\b\.?)?{_UNIT}?{_REGION}?
        |\b\d{{1,4}}(?:\ bis|\ ter)?,?\ (?:rue|avenue|boulevard|place|chemin|allée|impasse|quai)
            \ (?:de\ la\ |de\ l'|du\ |des\ |de\ |d')?{_NAME}(?:[ -]{_NAME}){{0,3}}{_POSTAL_TOWN}?
        |\b(?:{_NAME}[ -]){{0,3}}(?:[{_UPPER}][{_LOWER}]*(?:{_STREET_SUFFIX})|{_STREET_WORD})
            \ \d{{1,4}}[a-z]?\b{_POSTAL_TOWN}?
        |\b(?:{_STREET_FIRST})\ (?:(?:de|del|de\ la|da|do|dos|das|di|della|dei|delle)\ )?
            {_NAME}(?:\ {_NAME}){{0,3}},?\ \d{{1,4}}[a-zA-Z]?\b{_POSTAL_TOWN}?""",
    ),
    (
        "date",
        rf"""(?=[\dADFJMNOS])(?<![\w./:-])(?:
            \d{{4}}-\d{{1,2}}-\d{{1,2}}(?:[T\ ]{_TIME}(?:Z|[+-]\d{{2}}:?\d{{2}})?)?
            |\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2,4}}(?:\ {_TIME})?
            |\d{{1,2}}(?:st|nd|rd|th)?\ (?:of\ )?{_MONTH}\ \d{{4}}
            |{_MONTH}\ (?:\d{{1,2}}(?:st|nd|rd|th)?,?\ )?\d{{4}}
            |\d{{1,2}}\.?\ (?:de\ )?{_MONTH_ROMANCE}\ (?:de\ )?\d{{4}}
            |\d{{1,2}}\.\ {_MONTH_DE}\ \d{{4}}
            # A day and a month without a year ("March 3rd", "the 5th of May").
            |\d{{1,2}}(?:st|nd|rd|th)?\ (?:of\ )?{_MONTH}(?!\ \d)
            |{_MONTH}\ \d{{1,2}}(?:st|nd|rd|th)?(?![\d:]))
        (?![\w/-]|[.,:]\d)""",
    ),
    # CJK writes a date between other characters, with no space around it.
    ("cjk_date", r"(?<![0-9\uff10-\uff19])[0-9]{4}年[0-9]{1,2}月(?:[0-9]{1,2}日)?"),
    ("weekday", rf"(?=[FMSTWfmstw])\b(?i:{'|'.join(_WEEKDAYS)})\b"),
    # A time of day: with am or pm, or on the 24-hour clock after "at" ("at 15:00").
    (
        "clock",
        r"""(?=\d)(?<![\w.:/-])(?:\d{1,2}(?::[0-5]\d){1,2}\ ?(?i:[ap]\.m\.|[ap]m\b)
        |\d{1,2}\ ?(?i:[ap]\.m\.|[ap]m\b)
        |(?:(?<=\bat\ )|(?<=\bum\ )|(?<=\bà\ )|(?<=\buntil\ )|(?<=\bfrom\ ))
            (?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?(?!\d|[.:]\d))""",
    ),
    # A year or a decade after a word that makes it one ("founded in 1977", "the 1990s").
    (
        "year",
        r"""(?=[12]\d{3})(?:(?<=\b[Ii]n\ )|(?<=\b[Ss]ince\ )|(?<=\b[Dd]uring\ )|(?<=\bfrom\ )
        |(?<=\buntil\ )|(?<=\btill\ )|(?<=\bto\ )|(?<=\bbefore\ )|(?<=\bafter\ )|(?<=\bborn\ )
        |(?<=\byear\ )|(?<=\bthe\ ))(?:1[89]\d\d|20[0-4]\d)(?:s|'s)?(?![\w'\u2019]|[.,:/-]\d)""",
    ),
    ("ipv4", r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\w)"),
    (
        "ipv6",
        r"""(?<![\w:.])(?:[0-9A-Fa-f]{1,4}|:):(?:[0-9A-Fa-f]{0,4}:){0,6}
        (?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:.])""",
    ),
    # A Bitcoin address: base58 (legacy and P2SH) or bech32 (SegWit), checked by its checksum;
    # an Ethereum address, checked by its letters' case (EIP-55) where it has both.
    (
        "crypto",
        r"(?=[13bB0])(?<!\w)(?:[13][1-9A-HJ-NP-Za-km-z]{25,34}|[bB][cC]1[02-9ac-hj-np-zAC-HJ-NP-Z]{11,71}"
        r"|0x[0-9a-fA-F]{40})(?!\w)",
    ),
    ("iban", r"\b[A-Za-z]{2}\d{2}(?:\ ?[A-Za-z0-9]{4}){2,7}(?:\ ?[A-Za-z0-9]{1,3})?"),
    (
        "natid",
        r"""\b(?:\d{8}-?[A-Z]|[XYZ]-?\d{7}-?[A-Z]|[A-Z]{6}\d{2}[A-Z]\d{2}[A-Z]\d{3}[A-Z]
        |[A-Z]\d{8})\b""",
    ),
    (
        "num",
        r"""(?<![\w+./-])(?=[\d().+\ -]{8})(?:\+\ ?)?\(?\d
        (?:\d|[\ .-]\d|[\ .-]?\(\d|\)[\ .-]?\d)*+(?:\ ?(?i:x|ext\.?)\ ?\d{1,6})?(?!\w)""",
    ),
)


def _alternatives(branches: tuple[tuple[str, str], ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?P<{name}>{body})" for name, body in branches), re.VERBOSE)


_NUM_RUN = _alternatives(tuple(branch for branch in _BRANCHES if branch[0] == "num"))
# Names are searched only around name anchors (cues, listed names, initials), the other
# shapes only around theirs (`@`, digits, weekdays): each pattern runs where it can match.
_NAMES = "names"
_PLACE = "place"
_EXACT = frozenset({_PLACE})
_NAME_BRANCHES = frozenset({"person", "initialed", "given"})

_CONTEXT_CHARS = 40
# A line break ends a sentence unless it ends a label line ("Phone:\n+44 ...").
_SENTENCE_END = re.compile(r"[.!?;]\s+(?=[A-Z])|(?<![:\s])[ \t]*\n")


def _context(text: str, start: int, pattern: re.Pattern[str]) -> bool:
    """True when ``pattern`` occurs in the same sentence just before ``start``."""
    lo = max(0, start - _CONTEXT_CHARS)
    cut = _SENTENCE_END.search(text, lo, start)
    while cut is not None:
        lo = cut.end()
        cut = _SENTENCE_END.search(text, lo, start)
    return pattern.search(text, lo, start) is not None


def _words(*words: str) -> re.Pattern[str]:
    return re.compile(r"(?i)(?<!\w)(?:" + "|".join(words) + r")(?!\w)")


_PHONE_WORDS = _words(
    "call", "phone", "tel", "telephone", "mobile", "mob", "cell", "fax", "whatsapp", "sms",
    "text me", "reach me", "ring", "handy", "telefon", "téléphone", "teléfono", "telefono",
    "telefoon", "portable", "móvil", "cellulare",
)  # fmt: skip
_SSN_WORDS = _words("ssn", "social security", "soc sec")
_PASSPORT_WORDS = _words("passport", "passport no", "passeport", "pasaporte", "reisepass")
_BSN_WORDS = _words("bsn", "burgerservicenummer", "sofinummer")
_DE_TAX_WORDS = _words(
    "steuer-id", "steuerid", "idnr", "steueridentifikationsnummer", "tax id", "tin"
)
_NIR_WORDS = _words(
    "nir", "insee", "sécurité sociale", "securite sociale", "numéro de sécu", "social security"
)
_NHS_WORDS = _words("nhs", "nhs number", "nhs no")
_DOB_WORDS = re.compile(
    _words(
        "born", "born on", "birth", "birthday", "dob", r"d\.o\.b\.?", "date of birth",
        "geboren", "né", "née", "nacido", "nacida", "geburtsdatum",
        r"(?-i:nat[oa])",  # Italian, in lower case: "NATO" is no birth word
    ).pattern
    + "|出生|生日|生年月日|誕生日"  # CJK words stand between other characters, no boundaries
)  # fmt: skip
# A birth word right before a year: only then is a bare year a date of birth ("born in
# 1985"; not "NATO was founded in 1949" or "the birth rate fell in 2008").
_BORN_BEFORE_YEAR = re.compile(
    r"(?i)(?<!\w)(?:born|b\.|year of birth|birth year|dob|geboren|né|née|nacid[oa])"
    r"(?:\W{0,3}|\s+(?:in|on|im|en|in the year))\s*$"
)
_VERSION_BEFORE = re.compile(r"(?i)(?<!\w)(?:version|ver\.?|release|build|firmware|v)\s*[:=]?\s*$")
_DEAR_NOT_NAMES = frozenset(
    {
        "All", "Applicant", "Client", "Colleague", "Colleagues", "Customer", "Friend",
        "Friends", "Hiring", "Madam", "Manager", "Member", "Members", "Parent", "Parents",
        "Sir", "Sirs", "Support", "Team", "User", "Users", "Valued", "There", "Everyone",
        "Everybody", "Folks", "Guys", "Again", "World",
        # A title after the greeting: its own cue finds the name ("Dear Mr. O'Brien").
        "Mr", "Mrs", "Ms", "Mx", "Dr", "Prof", "Miss",
    }
)  # fmt: skip
# Words that put a lettered item before a name-like word ("Section B. Results").
_NOT_FIRST_NAMES = frozenset(
    {
        "Appendix", "Article", "Block", "Building", "Chapter", "Class", "Exhibit", "Figure",
        "Grade", "Group", "Item", "Level", "Note", "Option", "Part", "Phase", "Plan", "Room",
        "Route", "Schedule", "Section", "Size", "Step", "Table", "Type", "Unit", "Vitamin",
        "Zone", "War", "Hepatitis", "Version", "Model", "Letter", "Supplement", "Windows",
        "World", "Category", "Stage", "Volume", "Vol", "Fig", "No", "Series",
    }
)  # fmt: skip
_SENTENCE_STARTS = frozenset(
    {
        "A", "After", "An", "And", "As", "At", "Before", "But", "By", "For", "From", "He", "Her",
        "Here", "His", "However", "If", "In", "It", "Its", "Notes", "On", "Or", "She", "So",
        "Some", "Symptoms", "That", "The", "Then", "There", "These", "They", "This", "Those",
        "To", "We", "When", "While", "With", "You",
    }
)  # fmt: skip
_GREETINGS = frozenset({"Hi", "Hello", "Hey"})
# Words that make the given name after them part of a place or an event's name.
_BEFORE_NOT_A_NAME = ("San ", "Santa ", "Santo ", "São ", "Saint ", "St. ", "Hurricane ")
_BEFORE_REACH = max(map(len, _BEFORE_NOT_A_NAME))


def _list_lines(file: str) -> list[str]:
    """The lines of `data/names/<file>`, less blank lines and `#` comments."""
    text = (files("wardgate") / "data" / "names" / file).read_text("utf-8")
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def _names(file: str) -> frozenset[str]:
    return frozenset(name for line in _list_lines(file) for name in line.split())


_GIVEN_NAMES = _names("given.txt")
_FAMILY_NAMES = _names("family.txt")
# What follows a given name without being a family name: a place or an institution named
# after a person ("Anna Street", "Maria Hospital"), a month or a day, a sentence's next word.
_PLACE_WORDS = frozenset(
    {
        "Street", "Avenue", "Road", "Lane", "Drive", "Boulevard", "Square", "Place", "Way", "Park",
        "Bridge", "Station", "Airport", "Hospital", "Clinic", "University", "College", "School",
        "Academy", "Institute", "Foundation", "Museum", "Library", "Church", "Cathedral", "Chapel",
        "Hall", "Lodge", "County", "State", "Corporation", "Incorporated", "Festival", "Dynasty",
        "Empire", "Nebula", "Season", "Salad", "Center", "Centre", "Theatre", "Theater", "Stadium",
        "Award", "Awards", "Prize", "Cup", "Trophy", "Bay", "Island", "Islands", "River", "Lake",
        "Mountain", "Valley", "Inc", "Ltd", "Corp", "Group", "Company", "Hotel", "Monday",
        "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "January", "February",
        "March", "April", "May", "June", "July", "August", "September", "October", "November",
        "December", "Syndrome", "Disease", "Effect", "Medal", "Fort", "Union", "Flat", "Flats",
        "Port", "Court", "Crossing", "Gardens", "Heights", "Village", "Springs", "Falls", "Meadows",
        "Terrace", "Manor", "Harbor", "Harbour", "Junction", "Creek", "Grove", "Plaza", "Trail",
        "Loop", "Parkway", "Pass", "Estates", "Shores", "Summit", "Villa", "Ville", "Circle",
        "Mission", "Club"
    }
)  # fmt: skip
_NOT_FAMILY_NAMES = _PLACE_WORDS | _SENTENCE_STARTS
# What comes before a family name without being a given name: articles and determiners of
# the languages whose family names we list (German capitalises the nouns after them: "Der
# Fischer"), place words ("Santa Cruz", "Fort Hamilton"), and words that open a sentence or
# an order ("Ask Patel", "Visit Nowak").
_NOT_GIVEN_NAMES = (
    frozenset(
        {
            "Der", "Die", "Das", "Den", "Dem", "Des", "Ein", "Eine", "Einen", "Einem", "Einer",
            "Mein", "Meine", "Unser", "Unsere", "Kein", "Keine", "Jeder", "Dieser", "Diese", "Im",
            "Am", "Vom", "Zum", "Zur", "Beim", "Und", "Oder", "Aber", "Mit", "Von", "Bei", "Für",
            "Auf", "Aus", "Nach", "Vor", "Über", "Unter", "Le", "La", "Les", "Un", "Une", "Du",
            "De", "Au", "Aux", "Mon", "Ma", "Mes", "El", "Los", "Las", "Una", "Del", "Al", "Mi",
            "Su", "Il", "Lo", "Gli", "Della", "Dei", "Os", "Um", "Uma", "Do", "Da", "Dos",
            "Na", "Van", "Ter", "Het", "Een", "San", "Santa", "Santo", "São", "Saint",
            "St", "Sainte", "Mount", "Mt", "Cape", "New", "North", "South",
            "East", "West", "Upper", "Lower", "Great", "Little", "Old", "Ask", "Call", "Tell",
            "Send", "Email", "Contact", "Meet", "Visit", "Thank", "Thanks", "Please", "Let", "Get",
            "Give", "Have", "Make", "See", "Check", "Message", "Text", "Invite", "Remind", "Help",
            "Ping", "Find", "Show", "Write", "Pay", "Is", "Was", "Are", "Does", "Did", "Has",
            "Will", "Can", "Could", "Would", "Should", "Dear", "Hi", "Hello", "Hey", "Mr", "Mrs",
            "Ms", "Dr", "Professor", "President", "Senator", "Judge", "General", "Captain",
            "Team", "Family", "Mister", "Sir", "Lady", "Lord", "King", "Queen",
            "Prince", "Princess", "Pope", "Chef", "Café", "Cafe", "Restaurant", "Casa",
            "Chez", "Bistro", "Bar", "Pizzeria", "Trattoria", "Klinik", "Praxis",
            "Don", "Doña", "Señor", "Señora", "Hermanos", "Mariscal", "Perito", "Presidente",
            "Again", "Watch", "Also", "Only", "Even", "Just", "Still", "Now", "Today",
            "Yesterday", "Tomorrow", "Municipal", "National", "Federal", "Royal", "Imperial",
            "Eastern", "Western", "Northern", "Southern", "Central", "One", "Two", "Three",
            "Four", "Five", "Where", "Who", "What", "Why", "How", "Not", "Yes",
            "Als", "Viele", "Ihr", "Ihre", "Auch", "Nur", "Wie", "Wenn", "Weil", "Dass", "Herrn",
            "Familie", "Firma", "Avec", "Selon", "Pour", "Par", "Sans", "Maison", "Según",
            "Con", "Para", "Por", "Sin", "Familia", "Tres", "Todos", "Todas", "Seit", "Laut",
            "Restart", "Configure", "Install", "Update", "Run", "Use", "Avoid", "Start", "Stop",
            "Open", "Close", "Enable", "Disable", "Memento", "Yin", "Radio", "Bodegas",
            "Champagne", "Birra", "Tax", "Property", "Department",
            "Resources", "Operations", "Support", "Finance", "Billing", "Sales",
        }
    )
    | _SENTENCE_STARTS
    | _NOT_FIRST_NAMES
    | _PLACE_WORDS
)  # fmt: skip
_PHONE_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "NL")


def find_pii(text: str) -> list[PiiMatch]:
    """The personal data in ``text``, in order, never overlapping.

    Pure and total: any string, lone surrogates included, gives a list; nothing is logged.
    Cost is one pass for anchors, the candidate pattern around them, and a validator per
    candidate.

    >>> find_pii("mail jane.doe@example.org")
    [PiiMatch(type='EMAIL_ADDRESS', start=5, end=25, score=0.95)]
    """
    windows, places = _ANCHORS.windows_and_matches(text, _EXACT)
    found = _search(text, windows.get(_NAMES, ()), _BY_NAMES)
    # An address needs its `@`: most texts have none and skip that alternative.
    by_shapes = _BY_SHAPES if "@" in text else _BY_SHAPES_BUT_EMAIL
    shapes = _search(text, windows.get("", ()), by_shapes, taken=found)
    if shapes:
        found = _merged(found, shapes) if found else shapes
    return _with_places(text, found, places) if places else found


class _Search(NamedTuple):
    """The candidate pattern of a group of branches, and after each branch, the pattern of
    the group's branches that follow it (tried where that branch's validator refused)."""

    pattern: re.Pattern[str]
    after: dict[str, re.Pattern[str] | None]


def _branch_search(branches: tuple[tuple[str, str], ...]) -> _Search:
    return _Search(
        _alternatives(branches),
        {
            name: _alternatives(branches[i + 1 :]) if i + 1 < len(branches) else None
            for i, (name, _) in enumerate(branches)
        },
    )


def _search(
    text: str,
    windows: Sequence[tuple[int, int]],
    search: _Search,
    taken: Sequence[PiiMatch] = (),
) -> list[PiiMatch]:
    """The candidates of `search` in `windows` that their validators accept, in order. A
    candidate starting inside a `taken` match is not tried: the search goes on after that
    match, as one pass of every pattern would ("Anna Lopez Hauptstraße 5" is a name, then a
    street). One starting before a taken match may overlap it, and wins over it in
    `_merged`."""
    found: list[PiiMatch] = []
    starts = [m.start for m in taken]
    for low, high in windows:
        pos = low
        while (m := search.pattern.search(text, pos, high)) is not None:
            inside = bisect.bisect_right(starts, m.start()) - 1
            if inside >= 0 and m.start() < taken[inside].end:
                pos = taken[inside].end
                continue
            match = _confirm(text, m, high, search.after)
            if match is not None:
                found.append(match)
                pos = match.end
            else:
                # A refused candidate may hide one that starts inside it ("Hello Clara R.
                # Dickson" without a comma; "FY24 paid with 4111 ..." refused as an IBAN), but a
                # number run refused whole is skipped whole: searched again from each group it
                # would cost quadratic time and find cards or SSNs inside refused runs.
                run = _NUM_RUN.match(text, m.start(), high)
                pos = max(m.start() + 1, run.end() if run else 0)
    return found


_BY_NAMES = _branch_search(tuple(b for b in _BRANCHES if b[0] in _NAME_BRANCHES))
_BY_SHAPES = _branch_search(tuple(b for b in _BRANCHES if b[0] not in _NAME_BRANCHES))
_BY_SHAPES_BUT_EMAIL = _branch_search(
    tuple(b for b in _BRANCHES if b[0] not in _NAME_BRANCHES and b[0] != "email")
)


def _merged(first: list[PiiMatch], second: list[PiiMatch]) -> list[PiiMatch]:
    """Two ordered lists of disjoint matches as one: where two overlap, the one starting
    first (then the longer) stays."""
    merged: list[PiiMatch] = []
    for match in sorted(first + second, key=lambda m: (m.start, -m.end)):
        if not merged or match.start >= merged[-1].end:
            merged.append(match)
    return merged


def _with_places(
    text: str, found: list[PiiMatch], matches: Sequence[tuple[int, int, Anchor]]
) -> list[PiiMatch]:
    """`found` with the countries, regions and cities of `data/names/places.txt` named in
    `text` (`matches` of their anchors; LOCATION, scored 0.4: a place alone identifies no
    one, so the default `min_score` leaves it in the text), where no other finding is."""
    places: list[PiiMatch] = []
    taken = -1
    for start, end, _ in sorted(matches, key=lambda match: (match[0], -match[1])):
        if start >= taken and _standalone_place(text, start, end):
            if text.startswith(" City", end):
                end += 5  # "New York City"
            places.append(PiiMatch("LOCATION", start, end, 0.4))
            taken = end
    if not places:
        return found
    starts = [m.start for m in found]
    for place in places:
        index = bisect.bisect_left(starts, place.start)
        if (index == 0 or found[index - 1].end <= place.start) and (
            index == len(found) or place.end <= found[index].start
        ):
            found.insert(index, place)
            starts.insert(index, place.start)
    return found


def _standalone_place(text: str, start: int, end: int) -> bool:
    """A place's name stands alone: not inside a word, not followed by another capitalised
    word ("Paris Hilton", "Texas Instruments"; "Mexico City" is listed whole), not after a
    capitalised word inside a sentence ("flew Air France")."""
    if (start and (text[start - 1].isalnum() or text[start - 1] in "-_.@/")) or (
        end < len(text) and (text[end].isalnum() or text[end] in "_@/")
    ):
        return False
    if _CAPITALISED_NEXT.match(text, end):
        return False
    before = _CAPITALISED_BEFORE.search(text, max(0, start - 40), start)
    return before is None or not before.group(1)


def _confirm(
    text: str, m: re.Match[str], high: int, after: dict[str, re.Pattern[str] | None]
) -> PiiMatch | None:
    """The first alternative at ``m``'s position that its validator accepts."""
    candidate: re.Match[str] | None = m
    while candidate is not None:
        kind = candidate.lastgroup  # the outermost group: `person`, never its inner `name`
        if kind is None:
            return None
        match = _VALIDATORS[kind](text, candidate)
        rest = after[kind]
        if match is not None or rest is None:
            return match
        candidate = rest.match(text, candidate.start(), high)
    return None


def _name_anchors(names: frozenset[str], before: int, after: int) -> list[Anchor]:
    """An anchor for each name: the name itself when it is Latin-1, else its longest Latin-1
    run ("Wi" and "niewski" of "Wiśniewski": the latter, with the reach widened by what it
    leaves out; a name without a run of three is not anchored)."""
    anchors = []
    for name in sorted(names):
        if _LATIN_1.fullmatch(name):
            anchors.append(Anchor(f"{name} " if before == 0 else name, before, after, group=_NAMES))
            continue
        run = max(_LATIN_1.findall(name), key=len, default="")
        if len(run) >= 3:
            reach = (before + name.find(run), after + len(name))
            anchors.append(Anchor(run, *reach, group=_NAMES))
    return anchors


_LATIN_1 = re.compile("[\x00-\xff]+")
_PLACES = tuple(_list_lines("places.txt"))  # one place a line: "Papua New Guinea"
_CAPITALISED_NEXT = re.compile(r"[ \t]+(?!City\b)[A-Z][A-Za-z]")
# A capitalised word right before a place, and (group 1) what precedes that word when it is
# not the start of a sentence or a line.
_CAPITALISED_BEFORE = re.compile(
    r"(?:([^\s.!?:;\"'(])[ \t]+|^|[.!?:;\n\"'(][ \t]*)[A-Z][\w'-]*[ \t]+\Z"
)


# Every candidate holds an anchor: an `@`, a digit or colon, a weekday, or a name cue ("my
# name is", "Dear", "Mr"); the reach is the longest way a candidate extends before it (an email's
# local part, "Friedrichstraße " before a house number) and after it (a domain, three names
# and a street type).
_ANCHORS = AnchorScanner(
    [
        Anchor("@", 66, 260),
        Anchor("[0-9]", 40, 96),
        # An IPv6 address without a digit still has `::` or a run of hex groups.
        Anchor("::", 40, 96),
        Anchor("[a-fA-F]:[a-fA-F]", 40, 96),
        *(
            Anchor(cue, 0, 140, caseless=True, group=_NAMES)
            for cue in ("my name", "full name", "name:")
        ),
        *(Anchor(cue, 0, 140, group=_NAMES) for cue in _TITLES),
        # The scan sees other characters as `?`: "I?m " finds "I\u2019m ".
        *(
            Anchor(f"{cue} ".encode("latin-1", "replace").decode("latin-1"), 0, 80, group=_NAMES)
            for cue in _INTRODUCTIONS
        ),
        *(
            Anchor(f"{owner} {kin} ", 0, 80, caseless=True, group=_NAMES)
            for owner in ("my", "our")
            for kin in _KIN_WORDS
        ),
        # "Kind regards,": the closing's first word lies before the anchor.
        *(Anchor(cue, 12, 80, caseless=True, group=_NAMES) for cue in _SIGNOFFS),
        # A greeting's name is capitalised: "Hi team," costs nothing. (`?` stands for the
        # capitals past Latin-1: "Hi Łukasz".)
        *(
            Anchor(f"{cue}{blank}[A-ZÀ-Þ?]", 0, 60, group=_NAMES)
            for cue in sorted(_GREETINGS)
            for blank in (" ", "  ", "\t")
        ),
        Anchor(" [A-Z]. ", 40, 60, group=_NAMES),
        # Literal anchors: with a `[A-Z]` class after each of 369 names, compiling the
        # database took 125 MB at its peak (make bench's RSS row).
        *_name_anchors(_GIVEN_NAMES, 0, 60),
        # A family name's candidate starts at the given name before it.
        *_name_anchors(_FAMILY_NAMES - _GIVEN_NAMES, 24, 24),
        *(Anchor(day, 0, 0, caseless=True) for day in _WEEKDAYS),
        # Listed places are found by their anchors' matches alone: no pattern, no window.
        *(Anchor(place, 0, 0, group=_PLACE) for place in _PLACES),
    ]
)


def _email(text: str, m: re.Match[str]) -> PiiMatch | None:
    local = m.group("email").split("@", 1)[0]
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return None
    return PiiMatch("EMAIL_ADDRESS", m.start(), m.end(), 0.95)


def _person(text: str, m: re.Match[str]) -> PiiMatch | None:
    name = m.group("name")
    first = name.split(" ", 1)[0]
    if m.group("known"):
        # The name ends before a word that is no name ("my brother George Was Here"), and
        # must then be one we know: a listed given name first or family name last.
        words = name.split(" ")
        cut = next((i for i, word in enumerate(words[1:], 1) if word in _NOT_GIVEN_NAMES), None)
        words = words[:cut]
        if first not in _GIVEN_NAMES and words[-1].split("-")[0] not in _FAMILY_NAMES:
            return None
        if first in _NOT_GIVEN_NAMES:
            return None
        # A closing's name ends its line or sentence ("Regards,\nAnna"; not "Thanks, Anna
        # and Tom will follow up").
        if m.group("signoff") and not _NAME_ENDS.match(text, m.end("name")):
            return None
        end = m.start("name") + len(" ".join(words))
        return PiiMatch("PERSON", m.start("name"), end, 0.6 if m.group("intro") else 0.7)
    cue = m.group("person").split(" ", 1)[0]
    if (cue == "Dear" or cue in _GREETINGS) and first in _DEAR_NOT_NAMES:
        return None
    # A greeting names its addressee only when a comma or `!` closes it ("Hi Anna,").
    if cue in _GREETINGS and text[m.end("name") : m.end("name") + 1] not in (",", "!"):
        return None
    return PiiMatch("PERSON", m.start("name"), m.end("name"), 0.7)


_NAME_ENDS = re.compile(r"[ \t]*(?:$|[\r\n.,!;:])")


def _initialed(text: str, m: re.Match[str]) -> PiiMatch | None:
    words = m.group().split(" ")
    # "World War I. After the war", "Hepatitis B. Symptoms include": an item, then a sentence.
    if words[0] in _NOT_FIRST_NAMES or words[-1].split("-")[0] in _SENTENCE_STARTS:
        return None
    return PiiMatch("PERSON", m.start(), m.end(), 0.6)


_HOUSE_NUMBER = re.compile(r",?\ \d{1,4}[a-z]?\b")


def _given(text: str, m: re.Match[str]) -> PiiMatch | None:
    first, _, family = m.group().partition(" ")
    surname = family.split("-")[0]
    if surname in _NOT_FAMILY_NAMES:
        return None
    if first not in _GIVEN_NAMES:
        # "Zbigniew Kowalski": a family name we know makes the word before it a given name,
        # unless that word is an article, a place word or an order ("Der Fischer", "Santa
        # Cruz", "Ask Patel"), or an institution follows ("Johns Hopkins University").
        if surname not in _FAMILY_NAMES or first in _NOT_GIVEN_NAMES:
            return None
        after = _NEXT_WORD.match(text, m.end())
        if after is not None and after.group(1) in _PLACE_WORDS:
            return None
    if text[max(0, m.start() - _BEFORE_REACH) : m.start()].endswith(_BEFORE_NOT_A_NAME):
        return None  # "San Mateo County", "Santa Ana Winds", "Hurricane Katrina Relief"
    if _HOUSE_NUMBER.match(text, m.end()):
        return None  # "Peter Zuidhove 188": a street named after a person
    # A family name alone says less: the word before it may open a sentence in a language
    # we list no words of, or name a firm ("Maruti Suzuki"). Reported, not masked by default.
    return PiiMatch("PERSON", m.start(), m.end(), 0.6 if first in _GIVEN_NAMES else 0.45)


_NEXT_WORD = re.compile(r"\ ([A-Z][a-z]+)")


def _street(text: str, m: re.Match[str]) -> PiiMatch | None:
    return PiiMatch("LOCATION", m.start(), m.end(), 0.7)


def _date(text: str, m: re.Match[str]) -> PiiMatch | None:
    value = m.group()
    numbers = re.findall(r"\d+", value)
    if "年" in value:
        day = numbers[2] if len(numbers) == 3 else "1"
        if not _calendar_date(f"{numbers[0]}-{numbers[1]}-{day}"):
            return None
        score = 0.55 if len(numbers) == 3 else 0.4
    elif value[0].isdigit() and not _MONTH_WORD.search(value):
        if not _calendar_date(value):
            return None
        if _VERSION_BEFORE.search(text, max(0, m.start() - 12), m.start()):
            return None
        score = 0.55
    elif len(numbers) == 2 and not 1 <= int(numbers[0]) <= 31:
        return None
    else:
        score = 0.55 if len(numbers) == 2 else 0.4  # a month and year name no day
    if _context(text, m.start(), _DOB_WORDS):
        score = 0.85
    end = m.end() - 1 if _SENTENCE_DOT.search(value) else m.end()
    return PiiMatch("DATE_TIME", m.start(), end, score)


_NUMERIC_DATE = re.compile(r"(\d+)([/.-])(\d+)[/.-](\d+)(?:[T ](\d+):(\d+)(?::(\d+))?)?")


def _calendar_date(value: str) -> bool:
    """True when a numeric date names a real day (year first, or day and month in either
    order) at a real time; a two-digit year only as ``1/2/99`` or ``01-02-99``."""
    import datetime

    m = _NUMERIC_DATE.match(value)
    if m is None:
        return False
    first, sep, second, third = m.group(1), m.group(2), m.group(3), m.group(4)
    if value.count(sep, 0, m.end(4)) != 2:
        return False  # "12/03-1985": mixed separators
    clock = [int(g) for g in m.group(5, 6, 7) if g is not None]
    if clock and not (clock[0] < 24 and all(part < 60 for part in clock[1:])):
        return False
    if len(first) == 4:
        orders = [(int(first), int(second), int(third))]
    else:
        year = int(third)
        if len(third) == 2:
            if sep != "/" and (len(first), len(second)) != (2, 2):
                return False
            year += 1900 if year > 30 else 2000
        elif len(third) != 4:
            return False
        orders = [(year, int(second), int(first)), (year, int(first), int(second))]
    for year, month, day in orders:
        if not 1000 <= year <= 2999:
            continue
        try:
            datetime.date(year, month, day)
        except ValueError:
            continue
        return True
    return False


_MONTH_WORD = re.compile(r"[^\W\d_]{2}")
# A full month name's period ends the sentence ("on 3 March."); an abbreviation keeps its own.
_SENTENCE_DOT = re.compile(
    r"(?i:january|february|march|april|may|june|july|august|september|october|november"
    r"|december)\.$"
)


# What counts follow ("in 2048 bytes", "to 1500 users"): the number is no year then.
_COUNTED = re.compile(
    r"[ \t]*(?:%|(?i:bytes?|[kmgt]i?b|ms|px|km|kg|items?|rows?|users?|people|employees|units"
    r"|dollars|euros|times|words|points|lines|records|requests|pages|hours|minutes|seconds"
    r"|days|copies|calories|members|tokens|characters|steps|miles|meters|metres|feet)\b)"
)


def _year(text: str, m: re.Match[str]) -> PiiMatch | None:
    value = m.group()
    if _COUNTED.match(text, m.end()):
        return None
    # After "the" only a decade ("the 1990s"), not a count ("the 2000 employees").
    if text[max(0, m.start() - 4) : m.start()].lower() == "the " and not value.endswith("0s"):
        return None
    born = not value.endswith("s") and _BORN_BEFORE_YEAR.search(
        text, max(0, m.start() - 24), m.start()
    )
    return PiiMatch("DATE_TIME", m.start(), m.end(), 0.85 if born else 0.4)


def _weak_date(text: str, m: re.Match[str]) -> PiiMatch | None:
    """A weekday or a time of day alone: a date, but seldom one that identifies anyone."""
    return PiiMatch("DATE_TIME", m.start(), m.end(), 0.4)


def _ip(text: str, m: re.Match[str]) -> PiiMatch | None:
    value = m.group()
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if address.version == 4:
        if _VERSION_BEFORE.search(text, max(0, m.start() - 12), m.start()):
            return None
    elif sum(1 for part in value.split(":") if part) < 3:
        return None  # "::1", "fe80::1" and "a::b"-like tokens: too often code, too short to leak
    return PiiMatch("IP_ADDRESS", m.start(), m.end(), 0.8 if address.is_global else 0.4)


_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24,
    "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_BECH32_CONSTANTS = (1, 0x2BC830A3)  # bech32 (SegWit v0) and bech32m (v1 and later)


def _crypto(text: str, m: re.Match[str]) -> PiiMatch | None:
    value = m.group()
    if value.startswith("0x"):
        return _ethereum(m)
    valid = _bech32(value.lower()) if value[:3].lower() == "bc1" else _base58check(value)
    return PiiMatch("CRYPTO", m.start(), m.end(), 0.95) if valid else None


# A checksum costs a Keccak-256 in Python, about 0.25 ms: past this many `0x` before an
# address in one text, it is reported unchecked (0.7), so a text of addresses costs at most
# this many digests (8 ms), not one each.
_MAX_CHECKED_ADDRESSES = 32


def _ethereum(m: re.Match[str]) -> PiiMatch | None:
    """An Ethereum address: with both cases, only where they spell its EIP-55 checksum (0.95);
    in one case, which carries no checksum, 0.7."""
    digits = m.group()[2:]
    if digits.islower() or digits.isupper() or digits.isdigit():
        return PiiMatch("CRYPTO", m.start(), m.end(), 0.7)
    if _checked_before(m.string, m.start()) >= _MAX_CHECKED_ADDRESSES:
        return PiiMatch("CRYPTO", m.start(), m.end(), 0.7)
    from wardgate.detect.keccak import keccak256

    digest = keccak256(digits.lower().encode()).hex()
    expected = "".join(
        c.upper() if c.isalpha() and int(digest[i], 16) >= 8 else c.lower()
        for i, c in enumerate(digits)
    )
    return PiiMatch("CRYPTO", m.start(), m.end(), 0.95) if expected == digits else None


def _checked_before(text: str, end: int) -> int:
    """How many `0x` come before `end`, counted up to `_MAX_CHECKED_ADDRESSES` only: a count of
    the whole prefix for each of a thousand addresses would cost more than their checks."""
    position = 0
    for count in range(_MAX_CHECKED_ADDRESSES):
        position = text.find("0x", position, end)
        if position < 0:
            return count
        position += 2
    return _MAX_CHECKED_ADDRESSES


def _base58check(value: str) -> bool:
    """A Bitcoin P2PKH or P2SH address: 25 bytes whose last 4 are their double SHA-256."""
    import hashlib

    number = 0
    for character in value:
        number = number * 58 + _BASE58.index(character)
    zeros = len(value) - len(value.lstrip("1"))
    raw = b"\0" * zeros + number.to_bytes((number.bit_length() + 7) // 8, "big")
    if len(raw) != 25 or raw[0] not in (0, 5):
        return False
    return hashlib.sha256(hashlib.sha256(raw[:-4]).digest()).digest()[:4] == raw[-4:]


def _bech32(address: str) -> bool:
    """A `bc1` address whose BCH checksum holds (BIP 173 and 350)."""
    human, _, data = address.rpartition("1")
    if human != "bc" or len(data) < 7:
        return False
    values = [ord(c) >> 5 for c in human] + [0] + [ord(c) & 31 for c in human]
    values += [_BECH32.index(c) for c in data]
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for bit, generator in enumerate(_BECH32_GENERATOR):
            if top >> bit & 1:
                checksum ^= generator
    return checksum in _BECH32_CONSTANTS


def _iban(text: str, m: re.Match[str]) -> PiiMatch | None:
    value = m.group()
    length = _IBAN_LENGTHS.get(value[:2].upper())
    if length is None:
        return None
    end = m.start()
    kept = 0
    # The pattern may run into a following word ("... 00 AND"): keep the country's length.
    for end in range(m.start(), m.end()):
        if text[end] != " ":
            kept += 1
            if kept == length:
                break
    end += 1
    if kept < length or (end < len(text) and text[end].isalnum()):
        return None
    compact = text[m.start() : end].replace(" ", "").upper()
    rearranged = compact[4:] + compact[:4]
    if int("".join(str(int(c, 36)) for c in rearranged)) % 97 != 1:
        return None
    return PiiMatch("IBAN_CODE", m.start(), end, 0.95)


def _natid(text: str, m: re.Match[str]) -> PiiMatch | None:
    value = m.group().replace("-", "")
    if len(value) == 16:
        kind, module = "IT_FISCAL_CODE", _stdnum("it.codicefiscale")
    elif value[0] in "XYZ" and value[1:8].isdigit() and len(value) == 9 and value[8].isalpha():
        kind, module = "ES_NIE", _stdnum("es.nie")
    elif value[:8].isdigit():
        kind, module = "ES_NIF", _stdnum("es.dni")
    else:
        if _context(text, m.start(), _PASSPORT_WORDS):
            return PiiMatch("US_PASSPORT", m.start(), m.end(), 0.6)
        return None
    if not module.is_valid(value):
        return None
    return PiiMatch(kind, m.start(), m.end(), 0.9)


def _num(text: str, m: re.Match[str]) -> PiiMatch | None:
    raw = m.group()
    start, end = m.start(), m.end()
    if extension := _EXTENSION.search(raw):
        if phone := _phone(text, start, end, raw[: extension.start()]):
            return phone
        raw = raw[: extension.start()]  # "4111111111111111 x 2": a card and a quantity
        end = start + len(raw)
    digits = "".join(c for c in raw if c.isdigit())
    if len(digits) < 7:
        return None
    if raw[0] != "+" and (kind := _card(raw, digits)):
        return PiiMatch(kind, start, end, 0.95)
    if len(digits) == 9 and _ssn_shape(raw) and _ssn_valid(digits):
        score = 0.95 if _context(text, start, _SSN_WORDS) else 0.85
        return PiiMatch("US_SSN", start, end, score)
    if raw[0] not in "+(" and (kind := _context_id(text, start, raw, digits)):
        return PiiMatch(kind, start, end, 0.6 if kind == "US_PASSPORT" else 0.85)
    return _phone(text, start, end, raw)


def _card(raw: str, digits: str) -> str | None:
    groups = re.split(r"[ -]", raw)
    shape = tuple(len(g) for g in groups)
    if len(groups) > 1 and (
        len(set(c for c in raw if not c.isdigit())) != 1
        or shape not in {(4, 4, 4, 4), (4, 4, 4, 4, 3), (4, 6, 5), (4, 6, 4), (4, 4, 4, 2)}
    ):
        return None
    if not raw.replace(" ", "").replace("-", "").isdigit():
        return None
    if not _issuer_known(digits) or len(set(digits)) == 1 or not _luhn(digits):
        return None
    return "CREDIT_CARD"


_MAESTRO = frozenset({5018, 5020, 5038, 5893, 6304, 6759, 6761, 6762, 6763})


def _issuer_known(d: str) -> bool:
    n = len(d)
    two, three, four = int(d[:2]), int(d[:3]), int(d[:4])
    return (
        (d[0] == "4" and n in (13, 16, 19))
        or ((51 <= two <= 55 or 2221 <= four <= 2720) and n == 16)
        or (two in (34, 37) and n == 15)
        or ((four == 6011 or two == 65 or 644 <= three <= 649) and 16 <= n <= 19)
        or (3528 <= four <= 3589 and 16 <= n <= 19)
        or (four in (1800, 2131) and n == 15)
        or (four in _MAESTRO and 12 <= n <= 19)
        or (two == 62 and 16 <= n <= 19)
        or ((300 <= three <= 305 or two in (36, 38)) and 14 <= n <= 19)
    )


def _luhn(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


_SSN_SHAPE = re.compile(r"\d{3}([- ])\d{2}\1\d{4}")


def _ssn_shape(raw: str) -> bool:
    return _SSN_SHAPE.fullmatch(raw) is not None


def _ssn_valid(digits: str) -> bool:
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return (
        area not in ("000", "666")
        and area[0] != "9"
        and group != "00"
        and serial != "0000"
        and digits not in ("123456789", "078051120", "219099999")
    )


def _context_id(text: str, start: int, raw: str, digits: str) -> str | None:
    """National ids that are only digits: their checksums pass for about one random number
    in ten, so the value counts only right after a word naming it."""
    n = len(digits)
    if n == 9 and raw.isdigit():
        if _context(text, start, _SSN_WORDS) and _ssn_valid(digits):
            return "US_SSN"
        if _context(text, start, _PASSPORT_WORDS):
            return "US_PASSPORT"
        if _context(text, start, _BSN_WORDS) and _stdnum("nl.bsn").is_valid(digits):
            return "NL_BSN"
    elif n == 11 and _context(text, start, _DE_TAX_WORDS):
        if _stdnum("de.idnr").is_valid(digits):
            return "DE_TAX_ID"
    elif n == 15 and _context(text, start, _NIR_WORDS):
        if _stdnum("fr.nir").is_valid(digits):
            return "FR_NIR"
    elif n == 10 and _context(text, start, _NHS_WORDS) and _stdnum("gb.nhs").is_valid(digits):
        return "UK_NHS"
    return None


_EXTENSION = re.compile(r"\ ?(?i:x|ext\.?)\ ?\d+$")
# Shapes distinctive enough to be phones with no word around them: North American numbers
# written with their usual separators. Space-separated groups are left to context, as
# they are also how amounts, ids and codes get printed.
_NANP_SHAPE = re.compile(r"\(\d{3}\)\ ?\d{3}-\d{4}|\d{3}-\d{3}-\d{4}|\d{3}\.\d{3}\.\d{4}")
_PHONE_AFTER = re.compile(r"[ \t]*-?[ \t]*(?i:office|fax|mobile|cell|tel|phone)(?!\w)")


def _phone(text: str, start: int, end: int, raw: str) -> PiiMatch | None:
    import phonenumbers

    digits = "".join(c for c in raw if c.isdigit())
    if len(digits) < 7:
        return None
    if raw.startswith("+") or raw.startswith("00"):
        candidates: tuple[tuple[str, str | None], ...] = (("+" + raw.lstrip("+0"), None),)
        score = 0.85
        if raw.startswith("00"):
            candidates = (("+" + digits[2:], None),)
    elif _context(text, start, _PHONE_WORDS) or _PHONE_AFTER.match(text, end):
        candidates = tuple((raw, region) for region in _PHONE_REGIONS)
        score = 0.75
    elif _NANP_SHAPE.fullmatch(raw):
        candidates = ((raw, "US"),)
        score = 0.6
    else:
        return None
    for number, region in candidates:
        try:
            parsed = phonenumbers.parse(number, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return PiiMatch("PHONE_NUMBER", start, end, score)
    return None


@cache
def _stdnum(name: str) -> ModuleType:
    import importlib

    return importlib.import_module(f"stdnum.{name}")


_VALIDATORS = {
    "email": _email,
    "person": _person,
    "initialed": _initialed,
    "given": _given,
    "street": _street,
    "date": _date,
    "cjk_date": _date,
    "weekday": _weak_date,
    "clock": _weak_date,
    "year": _year,
    "ipv4": _ip,
    "ipv6": _ip,
    "crypto": _crypto,
    "iban": _iban,
    "natid": _natid,
    "num": _num,
}
