"""The response cache: canonical request keys and a persistent, multi-process store of answers.

A cache key is a versioned sha256 of canonical JSON over everything that decides an answer
(provider, normalised base_url, model, messages, every sampling parameter, the schema) and nothing
that does not (the API key, timeouts). Canonical means sorted keys, compact separators, UTF-8, and
integral floats written as integers, so ``{"temperature": 0}`` and ``{"temperature": 0.0}`` give the
same key whatever the order of the fields.

Answers live in a :mod:`diskcache` directory (SQLite in WAL mode, safe across threads and processes)
as compact JSON bytes, zlib-compressed above a few kilobytes; never pickles. Reading many keys at once
(:meth:`DiskResponseCache.aget_many`) runs one ``SELECT ... WHERE key IN (...)`` per 500 keys on its
own read-only connection, in a worker thread, and keeps what it read in a small in-memory LRU.

>>> key = cache_key({"model": "m", "temperature": 0, "messages": [{"role": "user", "content": "hi"}]})
>>> key == cache_key({"messages": [{"content": "hi", "role": "user"}], "temperature": 0.0, "model": "m"})
True
>>> key.startswith("aikit1:")
True
>>> normalize_base_url("HTTPS://user:pw@API.Example.com:443/v1/?api_key=sk-x&api-version=2")
'https://api.example.com/v1?api-version=2'
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import json
import math
import sqlite3
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aikit.auth.urls import SECRET_PARAM, shown_url
from aikit.exceptions import CacheError, ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import diskcache

__all__ = [
    "CACHE_KEY_VERSION",
    "KEY_PREFIX",
    "DiskResponseCache",
    "NullCache",
    "ResponseCache",
    "cache_key",
    "canonical_json",
    "decode_value",
    "encode_value",
    "normalize_base_url",
    "open_cache",
]

#: Bumped whenever the canonical form changes, so old entries are simply never hit again.
CACHE_KEY_VERSION = 1
KEY_PREFIX = f"aikit{CACHE_KEY_VERSION}:"  # what every key of this version starts with
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: Top-level value fields that would mean a caller is about to store something secret.
_FORBIDDEN_FIELDS = frozenset({"headers", "api_key", "authorization", "request_headers"})
_COMPRESS_ABOVE = 4096  # bytes of JSON; smaller values are stored as plain JSON
_CHUNK = 500  # keys per SELECT ... IN (...)
#: Longest an ``aset`` waits on the caller's thread for SQLite's write lock before queueing instead.
_INLINE_LOCK_WAIT_S = 0.02
_INLINE_MAX = 16  # misses read on the calling thread; more go to a worker thread


_ATOMS = frozenset({str, int, bool, type(None)})
_ENCODE = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode  # one encoder: json.dumps would build a new one per call


def _canon_fast(obj: Any) -> Any:
    """Plain dicts with str keys and lists, leaving str/int/bool/None leaves as they are."""
    kind = type(obj)
    if kind is dict:
        out: dict[str, Any] = {}
        for k, v in obj.items():
            if type(k) is not str:
                return _canon(obj)
            out[k] = v if type(v) in _ATOMS else _canon_fast(v)
        return out
    if kind is list:
        return [v if type(v) in _ATOMS else _canon_fast(v) for v in obj]
    return _canon(obj)


def _canon(obj: Any) -> Any:
    kind = type(obj)
    if kind is str or kind is int or kind is bool or obj is None:
        return obj
    if kind is float:
        if not math.isfinite(obj):
            raise ConfigError(f"cache key fields must be finite numbers, got {obj!r}")
        as_int = int(obj)
        return as_int if as_int == obj else obj
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            if isinstance(k, str):
                name = k + ""
            elif isinstance(k, int) and not isinstance(k, bool):
                name = str(int(k))  # as JSON would send it (e.g. logit_bias token ids)
            else:
                raise ConfigError(f"cache key fields need str keys, got {type(k).__name__} {k!r}")
            if name in out:
                raise ConfigError(f"cache key fields have the key {name!r} twice (as str and int)")
            out[name] = _canon_fast(v)
        return out
    if isinstance(obj, list | tuple):
        return [_canon_fast(v) for v in obj]
    if isinstance(obj, bool):
        return bool(obj)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return _canon(float(obj))
    if isinstance(obj, str):
        return obj + ""
    raise ConfigError(
        f"cache key fields must be JSON data (dict, list, str, number, bool, None), "
        f"got {kind.__name__}; convert it first (e.g. a pydantic model to its JSON schema)"
    )


def canonical_json(fields: Mapping[str, Any]) -> str:
    """The canonical JSON text that :func:`cache_key` hashes.

    >>> canonical_json({"b": 1.0, "a": [0.5, "é"]})
    '{"a":[0.5,"é"],"b":1}'
    """
    return _ENCODE(_canon_fast(fields))


def cache_key(fields: Mapping[str, Any]) -> str:
    """Versioned sha256 of the canonical JSON of ``fields``: ``"aikit1:<64 hex digits>"``.

    Pass everything that decides the answer (provider, :func:`normalize_base_url` of the base URL,
    model, messages, every sampling parameter, the schema) and nothing secret or incidental (API key,
    timeouts). Independent of key order and of ``0`` vs ``0.0``.

    >>> cache_key({"model": "m", "temperature": 0}) == cache_key({"temperature": 0.0, "model": "m"})
    True
    >>> cache_key({"model": "m"}) == cache_key({"model": "m2"})
    False
    """
    text = canonical_json(fields)
    return KEY_PREFIX + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def normalize_base_url(url: str | None) -> str:
    """A base URL in one spelling, without credentials: the form that goes into cache keys and logs.

    Lower-cases scheme and host, drops the default port, user info, fragment, a trailing slash and any
    query parameter whose name looks secret (``key``, ``token``, ``secret``, ``sig``, ``auth`` ...);
    keeps the other parameters, sorted. ``None`` or ``""`` (the provider default) gives ``""``.

    >>> normalize_base_url("http://LOCALHOST:80/v1/")
    'http://localhost/v1'
    >>> normalize_base_url("http://127.0.0.1:8000/v1")
    'http://127.0.0.1:8000/v1'
    """
    if not url:
        return ""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ConfigError(f"base_url must look like http(s)://host[:port]/path, got {shown_url(url)!r}")
    host = parts.hostname  # already lower-case, without user info
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"base_url has an invalid port: {shown_url(url)!r}") from exc
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = sorted((k, v) for k, v in pairs if not SECRET_PARAM.search(k))
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), urlencode(query), ""))


def encode_value(value: Mapping[str, Any]) -> bytes:
    """Compact JSON bytes of a cache value (zlib-compressed above 4 KB); refuses secret-looking fields.

    Text that is not valid Unicode (a lone surrogate in a model's answer) is stored ``\\u``-escaped, so
    it reads back exactly as it was answered instead of being paid for again on every run.

    >>> decode_value(encode_value({"text": "half \\ud800 a pair"})) == {"text": "half \\ud800 a pair"}
    True
    """
    if not isinstance(value, Mapping):
        raise ConfigError(f"cache values must be JSON objects (dict), got {type(value).__name__}")
    bad = _FORBIDDEN_FIELDS.intersection(k.lower() for k in value if isinstance(k, str))
    if bad:
        raise ConfigError(f"refusing to cache a value with secret-bearing fields {sorted(bad)}")
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"cache values must be JSON-serialisable: {exc}") from exc
    try:
        raw = text.encode()
    except UnicodeEncodeError:  # a lone surrogate: ASCII JSON escapes it losslessly
        raw = json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
    if len(raw) > _COMPRESS_ABOVE:
        return b"z" + zlib.compress(raw, 6)
    return raw


def decode_value(blob: bytes) -> dict[str, Any]:
    """Inverse of :func:`encode_value`."""
    if blob[:1] == b"z":
        blob = zlib.decompress(blob[1:])
    result: dict[str, Any] = json.loads(blob)
    return result


@runtime_checkable
class ResponseCache(Protocol):
    """What the AI client needs from a cache. Values are JSON-able dicts; keys come from :func:`cache_key`."""

    async def aget(self, key: str) -> dict[str, Any] | None: ...

    async def aget_many(self, keys: list[str]) -> dict[str, dict[str, Any]]: ...

    async def aset(self, key: str, value: dict[str, Any]) -> None: ...

    def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]: ...

    def close(self) -> None: ...


class NullCache:
    """A cache that stores nothing (``cache=False``)."""

    async def aget(self, key: str) -> dict[str, Any] | None:
        return None

    async def aget_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        return {}

    async def aset(self, key: str, value: dict[str, Any]) -> None:
        return None

    def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        return {}

    def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return "NullCache()"


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


class DiskResponseCache:
    """A persistent response cache in a diskcache directory, with bulk reads and an in-memory LRU.

    Parameters
    ----------
    directory : str or Path
        Where the SQLite file lives; created if missing. Another process opening the same directory
        sees the same entries.
    memory_bytes : int
        Budget of the in-memory LRU of recently read or written entries (encoded size).

    Examples
    --------
    >>> import asyncio, tempfile
    >>> c = DiskResponseCache(tempfile.mkdtemp())
    >>> asyncio.run(c.aset("k", {"text": "hé"}))
    >>> c.get_many(["k", "missing"])
    {'k': {'text': 'hé'}}
    >>> c.close()
    """

    def __init__(self, directory: str | Path, *, memory_bytes: int = 64 << 20) -> None:
        import diskcache

        self.directory = Path(directory).expanduser().absolute()  # the SQLite URI needs an absolute path
        self._failures: tuple[type[BaseException], ...] = (sqlite3.Error, OSError, diskcache.Timeout)
        from aikit.settings import ensure_dir, private_umask

        with self._translated("opening"), private_umask():  # cache.db and its -wal/-shm: 0600
            ensure_dir(self.directory)
            self._disk: diskcache.Cache = diskcache.Cache(str(self.directory))
        self._memory: OrderedDict[str, bytes] = OrderedDict()
        self._memory_bytes = 0
        self._memory_budget = memory_bytes
        self._lock = threading.Lock()  # guards _memory
        self._read_lock = threading.Lock()  # guards _reader (bulk reads)
        self._reader: sqlite3.Connection | None = None
        self._writer: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending_lock = threading.Lock()  # guards _pending and _flushing
        self._pending: list[tuple[str, bytes, asyncio.Future[None], asyncio.AbstractEventLoop]] = []
        self._flushing = False
        # A second handle whose lock wait is short, for writes on the caller's thread. Opened here:
        # opening writes settings, so opening it while another writer holds the lock would wait.
        with self._translated("opening"):
            self._inline: diskcache.Cache | None = diskcache.Cache(
                str(self.directory), timeout=_INLINE_LOCK_WAIT_S
            )
        self._closed = False

    def __repr__(self) -> str:
        return f"DiskResponseCache({str(self.directory)!r})"

    @contextlib.contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        """sqlite3/OS/diskcache failures become :class:`CacheError` naming the directory."""
        try:
            yield
        except self._failures as exc:
            raise CacheError(
                f"response cache at {str(self.directory)!r}: {action} failed ({type(exc).__name__}: {exc}); "
                "pass cache=False to run without it, or move the directory away"
            ) from exc

    # -- memory ---------------------------------------------------------------------------------------
    def _remember(self, key: str, blob: bytes) -> None:
        with self._lock:
            old = self._memory.pop(key, None)
            if old is not None:
                self._memory_bytes -= len(old)
            self._memory[key] = blob
            self._memory_bytes += len(blob)
            while self._memory_bytes > self._memory_budget and self._memory:
                _, dropped = self._memory.popitem(last=False)
                self._memory_bytes -= len(dropped)

    def _remember_many(self, blobs: dict[str, bytes]) -> None:
        with self._lock:
            memory = self._memory
            for key, blob in blobs.items():
                old = memory.pop(key, None)
                if old is not None:
                    self._memory_bytes -= len(old)
                memory[key] = blob
                self._memory_bytes += len(blob)
            while self._memory_bytes > self._memory_budget and memory:
                _, dropped = memory.popitem(last=False)
                self._memory_bytes -= len(dropped)

    def _recall(self, keys: Iterable[str]) -> tuple[dict[str, bytes], list[str]]:
        found: dict[str, bytes] = {}
        missing: list[str] = []
        with self._lock:
            memory = self._memory
            for key in keys:
                blob = memory.get(key)
                if blob is None:
                    missing.append(key)
                else:
                    found[key] = blob
        return found, missing

    # -- disk -----------------------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        if self._reader is None:
            path = self.directory / "cache.db"
            try:
                con = sqlite3.connect(
                    f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False, isolation_level=None
                )
                con.execute("SELECT 1 FROM Cache LIMIT 0")
            except sqlite3.Error:
                con = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
                con.execute("PRAGMA query_only = 1")
            con.execute("PRAGMA mmap_size = 67108864")  # as diskcache's own connections do
            self._reader = con
        return self._reader

    def _read_disk(self, keys: list[str]) -> dict[str, bytes]:
        """Bulk read: one SELECT per chunk of keys; large values stored as files go through diskcache."""
        found: dict[str, bytes] = {}
        via_files: list[str] = []
        now = time.time()
        with self._read_lock:
            if self._closed:
                raise ConfigError("this cache is closed")
            con = self._connection()
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = con.execute(
                    f"SELECT key, mode, value FROM Cache WHERE raw = 1 AND key IN ({marks})"
                    " AND (expire_time IS NULL OR expire_time > ?)",
                    (*chunk, now),
                ).fetchall()
                for key, mode, value in rows:
                    if mode == 1 and value is not None:  # diskcache MODE_RAW: bytes inline
                        found[key] = bytes(value)
                    else:
                        via_files.append(key)
        for key in via_files:
            blob = self._disk.get(key)
            if isinstance(blob, bytes):
                found[key] = blob
        return found

    def _lookup(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        blobs, missing = self._recall(keys)
        if missing:
            with self._translated("reading"):
                if len(missing) == 1:  # a point read on diskcache's own per-thread connection
                    blob = self._disk.get(missing[0])
                    fresh = {missing[0]: blob} if isinstance(blob, bytes) else {}
                else:
                    fresh = self._read_disk(missing)
            self._remember_many(fresh)
            blobs.update(fresh)
        values: dict[str, dict[str, Any]] = {}
        for key, blob in blobs.items():
            try:
                values[key] = decode_value(blob)
            except (ValueError, zlib.error):  # not written by aikit, or damaged: a miss, not a crash
                continue
        return values

    # -- public API -----------------------------------------------------------------------------------
    def get(self, key: str) -> dict[str, Any] | None:
        """The cached value for ``key`` or None (sync)."""
        return self._lookup([key]).get(key)

    def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """Values for those ``keys`` that are cached, in one bulk read (sync). Missing keys are absent."""
        return self._lookup(list(keys))

    def set(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` (a JSON-able dict) under ``key`` durably (sync)."""
        blob = encode_value(value)
        with self._translated("writing"):
            self._disk.set(key, blob)
        self._remember(key, blob)

    async def aget(self, key: str) -> dict[str, Any] | None:
        """The cached value for ``key`` or None; a point read (~20 µs) done inline."""
        return self._lookup([key]).get(key)

    async def aget_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """Values for the cached ones among ``keys``; big reads run in a worker thread."""
        keys = list(keys)
        _, missing = self._recall(keys)
        if len(missing) <= _INLINE_MAX:
            return self._lookup(keys)
        return await asyncio.to_thread(self._lookup, keys)

    async def aset(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` under ``key``; returns once it is committed to disk.

        The common case writes at once on the caller's thread (cheaper than any hand-off). When
        SQLite's write lock is busy (another thread or process is writing), entries queue and the
        cache's writer thread group-commits everything queued in one transaction.
        """
        blob = encode_value(value)
        self._remember(key, blob)
        if self._write_now(key, blob):
            return
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        with self._pending_lock:
            self._pending.append((key, blob, done, loop))
            start = not self._flushing
            self._flushing = True
        if start:
            if self._writer is None:
                self._writer = concurrent.futures.ThreadPoolExecutor(
                    1, thread_name_prefix="aikit-cache-writer"
                )
            self._writer.submit(self._flush)
        try:
            with self._translated("writing"):
                await done
        except BaseException:
            self._forget(key)
            raise

    def _write_now(self, key: str, blob: bytes) -> bool:
        """Write on the caller's thread when nothing is queued and SQLite's lock is free at once.

        That is the common case, and it costs a fraction of a hop to the writer thread. When another
        writer (a thread or process) holds the lock, the entry is left to the group-commit queue, so
        the event loop never waits on a lock for more than ``_INLINE_LOCK_WAIT_S``.
        """
        import diskcache

        with self._pending_lock:
            if self._flushing:  # queued entries go first: keep one order of writes per key
                return False
            if self._inline is None:
                return False
            try:
                with self._translated("writing"):
                    self._inline.set(key, blob)
            except CacheError as exc:
                if isinstance(exc.__cause__, diskcache.Timeout):
                    return False
                self._forget(key)
                raise
            return True

    def _flush(self) -> None:
        """Writer thread: commit queued entries in groups until the queue is empty."""
        while True:
            with self._pending_lock:
                group, self._pending = self._pending, []
                if not group:
                    self._flushing = False
                    return
            error: BaseException | None = None
            try:
                with self._disk.transact():
                    for key, blob, _, _ in group:
                        self._disk.set(key, blob)
            except BaseException as exc:  # handed to every waiter of the group
                error = exc
            for _, _, done, loop in group:
                # a closed loop (RuntimeError) means nobody is left waiting to be told
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_settle, done, error)

    def _forget(self, key: str) -> None:
        with self._lock:
            old = self._memory.pop(key, None)
            if old is not None:
                self._memory_bytes -= len(old)

    def __len__(self) -> int:
        return len(self._disk)

    def close(self) -> None:
        """Finish pending writes and close the files. Idempotent."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.shutdown(wait=True)
        inline, self._inline = self._inline, None
        if inline is not None:
            inline.close()
        with self._read_lock:
            self._closed = True
            if self._reader is not None:
                self._reader.close()
                self._reader = None
        with self._lock:
            self._memory.clear()
            self._memory_bytes = 0
        self._disk.close()

    def __enter__(self) -> DiskResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_cache(spec: object = True) -> ResponseCache:
    """The cache for ``cache=spec``.

    ``True``: the persistent cache under ``aikit.settings.settings().cache_dir``; ``False`` or ``None``:
    :class:`NullCache`; a ``str``/``Path``: a cache directory; a ``diskcache.Cache``: used as the store;
    any object with the :class:`ResponseCache` methods: returned as it is.

    >>> import tempfile
    >>> open_cache(False)
    NullCache()
    >>> open_cache(tempfile.mkdtemp()).close()
    """
    if spec is True:
        from aikit.settings import settings

        return DiskResponseCache(settings().cache_dir)
    if spec is False or spec is None:
        return NullCache()
    if isinstance(spec, str | Path):
        if isinstance(spec, str) and not spec.strip():
            raise ConfigError("cache= got an empty path; pass True, False, a directory or a cache object")
        return DiskResponseCache(spec)
    if isinstance(spec, ResponseCache):
        return spec
    directory = getattr(spec, "directory", None)
    if type(spec).__module__.startswith("diskcache") and isinstance(directory, str):
        return DiskResponseCache(directory)
    raise ConfigError(
        f"cache= expects True, False, a directory path or an object with aget/aget_many/aset/get_many/close, "
        f"got {type(spec).__name__}"
    )
