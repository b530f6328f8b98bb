"""Numbers as written: find them, read their surface form, and write a new value in the same form.

A number's span covers its digits, thousands commas and decimal part only; a sign, currency symbol, percent sign
or unit around it is outside the span and therefore never touched. A new value keeps the original's form:
integer stays integer, the same number of decimal places, thousands commas when the original had them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# ASCII digits only (`\d` would also match Arabic-Indic and other digits). Not glued to a letter, digit or
# decimal point on either side (`3x`, `2nd`, `x2`, `v1.2.3` are not numbers we change), except for a short unit
# written against the number: `300m`, `5kg`, `2pm`.
DIGITS = r"(?:[0-9]{1,3}(?:,[0-9]{3})+(?![0-9])|[0-9]+)(?:\.[0-9]+)?"
GLUED_UNIT = r"(?:km|cm|mm|m|kg|mg|g|lbs|lb|oz|ft|mi|mph|ml|hrs|hr|h|min|pm|am|k)(?![0-9A-Za-z_])"
NUMBER_END = rf"(?!\.[0-9]|,[0-9]{{3}})(?={GLUED_UNIT}|[^0-9A-Za-z_]|\Z)"
NUMBER = re.compile(rf"(?<![0-9A-Za-z_.,]){DIGITS}{NUMBER_END}")


@dataclass(frozen=True)
class NumberForm:
    """The written form of a non-negative number: `1,250.50` → scaled=125050, decimals=2, commas=True."""

    scaled: int  # the value times 10**decimals
    decimals: int
    commas: bool

    @classmethod
    def parse(cls, text: str) -> NumberForm:
        whole, _, fraction = text.partition(".")
        commas = "," in whole
        return cls(int(whole.replace(",", "") + fraction), len(fraction), commas)

    @property
    def value(self) -> float:
        return self.scaled / 10**self.decimals

    def with_scaled(self, scaled: int) -> str:
        """`scaled` written in this form."""
        whole, fraction = divmod(scaled, 10**self.decimals)
        text = f"{whole:,}" if self.commas else str(whole)
        if self.decimals:
            text += "." + str(fraction).zfill(self.decimals)
        return text

    def scaled_of(self, value: float) -> int | None:
        """`value` in this form's units when it is representable exactly there (within float noise), else None."""
        scaled = value * 10**self.decimals
        nearest = round(scaled)
        return nearest if abs(scaled - nearest) < 1e-6 * max(1.0, abs(scaled)) else None


def matches_result(value: float, written: NumberForm, percent: bool = False) -> bool:
    """Whether a computed value is the written result, allowing rounding to the written decimal places.

    `12/60 = 0.2`, `100/3 = 33.33` and `10/3 = 3` (people round) match; with a percent sign after the result,
    `10/50 = 20%` (value 0.2) matches as well as `10/50*100 = 20%`.
    """
    tolerance = 0.5 * 10.0**-written.decimals + 1e-9 * abs(written.value)
    if abs(value - written.value) <= tolerance:
        return True
    return percent and abs(value * 100 - written.value) <= tolerance
