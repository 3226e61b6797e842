"""The batch options: one frozen value object, validated once, documented once.

:class:`BatchOptions` carries what every batch entry point takes besides its own arguments: the
request options sent with every call (``system``, ``temperature``, ``max_tokens`` and the extra
sampling ``params``), how the batch runs (``on_error``, ``budget_usd``, ``progress``, ``concurrency``,
``cache``, ``hedge``) and, for DataFrame results, ``with_meta``. It is the one place to add an option: the
signatures of ``aikit.batch``, ``df.ai.*`` and ``ddf.ai.*`` and the options section of their
docstrings are built from its fields (by :mod:`aikit._batch.operation`).

>>> opts = BatchOptions(temperature=0, cache=False, params={"seed": 7})
>>> opts
BatchOptions(temperature=0, cache='off', params={'seed': 7})
>>> opts.replace(concurrency=4) == BatchOptions(temperature=0, concurrency=4, cache="off", params={"seed": 7})
True
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from aikit._batch.progress import check_progress
from aikit.exceptions import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from aikit._batch.progress import ProgressView

__all__ = [
    "CACHE_MODES",
    "FRAME_OPTIONS",
    "REQUEST_OPTIONS",
    "RUN_OPTIONS",
    "BatchOptions",
    "CacheMode",
    "OnError",
    "option_fields",
    "options_section",
]

OnError = Literal["keep", "raise"]
CacheMode = Literal["use", "refresh", "read_only", "off"]
CACHE_MODES: tuple[CacheMode, ...] = ("use", "refresh", "read_only", "off")
Mode = Literal["live", "batch"]
Fallback = Literal["batch", "live"]

#: Options that shape each request (and so its cache key), besides ``params``.
REQUEST_OPTIONS = ("system", "temperature", "max_tokens")
#: Options that say how the batch runs.
RUN_OPTIONS = (
    "on_error", "budget_usd", "progress", "concurrency", "cache", "hedge", "mode", "wait", "fallback",
)  # fmt: skip
#: Options of a DataFrame result.
FRAME_OPTIONS = ("with_meta",)

#: Names a sampling parameter may not have: the options themselves and the arguments of ``achat``.
_RESERVED = frozenset({"prompt", "schema", "observer", "options", "params"})


def _doc(kind: str, doc: str, *, annotation: str | None = None) -> dict[str, str]:
    """A field's metadata: its numpy-style type text and description, as the generated docs show them.

    ``annotation`` is what signatures show when the constructor takes more than the field holds.
    """
    metadata = {"kind": kind, "doc": doc}
    if annotation is not None:
        metadata["annotation"] = annotation
    return metadata


@dataclass(frozen=True, repr=False)
class BatchOptions:
    """The options of a batch of AI calls, shared by ``aikit.batch``, ``df.ai.*`` and ``ddf.ai.*``.

    Every entry point takes ``options=BatchOptions(...)``, the same options as keywords, or both (the
    keywords win). A field left at its default takes the operation's own default (``df.ai.classify``
    and ``df.ai.extract`` use ``temperature=0``).

    Parameters
    ----------
    <options>
    params : dict, optional
        Extra sampling parameters (``top_p``, ``seed``, ``stop`` ...), sent with every call and part of
        the cache key. The entry points take them as keywords.

    Raises
    ------
    ConfigError
        For a value no batch can run with (an unknown ``on_error`` or ``cache`` mode, a negative
        budget, a concurrency below 1 ...), before any call is made.

    Examples
    --------
    >>> BatchOptions(on_error="raise", budget_usd=0.5).budget_usd
    0.5
    >>> BatchOptions(cache=True).cache, BatchOptions(cache=False).cache
    ('use', 'off')
    >>> BatchOptions(on_error="ignore")
    Traceback (most recent call last):
    ...
    aikit.exceptions.ConfigError: on_error must be 'keep' or 'raise', got 'ignore'
    """

    system: str | None = field(
        default=None, metadata=_doc("str, optional", "A system prompt sent with every row.")
    )
    temperature: float | None = field(
        default=None,
        metadata=_doc(
            "float, optional", "Sampling temperature (like every request option, part of the cache key)."
        ),
    )
    max_tokens: int | None = field(
        default=None, metadata=_doc("int, optional", "The most tokens each answer may have.")
    )
    on_error: OnError = field(
        default="keep",
        metadata=_doc(
            '{"keep", "raise"}',
            '"keep" records a failed row\'s error (``"ErrorType: message"``) and finishes the rest; "raise" '
            "stops at the first row that still fails after retries and raises its error. Errors that would "
            "fail every row (a rejected key, an unknown model) raise at once either way. Successes are "
            "cached either way.",
        ),
    )
    budget_usd: float | None = field(
        default=None,
        metadata=_doc(
            "float, optional",
            "Stop scheduling once spent plus reserved (estimated) cost would exceed this; the rows not run "
            "say so in their error. Needs a known price for the model.",
        ),
    )
    progress: bool | str | ProgressView | None = field(
        default=None,
        metadata=_doc(
            'None, bool, "widget", "log", "off" or a view',
            "None: a widget in a live kernel, a few log lines headless (scripts, papermill); False: "
            "nothing. See :mod:`aikit._batch.progress`.",
        ),
    )
    concurrency: int | None = field(
        default=None,
        metadata=_doc(
            "int, optional",
            "Requests kept in flight; default the client's ``max_concurrency`` (the client still paces "
            "to its rate limits).",
        ),
    )
    cache: CacheMode = field(
        default="use",
        metadata=_doc(
            '{"use", "refresh", "read_only", "off"} or bool',
            '"use" reads and writes the client\'s cache (so an interrupted batch resumes where it '
            'stopped); "refresh" skips the read; "read_only" never writes; "off" neither. True means '
            '"use", False "off".',
            annotation="CacheMode | bool",
        ),
    )
    hedge: bool = field(
        default=True,
        metadata=_doc(
            "bool",
            "Hedge the tail of the batch: once no row is waiting to start and the rate limit is not "
            "binding, a request still unanswered after twice the p95 of this batch's own latencies (at "
            "least 1 s) is sent a second time; the first answer wins, the other is cancelled, the cache "
            "gets one entry. On by default because the tail is what a batch waits for (a hung request "
            "otherwise costs its whole timeout before its retry starts), and the cost has a ceiling: a "
            "hedged request can be billed twice, but at most 1% of the rows are hedged (the call log "
            "shows both copies, the budget and the pacing count both). Never hedged: the embedded local "
            "model (it answers one request at a time). False turns it off.",
        ),
    )
    mode: Mode = field(
        default="live",
        metadata=_doc(
            '{"live", "batch"}',
            '"live" calls the model row by row; "batch" sends the rows that miss the cache through the'
            " provider's batch API (OpenAI Batch, Anthropic Message Batches: half price, results within"
            " 24 h), "
            "recorded under $AIKIT_HOME so a re-run after a kernel restart attaches to the running job "
            "instead of paying twice. Answers land in the same columns and the same cache entries.",
        ),
    )
    wait: Any = field(
        default=True,
        metadata=_doc(
            "bool, number, WebhookListener or aikit.jobs.Wait",
            "Batch mode: True waits, polling with backoff; a number polls every that many seconds; an "
            "aikit.WebhookListener with an ``openai`` source wakes on OpenAI's signed batch events (the "
            "poll becomes a rare safety net); False returns a job handle at once (``.status()``, "
            "``.wait()``, ``.result()``, ``.cancel()``).",
        ),
    )
    fallback: Fallback = field(
        default="batch",
        metadata=_doc(
            '{"batch", "live"}',
            "Batch mode: where rows the batch did not answer go (missing from the output, expired, "
            'retryable errors, a batch that failed validation): "batch" resubmits them in another batch '
            '(at most twice); "live" calls them live at once.',
        ),
    )
    with_meta: bool = field(
        default=False,
        metadata=_doc(
            "bool",
            "Add the columns ``ai_input_tokens``, ``ai_output_tokens``, ``ai_cost_usd``, ``ai_cached``, "
            "``ai_latency_s``, ``ai_attempts`` and ``ai_model`` (DataFrame results only; ``ai_model``, the "
            "model that answered the row, is always there when the client has fallbacks).",
        ),
    )
    params: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        checked = {
            "system": _check_system(self.system),
            "temperature": _check_number("temperature", self.temperature),
            "max_tokens": _check_count("max_tokens", self.max_tokens),
            "on_error": _check_on_error(self.on_error),
            "budget_usd": _check_budget(self.budget_usd),
            "progress": check_progress(self.progress),
            "concurrency": _check_count("concurrency", self.concurrency),
            "cache": _check_cache(self.cache),
            "hedge": _check_bool("hedge", self.hedge),
            "mode": _check_choice("mode", self.mode, ("live", "batch")),
            "wait": _check_wait(self.wait),
            "fallback": _check_choice("fallback", self.fallback, ("batch", "live")),
            "with_meta": _check_bool("with_meta", self.with_meta),
            "params": _check_params(self.params),
        }
        for name, value in checked.items():  # normalised: cache=True is "use", params a fresh dict
            object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.changed().items())
        return f"BatchOptions({shown})"

    def changed(self) -> dict[str, Any]:
        """The fields that differ from their defaults (``params`` when there are any).

        >>> BatchOptions(max_tokens=20).changed()
        {'max_tokens': 20}
        """
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            default = {} if f.name == "params" else f.default
            if value is not default and value != default:
                out[f.name] = value
        return out

    def replace(self, **changes: Any) -> BatchOptions:
        """A copy with ``changes`` applied, validated like the constructor.

        >>> BatchOptions(max_tokens=20).replace(cache="refresh")
        BatchOptions(max_tokens=20, cache='refresh')
        """
        unknown = sorted(set(changes) - _FIELDS)
        if unknown:
            raise ConfigError(f"BatchOptions has no option {', '.join(unknown)}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def resolve(
        cls,
        options: BatchOptions | None = None,
        given: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        defaults: Mapping[str, Any] | None = None,
    ) -> BatchOptions:
        """What an operation runs with: its ``defaults``, then ``options``, then the keywords ``given``.

        ``params`` (extra sampling parameters given as keywords) are added to ``options.params``.

        >>> BatchOptions.resolve(BatchOptions(concurrency=2), {"max_tokens": 9}, {"seed": 1},
        ...                      defaults={"temperature": 0})
        BatchOptions(temperature=0, max_tokens=9, concurrency=2, params={'seed': 1})
        """
        if options is not None and not isinstance(options, BatchOptions):
            raise ConfigError(f"options= must be an aikit.BatchOptions, got {type(options).__name__}")
        values: dict[str, Any] = dict(defaults or {})
        merged = dict(values.pop("params", None) or {})
        if options is not None:
            changed = options.changed()
            merged.update(changed.pop("params", {}))
            values.update(changed)
        values.update(given or {})
        merged.update(params or {})
        return cls(**values, params=merged)

    @property
    def request(self) -> dict[str, Any]:
        """The keyword arguments of each call: ``system``, ``temperature``, ``max_tokens`` and ``params``."""
        return {"system": self.system, "temperature": self.temperature, "max_tokens": self.max_tokens,
                **self.params}  # fmt: skip


def _check_system(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"system must be a string or None, got {type(value).__name__}")
    return value


def _check_number(name: str, value: Any) -> Any:
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
        raise ConfigError(f"{name} must be a number or None, got {value!r}")
    return value


def _check_count(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ConfigError(f"{name} must be a whole number >= 1 or None, got {value!r}")
    return int(value)


def _check_on_error(value: Any) -> OnError:
    if value not in ("keep", "raise"):
        raise ConfigError(f"on_error must be 'keep' or 'raise', got {value!r}")
    return value  # type: ignore[no-any-return]


def _check_budget(value: Any) -> float | None:
    if value is None:
        return None
    number = not isinstance(value, bool) and isinstance(value, numbers.Real)
    if not number or math.isnan(value) or value < 0:
        raise ConfigError(f"budget_usd must be a number >= 0, got {value!r}")
    return float(value)


def _check_cache(value: Any) -> CacheMode:
    if value is True:
        return "use"
    if value is False:
        return "off"
    if not isinstance(value, str) or value not in CACHE_MODES:
        raise ConfigError(f"cache must be 'use', 'refresh', 'read_only', 'off', True or False, got {value!r}")
    return value


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> Any:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
    return value


def _check_wait(value: Any) -> Any:
    if value is not False:
        from aikit._jobs.wait import Wait

        Wait.of(value)  # raises ConfigError for anything it cannot wait with
    return value


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be True or False, got {value!r}")
    return value


def _check_params(params: Any) -> dict[str, Any]:
    if not isinstance(params, Mapping):
        raise ConfigError(f"params must be a dict of sampling parameters, got {type(params).__name__}")
    clash = sorted(str(k) for k in params if not isinstance(k, str) or k in _RESERVED or k in _FIELDS)
    if clash:
        raise ConfigError(
            f"{', '.join(clash)} cannot be a sampling parameter (it is an option or an argument)"
        )
    return dict(params)


def option_fields(names: Iterable[str] | None = None) -> list[dataclasses.Field[Any]]:
    """The documented option fields (all but ``params``) in declaration order, or those in ``names``."""
    wanted = None if names is None else set(names)
    return [
        f for f in dataclasses.fields(BatchOptions) if f.metadata and (wanted is None or f.name in wanted)
    ]


def options_section(
    names: Iterable[str] | None = None, defaults: Mapping[str, Any] | None = None, *, keywords: bool = True
) -> str:
    """The numpy-style ``Parameters`` entries of the options in ``names``, with the defaults shown.

    With ``keywords`` (the entry points) the entries of ``options=`` and ``**params`` follow.

    >>> print(options_section(["max_tokens"], {"max_tokens": 30}))
    max_tokens : int, default 30
        The most tokens each answer may have.
    options : BatchOptions, optional
        The options above as one value (``aikit.BatchOptions``); keywords given here win over it.
    **params
        Extra sampling parameters (``top_p``, ``seed``, ``stop`` ...), sent with every call and
        part of the cache key.
    """
    defaults = defaults or {}
    lines: list[str] = []
    for f in option_fields(names):
        kind = f.metadata["kind"]
        default = defaults.get(f.name, f.default)
        if default is not None:
            kind = f"{kind.removesuffix(', optional')}, default {default!r}"
        lines += [f"{f.name} : {kind}", *textwrap.wrap(f.metadata["doc"], 100, initial_indent="    ",
                                                        subsequent_indent="    ")]  # fmt: skip
    if keywords:
        lines += [
            "options : BatchOptions, optional",
            "    The options above as one value (``aikit.BatchOptions``); keywords given here win over it.",
            "**params",
            "    Extra sampling parameters (``top_p``, ``seed``, ``stop`` ...), sent with every call and",
            "    part of the cache key.",
        ]
    return "\n".join(lines)


_FIELDS = frozenset(f.name for f in dataclasses.fields(BatchOptions))
BatchOptions.__doc__ = (BatchOptions.__doc__ or "").replace(
    "<options>", textwrap.indent(options_section(keywords=False), "    ").lstrip()
)
