"""Auth widgets: thin ipywidgets views over :mod:`aikit.auth.services` objects.

- :class:`SecretPrompt`: a password box for one credential. Never pre-filled; the submit callback
  copies the value out and clears the box *before* anything else, so neither a saved notebook nor an
  executed notebook with stored widget state holds the secret. :func:`show_secret_prompt` displays
  one; importing this module registers it as aikit.auth's prompter
  (:func:`aikit.auth.prompt.register_prompter`), which :func:`aikit.auth.secret` calls in a live kernel.
- :class:`DeviceCodeView`: shows the device code and link, polls on aikit's loop, updates its status.
- :class:`LoginPanel`: one row per configured service with its state (connected, expires in, error)
  and a button per login flow.

Every callback runs under ``Output.capture()`` so errors show below the widget instead of vanishing.
Tests drive them without a frontend: set ``prompt.password.value`` and call ``prompt.button.click()``.

>>> from aikit.auth.services import ApiKeyService
>>> panel = LoginPanel([ApiKeyService("Demo AI", "DOC_PANEL_KEY")])    # doctest: +SKIP
>>> panel                                                              # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import html
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import ipywidgets as w

from aikit._runtime import get_loop
from aikit.auth.oauth import DeviceAuthorization
from aikit.auth.prompt import Check, register_prompter
from aikit.auth.services import ApiKeyService, OAuthService
from aikit.auth.session import AuthStatus, OAuth2Auth, is_remote_kernel
from aikit.auth.tokens import Token

__all__ = ["DeviceCodeView", "LoginPanel", "SecretPrompt", "render_status", "show_secret_prompt"]

_COLORS = {"connected": "#1a7f37", "expired": "#9a6700", "error": "#cf222e", "not connected": "#57606a"}
_PASTE_REDIRECT = "http://127.0.0.1/callback"


def _guard(
    output: w.Output, on_error: Callable[[str], None], fn: Callable[[Any], None]
) -> Callable[[Any], None]:
    """Run a widget callback under ``Output.capture()``; an error is shown, never raised into the kernel.

    Only the exception's type and message are shown (a verbose traceback could print local
    variables, and a local may hold a secret).
    """

    def run(arg: Any = None) -> None:
        try:
            fn(arg)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            on_error(message)
            output.append_stderr(message + "\n")

    captured: Callable[[Any], None] = output.capture()(run)
    return captured


def render_status(status: AuthStatus, label: str | None = None) -> str:
    """HTML for one status line: a coloured dot, the state, time left, detail."""
    color = _COLORS.get(status.state, "#57606a")
    parts = [f"<b style='color:{color}'>● {html.escape(status.state)}</b>"]
    if status.expires_in is not None and status.state in ("connected", "expired"):
        left = status.expires_in
        parts.append(f"expires in {int(left // 60)} min {int(left % 60)} s" if left > 0 else "expired")
    if status.detail:
        parts.append(html.escape(status.detail))
    prefix = f"<span class='aikit-auth-label'>{html.escape(label)}</span>: " if label else ""
    return f"<span class='aikit-auth-status'>{prefix}{' · '.join(parts)}</span>"


class SecretPrompt:
    """A password box + Save button for one credential variable.

    Parameters
    ----------
    name : str
        The variable, e.g. ``"OPENAI_API_KEY"``; the value goes to the kernel's session store.
    check : callable, optional
        Validates a typed value before it is stored.
    service : ApiKeyService, optional
        Use an existing service object instead of creating one.
    label : str, optional
        Shown before the status (the login panel's row name); the status line is the only one.
    """

    def __init__(
        self,
        name: str,
        *,
        check: Callable[[str], Any] | None = None,
        service: ApiKeyService | None = None,
        label: str | None = None,
    ) -> None:
        self.service = service or ApiKeyService(name, name, check=check)
        self.label = label
        # Never pass value=: a pre-filled box would put the secret into the widget state. The box is
        # wide enough for its label and the whole placeholder.
        self.password = w.Password(
            placeholder="paste the key, then Save", description=name, layout=w.Layout(width="34em")
        )
        self.password.style.description_width = "initial"
        self.button = w.Button(description="Save", button_style="primary", icon="key")
        self.status = w.HTML(render_status(self.service.status(), label))
        self.output = w.Output()
        self.widget = w.VBox([w.HBox([self.password, self.button]), self.status, self.output])
        self.button.on_click(self.output.capture()(self._on_save))

    def _on_save(self, _button: Any = None) -> None:
        value = self.password.value
        self.password.value = ""  # clear first: the secret leaves the widget state at once
        try:
            self.status.value = render_status(self.service.submit(value), self.label)
        except Exception as exc:  # shown, masked; never raised into the kernel with the value in scope
            message = f"{type(exc).__name__}: {exc}".replace(value, "***") if value else str(exc)
            self.status.value = render_status(AuthStatus("error", None, message), self.label)
            self.output.append_stderr(message + "\n")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"SecretPrompt({self.service.variable!r}, state={self.service.status().state!r})"


def show_secret_prompt(name: str, check: Check | None = None) -> SecretPrompt:
    """Display a :class:`SecretPrompt` for ``name`` in the current cell and return it.

    What :func:`aikit.auth.secret` does in a live kernel when nothing else holds the credential.

    Examples
    --------
    >>> prompt = show_secret_prompt("DOC_PROMPT_KEY")     # doctest: +SKIP
    """
    from IPython.display import display

    prompt = SecretPrompt(name, check=check)
    display(prompt.widget)  # type: ignore[no-untyped-call]
    return prompt


register_prompter(show_secret_prompt)


class DeviceCodeView:
    """Shows a device code and its link, polls the token endpoint on aikit's loop, updates itself.

    ``view.wait(timeout)`` blocks until the login finishes (the notebook's headless path).
    """

    def __init__(
        self, auth: OAuth2Auth, device: DeviceAuthorization | None = None, *, timeout: float | None = None
    ) -> None:
        self.auth = auth
        self.device = device if device is not None else auth.start_device_login()
        link = html.escape(self.device.link)
        self.code = w.HTML(
            f"<div class='aikit-device'>Open <a href='{link}' target='_blank'>{link}</a> and enter the code "
            f"<code class='aikit-user-code' style='font-size:1.4em'>{html.escape(self.device.user_code)}"
            "</code></div>"
        )
        self.status = w.HTML(render_status(AuthStatus("not connected", None, "waiting for approval")))
        self.output = w.Output()
        self.widget = w.VBox([self.code, self.status, self.output])
        self.future: concurrent.futures.Future[Token] = asyncio.run_coroutine_threadsafe(
            auth.afinish_device_login(self.device, timeout=timeout, on_pending=self._on_pending), get_loop()
        )
        self.future.add_done_callback(self._on_done)

    def _on_pending(self, polls: int) -> None:
        left = max(0, int(self.device.expires_at - time.time()))
        detail = f"waiting for approval (checked {polls}×, code valid {left // 60} min)"
        self.status.value = render_status(AuthStatus("not connected", None, detail))

    def _on_done(self, future: concurrent.futures.Future[Token]) -> None:
        # Runs on aikit's loop thread: only trait updates here, never print.
        if future.cancelled():
            self.status.value = render_status(AuthStatus("error", None, "cancelled"))
        elif future.exception() is not None:
            self.status.value = render_status(AuthStatus("error", None, str(future.exception())))
        else:
            self.status.value = render_status(self.auth.status())

    def wait(self, timeout: float | None = None) -> Token:
        """Block until approved; raise the login's error (denied, expired) otherwise."""
        return self.future.result(timeout)

    def cancel(self) -> None:
        self.future.cancel()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


class LoginPanel:
    """One row per service: its state and one button per login flow, plus a shared error area.

    Examples
    --------
    >>> from aikit.auth import ApiKeyService
    >>> panel = LoginPanel([ApiKeyService("Demo AI", "DEMO_AI_KEY")])     # doctest: +SKIP
    >>> panel.refresh()                                                   # doctest: +SKIP
    """

    def __init__(self, services: Sequence[ApiKeyService | OAuthService]) -> None:
        self.services = list(services)
        self.output = w.Output()
        self.statuses: dict[str, w.HTML] = {}
        self.extras: dict[str, w.Box] = {}
        self.buttons: dict[tuple[str, str], w.Button] = {}
        self.prompts: dict[str, SecretPrompt] = {}
        self.device_views: dict[str, DeviceCodeView] = {}
        rows = [self._row(s) for s in self.services]
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(_guard(self.output, lambda m: None, lambda _b: self.refresh()))
        self.widget = w.VBox([w.HTML("<b>Connections</b>"), *rows, self.refresh_button, self.output])

    def _row(self, service: ApiKeyService | OAuthService) -> w.Widget:
        extra = w.VBox([])
        self.extras[service.label] = extra
        controls: list[w.Widget] = []
        if isinstance(service, ApiKeyService):
            # One status line per row: the prompt's own (it also shows a rejected key's error).
            prompt = SecretPrompt(service.variable, service=service, label=service.label)
            prompt.button.on_click(
                _guard(self.output, self._error_for(service), partial(self._on_saved, service))
            )
            self.prompts[service.label] = prompt
            self.statuses[service.label] = prompt.status
            return w.VBox([prompt.status, w.HBox([prompt.password, prompt.button]), prompt.output, extra])
        status = w.HTML(render_status(service.status(), service.label))
        self.statuses[service.label] = status
        for flow in service.flows:
            button = w.Button(description=_FLOW_LABELS.get(flow, flow), layout=w.Layout(width="auto"))
            button.on_click(
                _guard(self.output, self._error_for(service), partial(self._on_flow, service, flow))
            )
            self.buttons[(service.label, flow)] = button
            controls.append(button)
        return w.VBox([status, w.HBox(controls), extra])

    def _on_saved(self, service: ApiKeyService, _button: Any) -> None:
        if "error" not in self.statuses[service.label].value:  # keep a rejected key's message in view
            self._update(service)

    def _on_flow(self, service: OAuthService, flow: str, _button: Any) -> None:
        self.login(service, flow)

    def _error_for(self, service: ApiKeyService | OAuthService) -> Callable[[str], None]:
        def show(message: str) -> None:
            self.statuses[service.label].value = render_status(
                AuthStatus("error", None, message), service.label
            )

        return show

    def _update(self, service: ApiKeyService | OAuthService) -> None:
        self.statuses[service.label].value = render_status(service.status(), service.label)

    def refresh(self) -> None:
        """Re-read every service's state."""
        for service in self.services:
            self._update(service)

    def login(self, service: OAuthService, flow: str) -> None:
        """What a flow button does (tests call it directly)."""
        extra = self.extras[service.label]
        if flow == "client_credentials":
            service.auth.login_client_credentials()
        elif flow == "device":
            view = DeviceCodeView(service.auth)
            view.future.add_done_callback(lambda _f: self._update(service))
            self.device_views[service.label] = view
            extra.children = (view.widget,)
        elif flow == "pkce" and is_remote_kernel():
            extra.children = (self._paste_box(service),)
        elif flow == "pkce":
            self._loopback_login(service, extra)
        self._update(service)

    def _loopback_login(self, service: OAuthService, extra: w.Box) -> None:
        link = w.HTML("starting login…")
        extra.children = (link,)

        def show(url: str) -> None:
            link.value = (
                f"<a href='{html.escape(url)}' target='_blank'>Open the login page</a> (this tab waits)"
            )

        def run() -> None:
            try:
                service.auth.login_pkce(on_url=show)
            except Exception as exc:  # shown in the row; background threads never print
                service.auth.last_error = str(exc)
            self._update(service)

        threading.Thread(target=run, name="aikit-pkce-login", daemon=True).start()

    def _paste_box(self, service: OAuthService) -> w.Widget:
        request = service.auth.start_pkce(_PASTE_REDIRECT)
        url = html.escape(request.url)
        pasted = w.Text(placeholder="paste the full URL you were redirected to")
        finish = w.Button(description="Finish login")

        def done(_b: Any) -> None:
            value, pasted.value = pasted.value, ""
            service.auth.finish_pkce(request, value)
            self._update(service)

        finish.on_click(_guard(self.output, self._error_for(service), done))
        note = w.HTML(f"1. <a href='{url}' target='_blank'>Open the login page</a> 2. paste the final URL:")
        return w.VBox([note, w.HBox([pasted, finish])])

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"LoginPanel({[s.label for s in self.services]})"


_FLOW_LABELS = {
    "device": "Sign in with a device code",
    "pkce": "Sign in in the browser",
    "client_credentials": "Connect (client credentials)",
}
