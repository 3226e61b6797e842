"""Each batch entry point written once, as a job builder; its public forms are generated from it.

A builder is a plain function taking the entry point's own arguments and ``options`` (one resolved
:class:`~aikit._batch.options.BatchOptions`) and returning a :class:`~aikit._batch.job.Job`.
:class:`Operation` turns it into what users call:

- **the signature**: the builder's own parameters, then the batch options it takes as keyword-only
  parameters (built from the ``BatchOptions`` fields, with the operation's defaults), ``options=``
  and ``**params``, so ``help()`` and Jupyter's Shift-Tab list every argument;
- **the docstring**: the builder's, with the options' entries added to its ``Parameters`` section
  (written once, in :mod:`aikit._batch.options`);
- **binding**: the arguments of a call become the builder's own arguments plus one ``BatchOptions``
  (the operation's defaults, then ``options=``, then the keywords);
- **the sync and async forms**: ``job(...).run_sync()`` and ``await job(...).run_async()``, as functions
  (``aikit.batch``) or as methods of an accessor (``df.ai.map``, with the accessor's DataFrame first).

>>> from aikit._batch.job import Then
>>> def _shout(text, *, options):
...     '''Shout ``text``.'''
...     return Then(_Done(text), lambda t: t.upper() + "!" * (options.max_tokens or 1))
>>> class _Done:
...     def __init__(self, value): self.value = value
...     def run_sync(self): return self.value
...     async def run_async(self): return self.value
>>> shout, ashout = Operation(_shout, name="shout", options=["max_tokens"], returns="str").functions()
>>> shout("hi", max_tokens=3), inspect.signature(shout) == inspect.signature(ashout)
('HI!!!', True)
>>> str(inspect.signature(shout))
"(text, *, max_tokens: 'int | None' = None, options: 'BatchOptions | None' = None, **params: 'Any') -> 'str'"
"""

from __future__ import annotations

import inspect
import operator
import textwrap
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from aikit._batch.options import BatchOptions, option_fields, options_section

if TYPE_CHECKING:  # pragma: no cover
    from aikit._batch.job import Job

