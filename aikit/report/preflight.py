"""Pre-flight checks of a report run: what can fail is checked before any work starts.

Each check raises :class:`~aikit.exceptions.ReportError` with one sentence saying what is missing
or refused and what to do, or returns the environment variables the notebook's kernel needs (the
credentials found, wherever they came from: the environment, ``.env``, the keyring).

- :func:`check_notebook`: the notebook exists and takes a ``report_path`` parameter;
- :func:`check_model`: the model string parses; its key is found; its endpoint answers
  ``GET /models`` and does not refuse the key; for ``local``, the embedded model and its runtime
  are installed;
- :func:`check_crm`: ``HUBSPOT_TOKEN`` is found, and the CRM answers a one-ticket read with it.

>>> check_model("local:/nonexistent/model.gguf")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
aikit.exceptions.ReportError: The offline model is not installed: ...
"""

from __future__ import annotations

from pathlib import Path

from aikit.exceptions import ReportError

__all__ = ["CHECK_TIMEOUT_S", "check_crm", "check_model", "check_notebook"]

#: Seconds each pre-flight request may take.
CHECK_TIMEOUT_S = 10.0

_KEY_NAMES = {"openai": "OpenAI API key", "anthropic": "Anthropic API key"}


def check_model(model: str) -> dict[str, str]:
    """The model's credential and endpoint; returns the variables the kernel needs."""
    import httpx

    from aikit.auth import resolve_key
    from aikit.client.providers import parse_model
    from aikit.exceptions import ConfigError, LocalModelError

    try:
        spec = parse_model(model)
    except ConfigError as exc:
        raise ReportError(f"--model {model!r} is not a model aikit knows: {exc}") from None
    if spec.provider == "local":
        import importlib.util

        from aikit.local.llm.models import find_model

        try:
            find_model(spec.model or None)
        except LocalModelError as exc:
            raise ReportError(f"The offline model is not installed: {exc}") from None
        if importlib.util.find_spec("xllamacpp") is None:
            raise ReportError(
                "The offline model's runtime (xllamacpp) is not installed: run `make demo` "
                "(or pip install -e '.[local]'), or pass --model openai:gpt-4o-mini with OPENAI_API_KEY set."
            )
        return {}
    env: dict[str, str] = {}
    key = resolve_key(spec.key_variables, required=False, provider=str(spec)) if spec.key_variables else None
    if key is None and spec.key_required:
        name = _KEY_NAMES.get(spec.provider, "API key")
        others = " or ".join(spec.key_variables[1:])
        raise ReportError(
            f"No {name} for --model {model}: set {spec.key_variables[0]}"
            f"{f' (or {others})' if others else ''} in the environment or in a .env file, "
            "or run without --model to use the offline model."
        )
    headers = {}
    if key is not None:
        env[key.name or spec.key_variables[0]] = key.reveal()
        if spec.provider == "anthropic":
            headers = {"x-api-key": key.reveal(), "anthropic-version": "2023-06-01"}
        else:
            headers = {"authorization": f"Bearer {key.reveal()}"}
    url = f"{spec.base_url}/models"
    try:
        status = httpx.get(url, headers=headers, timeout=CHECK_TIMEOUT_S).status_code
    except httpx.HTTPError as exc:
        raise ReportError(
            f"The model's endpoint {spec.base_url} did not answer ({type(exc).__name__}): check the "
            "network or the base URL, or run without --model to use the offline model."
        ) from None
    if status in (401, 403):
        raise ReportError(
            f"{spec.base_url} refused the key from {key.name if key else 'the environment'} (HTTP {status}): "
            "replace it with a valid key and run again."
        )
    return env


def check_crm(crm_url: str) -> dict[str, str]:
    """The CRM answers and accepts the token; returns the variables the kernel needs."""
    import httpx

    from aikit.auth import resolve_key

    token = resolve_key(["HUBSPOT_TOKEN"], required=False, provider="HubSpot")
    if token is None:
        raise ReportError(
            f"No CRM token for --crm-url {crm_url}: set HUBSPOT_TOKEN (a HubSpot private-app token with "
            "the tickets scopes) in the environment or in a .env file."
        )
    url = f"{crm_url.rstrip('/')}/crm/v3/objects/tickets"
    try:
        reply = httpx.get(
            url,
            params={"limit": 1},
            headers={"authorization": f"Bearer {token.reveal()}"},
            timeout=CHECK_TIMEOUT_S,
        )
    except httpx.HTTPError as exc:
        raise ReportError(
            f"The CRM at {crm_url} did not answer ({type(exc).__name__}): check --crm-url and the network."
        ) from None
    if reply.status_code in (401, 403):
        raise ReportError(
            f"The CRM at {crm_url} refused the token in HUBSPOT_TOKEN (HTTP {reply.status_code}): use a "
            "private-app token with the crm.objects.tickets read and write scopes."
        )
    if reply.status_code >= 400:
        raise ReportError(
            f"The CRM at {crm_url} answered HTTP {reply.status_code} to a ticket read: check --crm-url "
            "(it is the API's base URL, e.g. https://api.hubapi.com)."
        )
    return {"HUBSPOT_TOKEN": token.reveal()}


def check_notebook(notebook: Path) -> None:
    import nbformat

    if not notebook.is_file():
        raise ReportError(
            f"The notebook {notebook} does not exist: run aikit demo from the repository folder."
        )
    nb = nbformat.read(notebook, as_version=4)  # type: ignore[no-untyped-call]
    params = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not params or "report_path" not in params[0].source:
        raise ReportError(
            f"The notebook {notebook} takes no report_path parameter: its cell tagged 'parameters' must "
            "define report_path, and its last cell must call rep.save(report_path)."
        )
