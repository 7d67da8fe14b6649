"""How the portal writes numbers and codes for people: one rule for every page, chart
and message.

- Amounts (hundredths of a credit, or US cents) are billing.money's decimal string with
  thousands separators: 123456 → "1,234.56"; a negative one starts with a minus sign
  (U+2212): "−35.00".
- Wallet movements carry their sign: "+" money into the wallet, "−" money out of it,
  the same meaning on every page.
- Counts are whole numbers with thousands separators: 50000 → "50,000".
- Codes (kinds, statuses) are words in sentence case: "member_create" → "Member create".
"""

from billing.money import format_amount

MINUS = "\u2212"


def amount(hundredths: int) -> str:
    """12345600 → "123,456.00"; -3500 → "−35.00"."""
    return format_amount(int(hundredths), grouped=True, minus=MINUS)


def usd(cents: int) -> str:
    """USD cents as text with the currency: 123456 → "1,234.56 USD"."""
    return f"{amount(cents)} USD"


def signed_amount(hundredths: int) -> str:
    """A wallet movement: 120000 → "+1,200.00", -3500 → "−35.00", 0 → "0.00"."""
    value = int(hundredths)
    return f"+{amount(value)}" if value > 0 else amount(value)


def count(number: int) -> str:
    """50000 → "50,000"."""
    return f"{int(number):,}"


def decimal(value: float, places: int = 3) -> str:
    """A measure with no trailing zeros (up to `places`): 1.5, 0.025, 1,234."""
    return f"{value:,.{places}f}".rstrip("0").rstrip(".")


def words(code: str) -> str:
    """A stored code as words: "member_create" → "Member create"."""
    text = str(code or "").replace("_", " ").strip()
    return text[:1].upper() + text[1:]
