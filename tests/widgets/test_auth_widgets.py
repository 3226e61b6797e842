"""Auth widgets driven without a frontend: no secret in widget state, statuses, device flow, panel."""

from __future__ import annotations

import json
import time

import httpx
import ipywidgets as w
import pytest

import aikit
from aikit.auth import ApiKeyService, OAuth2Auth, OAuth2Client, OAuthService, lookup_secret
from aikit.auth.secrets import _SESSION
from aikit.exceptions import MissingCredentialError, OAuthError
from aikit.local.crm import DemoCRM
from aikit.local.oauth.server import OAuthServer
from aikit.testing import FakeConfig, FakeProvider
from aikit.widgets.auth import DeviceCodeView, LoginPanel, SecretPrompt, render_status

CANARY = "sk-CANARY-" + "7f3a9c1e5b"  # built at runtime: the literal never sits in one string
VAR = "AIKIT_WIDGET_TEST_KEY"


def _all_widget_state() -> str:
    return json.dumps(w.Widget.get_manager_state(drop_defaults=False))


def test_secret_prompt_is_never_prefilled_even_when_a_value_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VAR, CANARY)
    prompt = SecretPrompt(VAR)
    assert prompt.password.value == ""
    assert "connected" in prompt.status.value
    assert CANARY not in _all_widget_state()


def test_submit_copies_the_value_out_and_clears_the_box() -> None:
    prompt = SecretPrompt(VAR)
    assert "not connected" in prompt.status.value
    prompt.password.value = CANARY  # what the browser sends when the user types
    prompt.button.click()
    assert prompt.password.value == ""
    assert _SESSION[VAR] == CANARY
    assert lookup_secret(VAR) is not None and lookup_secret(VAR).source == "session"  # type: ignore[union-attr]
    assert "connected" in prompt.status.value and "not connected" not in prompt.status.value
    state = _all_widget_state()
    assert CANARY not in state
    assert CANARY not in repr(prompt) and CANARY not in prompt.status.value


def test_failed_check_shows_the_error_masked_and_stores_nothing() -> None:
    def check(value: str) -> None:
        raise ValueError(f"provider rejected key {value}")

    prompt = SecretPrompt(VAR, check=check)
    prompt.password.value = CANARY
    prompt.button.click()
    assert VAR not in _SESSION
    assert "error" in prompt.status.value and "provider rejected key ***" in prompt.status.value
    assert CANARY not in prompt.status.value and CANARY not in _all_widget_state()


def test_callback_errors_show_in_the_output_widget() -> None:
    prompt = SecretPrompt(VAR)

    def broken(value: str) -> None:
        raise RuntimeError("boom")

    prompt.service.submit = broken  # type: ignore[method-assign, assignment]
    prompt.password.value = "x"
    prompt.button.click()  # must not raise into the kernel: captured by Output
    assert prompt.password.value == ""
    assert any("boom" in str(o) for o in prompt.output.outputs)


def test_render_status_shows_state_and_expiry() -> None:
    from aikit.auth import AuthStatus

    html = render_status(AuthStatus("connected", 125.0, "ok"), "CRM")
    assert "connected" in html and "expires in 2 min 5 s" in html and "CRM" in html
    assert "&lt;b&gt;" in render_status(AuthStatus("error", None, "<b>"))


def test_device_code_view_polls_and_turns_connected(oauth_server: OAuthServer) -> None:
    auth = OAuth2Auth(OAuth2Client(**oauth_server.client_config("aikit-cli")))
    view = DeviceCodeView(auth, timeout=10)
    assert view.device.user_code in view.code.value and view.device.link in view.code.value
    deadline = time.monotonic() + 5
    while "checked" not in view.status.value and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "waiting for approval" in view.status.value
    httpx.post(
        f"{oauth_server.url}/device/approve",
        json={"user_code": view.device.user_code, **oauth_server.demo_login},
    )
    token = view.wait(10)
    deadline = time.monotonic() + 2
    while "connected" not in view.status.value and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "● connected" in view.status.value and "expires in" in view.status.value
    assert token.access_token not in _all_widget_state()


def test_device_code_view_shows_denial(oauth_server: OAuthServer) -> None:
    auth = OAuth2Auth(OAuth2Client(**oauth_server.client_config("aikit-cli")))
    view = DeviceCodeView(auth, timeout=10)
    oauth_server.approve_device(view.device.user_code, approve=False)
    with pytest.raises(OAuthError):
        view.wait(10)
    deadline = time.monotonic() + 2
    while "error" not in view.status.value and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "access_denied" in view.status.value


