"""Plain measures of how a narrative reads: Flesch reading ease, repeated stock phrases, variety.

Flesch reading ease (Flesch 1948, "A new readability yardstick", Journal of
Applied Psychology 32) is ``206.835 - 1.015 * words/sentences - 84.6 *
syllables/words``; 60-70 is plain English, 30-50 college level. The formula is
written here rather than taken from ``textstat`` because textstat counts
syllables with the CMU pronouncing dictionary, which it fetches at run time;
this kit must run offline. Syllables are counted with the usual written-English
rule instead (groups of vowels, less a silent final ``e``, plus a syllabic
``-le``), which is within a syllable of the dictionary on almost every word of
a referral; the tests check it against hand counts.

Examples
--------
>>> syllables("referral"), syllables("the"), syllables("little"), syllables("made")
(3, 1, 2, 1)
>>> round(flesch_reading_ease("The cat sat on the mat."), 1)
116.1
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

__all__ = ["CONNECTIVES", "connective_counts", "flesch_reading_ease", "syllables", "trigram_ratio", "words"]

#: Linking phrases whose repetition makes a text read as generated. A narrative uses none more than twice.
CONNECTIVES = (
    "also", "however", "by contrast", "on the other hand", "in addition", "as well", "meanwhile",
    "moreover", "furthermore", "which is reassuring", "has seen the same", "on the positive side",
    "points to a strength", "confirms this", "says the same", "the same concern", "a similar account",
    "the same pattern", "this matches what", "backs this up", "sees it differently", "another view",
    "a different view", "does not share this worry", "shares the worries", "the same concerns",
    "for the same reasons", "the same problems", "a matching account", "has its own records",
    "has seen for itself",
)

_WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*")
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")
_VOWELS = re.compile(r"[aeiouy]+")


def words(text: str) -> list[str]:
    """The words of ``text`` (letters, with inner apostrophes), numbers left out."""
    return _WORD.findall(text)


def syllables(word: str) -> int:
    """Syllables in one English word, by the written-vowel rule (at least 1)."""
    w = word.lower().replace("’", "'").split("'")[0]
    if not w:
        return 1
    count = len(_VOWELS.findall(w))
    if w.endswith("e") and not w.endswith(("le", "ee", "ye")) and count > 1:
        count -= 1  # silent final e: made, home, once
    elif w.endswith("le") and len(w) > 2 and w[-3] not in "aeiouy" and count > 1:
        pass  # syllabic -le is its own vowel group already: lit-tle, ta-ble
    if w.endswith("ed") and len(w) > 3 and w[-3] not in "tdaeiouy" and count > 1:
        count -= 1  # -ed is not a syllable after most consonants: moved, asked
    return max(1, count)


def flesch_reading_ease(text: str) -> float:
    """Flesch reading ease of ``text`` (higher reads more easily)."""
    ws = words(text)
    n_sentences = max(1, len(_SENTENCE_END.findall(text)))
    if not ws:
        return 0.0
    n_syllables = sum(syllables(w) for w in ws)
    return 206.835 - 1.015 * len(ws) / n_sentences - 84.6 * n_syllables / len(ws)


def connective_counts(text: str) -> Counter[str]:
    """How often each of :data:`CONNECTIVES` appears in ``text``, as whole words."""
    low = text.lower()
    return Counter({c: n for c in CONNECTIVES if (n := len(re.findall(rf"\b{re.escape(c)}\b", low)))})


def trigram_ratio(texts: Iterable[str]) -> float:
    """Distinct word trigrams over all trigrams, across ``texts`` (1 = no three words ever repeat)."""
    grams: list[tuple[str, str, str]] = []
    for text in texts:
        ws = [w.lower() for w in words(text)]
        grams.extend(zip(ws, ws[1:], ws[2:], strict=False))
    return len(set(grams)) / len(grams) if grams else 1.0
