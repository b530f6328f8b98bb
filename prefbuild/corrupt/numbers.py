"""Numbers as written: find them, read their surface form, and write a new value in the same form.

A number's span covers its digits, thousands separators and decimal part only; a sign, currency symbol, percent
sign or unit around it is outside the span and therefore never touched. A new value keeps the original's form:
integer stays integer, the same number of decimal places, the same thousands separator when the original had one
(`1,250`, or LaTeX's `60,\\!000` and `18{,}360`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

# ASCII digits only (`\d` would also match Arabic-Indic and other digits). Not glued to a letter, digit or
# decimal point on either side (`3x`, `2nd`, `x2`, `v1.2.3` are not numbers we change), except for a short unit
# written against the number: `300m`, `5kg`, `2pm`.
# Thousands separators: `,`, and LaTeX's `,\!` and `{,}` (`60,\!000`, `18{,}360`).
SEPARATOR = r"(?:,|,\\!|\{,\})"
DIGITS = rf"(?:[0-9]{{1,3}}(?:{SEPARATOR}[0-9]{{3}})+(?![0-9])|[0-9]+)(?:\.[0-9]+)?"
GLUED_UNIT = r"(?:km|cm|mm|m|kg|mg|g|lbs|lb|oz|ft|mi|mph|ml|hrs|hr|h|min|pm|am|k)(?![0-9A-Za-z_])"
NUMBER_END = rf"(?!\.[0-9]|{SEPARATOR}[0-9]{{3}})(?={GLUED_UNIT}|[^0-9A-Za-z_]|\Z)"
NUMBER = re.compile(rf"(?<![0-9A-Za-z_.,]){DIGITS}{NUMBER_END}")
# A written number longer than this (digits, separators and point) is never a candidate and never converted to
# an int: Python refuses int(str) past 4,300 digits, and no calculation result in MetaMathQA comes near it.
MAX_NUMBER_CHARS = 100


def written_value(text: str) -> Fraction | None:
    """The exact value of a written number (`1,250.5`, `60,\\!000`), or None when it is longer than allowed."""
    if len(text) > MAX_NUMBER_CHARS:
        return None
    whole, _, decimals = _plain(text).partition(".")
    if not decimals.strip("0"):
        return int(whole)  # type: ignore[return-value]  # hashes and compares as the equal Fraction, faster
    return Fraction(int(whole + decimals), 10 ** len(decimals))


def _plain(text: str) -> str:
    if "\\" in text or "{" in text:
        text = text.replace("\\!", "").replace("{,}", ",")
    return text.replace(",", "")


@dataclass(frozen=True)
class NumberForm:
    """The written form of a non-negative number: `1,250.50` → scaled=125050, decimals=2, commas=True."""

    scaled: int  # the value times 10**decimals
    decimals: int
    commas: bool
    separator: str = ","  # the thousands separator as written: ",", ",\\!" or "{,}"

    @classmethod
    def parse(cls, text: str) -> NumberForm:
        """The form of a written number; raises ValueError past `MAX_NUMBER_CHARS` (never a slow int())."""
        if len(text) > MAX_NUMBER_CHARS:
            raise ValueError(f"number longer than {MAX_NUMBER_CHARS} characters")
        if cls is NumberForm:
            return _parse_form(text)  # the same few numbers recur in every row; the form is immutable, so shared
        return cls._parse(text)

    @classmethod
    def _parse(cls, text: str) -> NumberForm:
        whole, _, fraction = text.partition(".")
        commas = "," in whole
        separator = "{,}" if "{,}" in whole else ",\\!" if ",\\!" in whole else ","
        return cls(int(_plain(whole) + fraction), len(fraction), commas, separator)

    @property
    def value(self) -> float:
        return self.scaled / 10**self.decimals

    def with_scaled(self, scaled: int) -> str:
        """`scaled` written in this form."""
        whole, fraction = divmod(scaled, 10**self.decimals)
        text = f"{whole:,}" if self.commas else str(whole)
        if self.commas and self.separator != ",":
            text = text.replace(",", self.separator)
        if self.decimals:
            text += "." + str(fraction).zfill(self.decimals)
        return text

    def scaled_of(self, value: float) -> int | None:
        """`value` in this form's units when it is representable exactly there (within float noise), else None."""
        scaled = value * 10**self.decimals
        nearest = round(scaled)
        return nearest if abs(scaled - nearest) < 1e-6 * max(1.0, abs(scaled)) else None


@lru_cache(maxsize=4096)  # keys are at most MAX_NUMBER_CHARS characters: a few hundred KiB at most
def _parse_form(text: str) -> NumberForm:
    return NumberForm._parse(text)


def matches_result(value: float, written: NumberForm, percent: bool = False) -> bool:
    """Whether a computed value is the written result, allowing rounding to the written decimal places.

    `12/60 = 0.2`, `100/3 = 33.33` and `10/3 = 3` (people round) match; with a percent sign after the result,
    `10/50 = 20%` (value 0.2) matches as well as `10/50*100 = 20%`.
    """
    tolerance = 0.5 * 10.0**-written.decimals + 1e-9 * abs(written.value)
    if abs(value - written.value) <= tolerance:
        return True
    return percent and abs(value * 100 - written.value) <= tolerance