def test_login_panel_lists_services_and_runs_flows(oauth_server: OAuthServer) -> None:
    ai = ApiKeyService("Demo AI", VAR)
    crm = OAuthService(
        "Demo CRM", OAuth2Auth(OAuth2Client(**oauth_server.client_config("aikit-cli"))), flows=("device",)
    )
    svc = OAuthService("Service", OAuth2Auth(OAuth2Client(**oauth_server.client_config("aikit-service"))))
    assert svc.flows == ("client_credentials",)
    panel = LoginPanel([ai, crm, svc])
    assert all("not connected" in panel.statuses[s].value for s in ("Demo AI", "Demo CRM", "Service"))

    panel.prompts["Demo AI"].password.value = CANARY
    panel.prompts["Demo AI"].button.click()
    assert "● connected" in panel.statuses["Demo AI"].value

    panel.buttons[("Service", "client_credentials")].click()
    assert "● connected" in panel.statuses["Service"].value

    panel.buttons[("Demo CRM", "device")].click()
    view = panel.device_views["Demo CRM"]
    assert panel.extras["Demo CRM"].children == (view.widget,)
    oauth_server.approve_device(view.device.user_code)
    view.wait(10)
    deadline = time.monotonic() + 2
    while "● connected" not in panel.statuses["Demo CRM"].value and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "● connected" in panel.statuses["Demo CRM"].value
    assert CANARY not in _all_widget_state()
    assert isinstance(panel.widget, w.VBox)


def test_login_panel_pkce_paste_mode_on_remote_kernels(
    auto_server: OAuthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIKIT_REMOTE_KERNEL", "1")
    service = OAuthService("CRM", OAuth2Auth(OAuth2Client(**auto_server.client_config("aikit-cli"))))
    assert service.flows == ("device",)  # remote kernels default to the device flow
    service.flows = ("pkce",)
    panel = LoginPanel([service])
    panel.buttons[("CRM", "pkce")].click()
    box = panel.extras["CRM"].children[0]
    note, row = box.children
    url = note.value.split("href='")[1].split("'")[0].replace("&amp;", "&")
    pasted, finish = row.children
    pasted.value = httpx.get(url).headers["location"]  # the user copies the final URL
    finish.click()
    assert pasted.value == ""
    assert "● connected" in panel.statuses["CRM"].value


def test_keys_typed_into_the_login_panel_reach_ai_hubspot_and_rest(
    fake: FakeProvider, fake_config: FakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("OPENAI_API_KEY", "AIKIT_API_KEY", "HUBSPOT_TOKEN", "HELPDESK_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    crm_token = "pat-" + "CANARY-panel-6e1d"
    services = [
        ApiKeyService("OpenAI", "OPENAI_API_KEY"),
        ApiKeyService("HubSpot", "HUBSPOT_TOKEN"),
        ApiKeyService("Helpdesk", "HELPDESK_TOKEN"),
    ]
    panel = LoginPanel(services)
    with pytest.raises(MissingCredentialError, match="OPENAI_API_KEY"):
        aikit.AI("openai:gpt-4o-mini", base_url=fake.base_url, cache=False).chat("hi")
    typed = {"OpenAI": fake_config.api_key, "HubSpot": crm_token, "Helpdesk": crm_token}
    for label, value in typed.items():
        panel.prompts[label].password.value = value
        panel.prompts[label].button.click()
        assert "● connected" in panel.statuses[label].value
    ai = aikit.AI("openai:gpt-4o-mini", base_url=fake.base_url, cache=False)
    assert ai.chat("hi").text.startswith("fake-")
    with DemoCRM(token=crm_token) as server:
        crm = aikit.HubSpot(base_url=server.url)
        assert len(crm.fetch("companies", ["name"], limit=5)) == 5
        rest = aikit.RestSource(
            server.url,
            records="results",
            cursor_param="after",
            cursor_path="paging.next.after",
            token_variable="HELPDESK_TOKEN",
        )
        assert len(rest.fetch("/crm/v3/objects/companies")) == 50
    state = _all_widget_state()
    assert fake_config.api_key not in state and crm_token not in state
    assert all(crm_token not in text for text in (repr(crm), repr(rest), repr(ai), repr(panel)))