__all__ = ["Operation", "with_options_doc"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

_KW = inspect.Parameter.KEYWORD_ONLY


def _option_parameters(names: Sequence[str], defaults: Mapping[str, Any]) -> list[inspect.Parameter]:
    params = [
        inspect.Parameter(
            f.name,
            _KW,
            default=defaults.get(f.name, f.default),
            annotation=f.metadata.get("annotation", f.type),
        )
        for f in option_fields(names)
    ]
    params.append(inspect.Parameter("options", _KW, default=None, annotation="BatchOptions | None"))
    params.append(inspect.Parameter("params", inspect.Parameter.VAR_KEYWORD, annotation="Any"))
    return params


def _is_header(lines: list[str], i: int) -> bool:
    return i + 1 < len(lines) and bool(lines[i].strip()) and set(lines[i + 1].strip()) == {"-"}


def with_options_doc(doc: str | None, section: str) -> str:
    """``doc`` (numpy style) with ``section`` appended to its ``Parameters`` (created when missing).

    >>> print(with_options_doc("Do it.\\n\\nReturns\\n-------\\nint", "x : int"))
    Do it.
    <BLANKLINE>
    Parameters
    ----------
    x : int
    <BLANKLINE>
    Returns
    -------
    int
    """
    lines = inspect.cleandoc(doc or "").splitlines()
    headers = [i for i in range(len(lines)) if _is_header(lines, i)]
    params = next((i for i in headers if lines[i].strip() == "Parameters"), None)
    entries = section.splitlines()
    if params is None:
        entries = ["Parameters", "----------", *entries]
        end = headers[0] if headers else len(lines)
    else:
        end = next((i for i in headers if i > params), len(lines))
    head, tail = lines[:end], lines[end:]
    while head and not head[-1].strip():
        head.pop()
    out = [*head, *([""] if params is None and head else []), *entries]
    return "\n".join([*out, "", *tail] if tail else out)


class Operation(Generic[T]):
    """A job builder and the public forms generated from it (see the module docstring).

    Parameters
    ----------
    build : callable
        ``build([subject,] *own_arguments, options: BatchOptions) -> Job``; its docstring is the public
        one (numpy style; the options' entries are added).
    name : str
        The public name of the sync form (the async form is ``"a" + name``).
    options : sequence of str
        The ``BatchOptions`` fields this operation takes as keywords.
    defaults : mapping, optional
        The operation's own option defaults (``{"temperature": 0}`` for ``classify``).
    subject : bool
        The builder's first parameter is the object a method works on (the accessor's DataFrame).
    returns : str
        The annotation of the result, as signatures show it.
    where : str
        How users spell the owner, in error messages and the async form's docstring (``"df.ai"``).
    """

    def __init__(
        self,
        build: Callable[..., Job[T]],
        *,
        name: str,
        options: Sequence[str],
        defaults: Mapping[str, Any] | None = None,
        subject: bool = False,
        returns: str,
        where: str = "aikit",
    ) -> None:
        self.build = build
        self.name = name
        self.where = where
        self.defaults = dict(defaults or {})
        parameters = list(inspect.signature(build).parameters.values())
        self.subject = subject
        if subject:
            parameters.pop(0)
        if not parameters or parameters[-1].name != "options" or parameters[-1].kind is not _KW:
            raise TypeError(f"the builder of {name} must end with a keyword-only 'options' parameter")
        own = parameters[:-1]
        self.own = frozenset(p.name for p in own)
        self.options = frozenset(f.name for f in option_fields(options))
        if self.own & self.options or set(self.defaults) - self.options:
            raise TypeError(f"{name}: own arguments and option names overlap, or a default is not an option")
        self.signature = inspect.Signature(
            [*own, *_option_parameters(options, self.defaults)], return_annotation=returns
        )
        self.doc = with_options_doc(build.__doc__, options_section(options, self.defaults))

    def __repr__(self) -> str:
        return f"<Operation {self.where}.{self.name}{self.signature}>"

    def bind(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], BatchOptions]:
        """The builder's own arguments and the resolved options of a call (TypeError as Python's own)."""
        try:
            arguments = self.signature.bind(*args, **kwargs).arguments
        except TypeError as exc:
            raise TypeError(f"{self.where}.{self.name}(): {exc}") from None
        own = {k: v for k, v in arguments.items() if k in self.own}
        given = {k: v for k, v in arguments.items() if k in self.options}
        options = BatchOptions.resolve(
            arguments.get("options"), given, arguments.get("params"), defaults=self.defaults
        )
        return own, options

    def job(self, *args: Any, **kwargs: Any) -> Job[T]:
        """The job of one call (the subject first, for a method's operation)."""
        if not self.subject:
            own, options = self.bind(args, kwargs)
            return self.build(**own, options=options)
        subject, *rest = args
        own, options = self.bind(rest, kwargs)
        return self.build(subject, **own, options=options)

    def functions(self) -> tuple[Callable[..., T], Callable[..., Coroutine[Any, Any, T]]]:
        """The sync and async functions (``batch``, ``abatch``)."""
        job = self.job

        def sync(*args: Any, **kwargs: Any) -> T:
            return job(*args, **kwargs).run_sync()

        async def asynchronous(*args: Any, **kwargs: Any) -> T:
            return await job(*args, **kwargs).run_async()

        return self.dress(sync), self.dress(asynchronous, asynchronous=True)

    def methods(
        self, owner: str, attribute: str
    ) -> tuple[Callable[..., T], Callable[..., Coroutine[Any, Any, T]]]:
        """The sync and async methods of class ``owner``, whose ``attribute`` holds the subject."""
        job, subject_of = self.job, operator.attrgetter(attribute)

        def sync(self: Any, *args: Any, **kwargs: Any) -> T:
            return job(subject_of(self), *args, **kwargs).run_sync()

        async def asynchronous(self: Any, *args: Any, **kwargs: Any) -> T:
            return await job(subject_of(self), *args, **kwargs).run_async()

        return self.dress(sync, owner=owner), self.dress(asynchronous, owner=owner, asynchronous=True)

    def dress(
        self,
        func: F,
        *,
        owner: str | None = None,
        asynchronous: bool = False,
        doc: str | None = None,
        returns: str | None = None,
    ) -> F:
        """Give ``func`` this operation's name, signature and docstring (``self`` first for a method)."""
        name = f"a{self.name}" if asynchronous else self.name
        signature = self.signature
        if owner is not None:
            me = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
            signature = signature.replace(parameters=[me, *signature.parameters.values()])
        if returns is not None:
            signature = signature.replace(return_annotation=returns)
        text = doc if doc is not None else self.doc
        if asynchronous:
            summary, _, rest = text.partition("\n\n")
            note = textwrap.fill(
                f"Async form of ``{self.where}.{self.name}``: ``await {self.where}.{name}(...)``, same "
                "arguments and result; the calls run on aikit's loop thread.",
                100,
            )
            text = f"{summary}\n\n{note}\n\n{rest}" if rest else f"{summary}\n\n{note}\n"
        func.__name__ = name
        func.__qualname__ = f"{owner}.{name}" if owner else name
        func.__module__ = self.build.__module__
        func.__doc__ = text
        func.__signature__ = signature  # type: ignore[attr-defined]
        return func
