"""Stage 1: a question as tokens — lower-cased words with their stems, numbers, and quoted literals."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from tabletalk.core.nlq.lexicon import stem

NUMBER_WORDS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "twenty": 20, "hundred": 100, "single": 1}
# Common abbreviations in column names, read as the words they stand for.
ABBREVIATIONS = {"fname": ("first", "name"), "lname": ("last", "name"), "dob": ("date", "of", "birth"),
                 "qty": ("quantity",), "num": ("number",), "no": ("number",), "stu": ("student",), "desc": ("description",),
                 "addr": ("address",), "amt": ("amount",), "dept": ("department",), "emp": ("employee",),
                 "mpg": ("miles", "per", "gallon"), "yn": (), "dt": ("date",), "nbr": ("number",)}
NOT_CODES = {"the", "and", "for", "with", "how", "what", "who", "are", "not", "all", "usa", "list", "show", "find", "give",
             "name", "names", "id", "ids"}
_QUOTED = re.compile(r"``\s*(.+?)\s*''|\"([^\"]+)\"|“([^”]+)”|(?<![a-z])'([^']+)'(?![a-z])|`([^`]+)`")


@dataclass
class Token:
    i: int
    text: str          # lower-cased surface form
    stem: str          # crude singular
    number: float | None = None
    literal: str | None = None  # the original spelling of a quoted literal


@lru_cache(maxsize=65_536)
def lemma(word: str) -> str:
    """A crude singular that also folds 'ies'/'es' plurals: stem() plus a few irregular forms."""
    w = word.lower()
    return {"people": "person", "men": "man", "women": "woman", "children": "child", "countries": "country",
            "data": "data", "series": "series", "ids": "id", "has": "has", "was": "was", "is": "is"}.get(w) or stem(w)


def tokenize(question: str) -> list[Token]:
    """Tokens of a question; quoted strings become single literal tokens with their original case."""
    text = question.replace("’", "'").replace("‘", "'").strip()
    out: list[Token] = []
    pos = 0
    for m in _QUOTED.finditer(text):
        _words(text[pos:m.start()], out)
        lit = next(g for g in m.groups() if g is not None).strip()
        out.append(Token(len(out), lit.lower(), lit.lower(), literal=lit))
        pos = m.end()
    _words(text[pos:], out)
    return out


def _words(chunk: str, out: list[Token]) -> None:
    codes = set(re.findall(r"\b[A-Z]{3,5}\b", chunk))  # "flights from APG": a code, spelled as written
    chunk = re.sub(r"(?<=\w)'s\b|(?<=s)'(?=\s|$)", "", chunk.lower())
    chunk = re.sub(r"(?<=\d),(?=\d{3})", "", chunk)
    for m in re.finditer(r"\d+(?:\.\d+)?|[a-z][a-z0-9_]*(?:-[a-z0-9]+)*|,", chunk):
        w = m.group(0)
        if w == ",":
            out.append(Token(len(out), ",", ","))
        elif w[0].isdigit():
            out.append(Token(len(out), w, w, number=float(w)))
        elif w in NUMBER_WORDS:
            out.append(Token(len(out), w, w, number=float(NUMBER_WORDS[w])))
        elif w.upper() in codes and w not in NOT_CODES:
            out.append(Token(len(out), w, w, literal=w.upper()))
        else:
            out.append(Token(len(out), w, lemma(w)))


@lru_cache(maxsize=65_536)
def root(word: str) -> str:
    """A verb or noun root for loose matching: arriving, arrived, arrival → arriv; departure → depart."""
    for suffix in ("ing", "ed", "ure", "al", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def name_words(name: str) -> tuple[str, ...]:
    """The words of a schema name, stemmed: 'Song_release_year' → (song, release, year); 'LName' → (last, name)."""
    if name.lower() in ABBREVIATIONS:
        return ABBREVIATIONS[name.lower()]
    parts = re.split(r"[_\W]+|(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", name)
    words: list[str] = []
    for p in parts:
        low = p.lower()
        if not low:
            continue
        if low in ABBREVIATIONS:
            words.extend(ABBREVIATIONS[low])
        elif low.endswith("id") and len(low) > 2 and low[:-2] in ABBREVIATIONS:
            words.extend([*ABBREVIATIONS[low[:-2]], "id"])
        else:
            words.append(lemma(low))
    return tuple(words)
