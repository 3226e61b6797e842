"""A small, editable price table: USD per 1M input and output tokens, live and through the batch APIs.

Prices change; this table is a convenience, not an authority. Edit it with :func:`set_price`. A model
that is not in the table has an unknown cost (``None``), never a guess: only exact names, or an exact
name followed by a date/``-latest`` suffix (``gpt-4o-mini-2024-07-18``), match.

Requests sent through a provider's batch API (OpenAI's Batch API, Anthropic's Message Batches) are
billed at the batch rate: half the live price on both providers (:data:`BATCH_DISCOUNT`), unless a
model's entry names its own batch prices.

>>> price("openai", "gpt-4o-mini", 1_000_000, 0)
0.15
>>> price("openai", "gpt-4o-mini", 1_000_000, 0, batch=True)
0.075
>>> price("openai", "gpt-4o-mini-audio-preview", 10, 10) is None
True
>>> price("local", "smollm2", 100, 100)
0.0
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["BATCH_DISCOUNT", "PRICES", "Price", "lookup", "price", "set_price"]

#: The share of the live price a batch-API request costs, per provider wire family.
BATCH_DISCOUNT: dict[str, float] = {"openai": 0.5, "anthropic": 0.5}


@dataclass(frozen=True, slots=True)
class Price:
    """USD per one million tokens; ``batch_*`` through the provider's batch API (None: the discount)."""

    input_per_m: float
    output_per_m: float
    batch_input_per_m: float | None = None
    batch_output_per_m: float | None = None

    def for_batch(self, provider: str) -> Price:
        """The batch-API rates: this entry's own, else the provider's :data:`BATCH_DISCOUNT`.

        >>> Price(0.15, 0.60).for_batch("openai")
        Price(input_per_m=0.075, output_per_m=0.3, batch_input_per_m=None, batch_output_per_m=None)
        """
        share = BATCH_DISCOUNT.get(provider, 1.0)
        bin_ = self.batch_input_per_m if self.batch_input_per_m is not None else self.input_per_m * share
        bout = self.batch_output_per_m if self.batch_output_per_m is not None else self.output_per_m * share
        return Price(bin_, bout)


#: (provider wire family, model) -> Price. Providers: "openai", "anthropic". Checked 2026 list prices.
PRICES: dict[tuple[str, str], Price] = {
    ("openai", "gpt-4o-mini"): Price(0.15, 0.60),
    ("openai", "gpt-4o"): Price(2.50, 10.00),
    ("openai", "gpt-4.1"): Price(2.00, 8.00),
    ("openai", "gpt-4.1-mini"): Price(0.40, 1.60),
    ("openai", "gpt-4.1-nano"): Price(0.10, 0.40),
    ("openai", "gpt-5"): Price(1.25, 10.00),
    ("openai", "gpt-5-mini"): Price(0.25, 2.00),
    ("openai", "gpt-5-nano"): Price(0.05, 0.40),
    ("openai", "o3"): Price(2.00, 8.00),
    ("openai", "o3-mini"): Price(1.10, 4.40),
    ("openai", "o4-mini"): Price(1.10, 4.40),
    ("anthropic", "claude-opus-4-5"): Price(5.00, 25.00),
    ("anthropic", "claude-opus-4-1"): Price(15.00, 75.00),
    ("anthropic", "claude-sonnet-4-5"): Price(3.00, 15.00),
    ("anthropic", "claude-sonnet-4-0"): Price(3.00, 15.00),
    ("anthropic", "claude-sonnet-4"): Price(3.00, 15.00),
    ("anthropic", "claude-haiku-4-5"): Price(1.00, 5.00),
    ("anthropic", "claude-3-5-haiku"): Price(0.80, 4.00),
}

#: Providers whose calls cost nothing (the embedded local model).
FREE_PROVIDERS = frozenset({"local"})

_SUFFIX = re.compile(r"^-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$")


def set_price(
    provider: str,
    model: str,
    input_per_m: float,
    output_per_m: float,
    *,
    batch_input_per_m: float | None = None,
    batch_output_per_m: float | None = None,
) -> None:
    """Add or change a model's price (USD per 1M tokens); batch prices default to the discount.

    >>> set_price("openai", "my-finetune", 1.0, 2.0)
    >>> price("openai", "my-finetune", 500_000, 500_000)
    1.5
    >>> price("openai", "my-finetune", 500_000, 500_000, batch=True)
    0.75
    """

    def rate(value: float | None) -> float | None:
        return None if value is None else float(value)

    PRICES[(provider, model)] = Price(
        float(input_per_m), float(output_per_m), rate(batch_input_per_m), rate(batch_output_per_m)
    )


def lookup(provider: str, model: str) -> Price | None:
    """The price of ``model`` for ``provider``, or None when it is not in the table."""
    if provider in FREE_PROVIDERS:
        return Price(0.0, 0.0)
    exact = PRICES.get((provider, model))
    if exact is not None:
        return exact
    best: tuple[int, Price] | None = None
    for (prov, name), p in PRICES.items():
        matches = prov == provider and model.startswith(name) and _SUFFIX.match(model[len(name) :])
        if matches and (best is None or len(name) > best[0]):
            best = (len(name), p)
    return best[1] if best else None


def price(
    provider: str, model: str, input_tokens: int, output_tokens: int, *, batch: bool = False
) -> float | None:
    """USD for the given tokens (at the batch-API rate with ``batch``), or None when the price is unknown."""
    p = lookup(provider, model)
    if p is None:
        return None
    if batch:
        p = p.for_batch(provider)
    return round((input_tokens * p.input_per_m + output_tokens * p.output_per_m) / 1_000_000, 10)
