"""Credential resolution order, headless behaviour and masking of aikit.auth.secret / Secret."""

from __future__ import annotations

import copy
import io
import pickle
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

import aikit
from aikit.auth import (
    Secret,
    forget_secret,
    interaction_mode,
    is_interactive,
    lookup_secret,
    secret,
    set_secret,
)
from aikit.auth.secrets import read_dotenv, resolve_key
from aikit.exceptions import ConfigError, MissingCredentialError

#: The ``fake_keyring`` fixture (tests/auth/conftest.py): ``fake_keyring(usable=...)`` -> its store.
FakeKeyring = Callable[..., dict[tuple[str, str], str]]

CANARY = "sk-CANARY-" + "7f3a9c1e5b"  # built at runtime: the literal never sits in one string

VAR = "AIKIT_TEST_KEY"


def test_aikit_auth_is_reachable_after_plain_import_aikit() -> None:
    assert aikit.auth.secret is secret
    assert "auth" in aikit.__all__


def test_importing_aikit_auth_does_not_import_widgets_or_authlib() -> None:
    import subprocess

    code = (
        "import sys, aikit; aikit.auth.secret('X', 'v'); "  # attribute access only: the lazy export
        "print('ipywidgets' in sys.modules, 'authlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_order_explicit_then_session_then_env_then_dotenv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"{VAR}=from-dotenv\n")
    monkeypatch.chdir(tmp_path)
    assert secret(VAR).reveal() == "from-dotenv"
    assert secret(VAR).source == "dotenv"
    monkeypatch.setenv(VAR, "from-env")
    assert (secret(VAR).reveal(), secret(VAR).source) == ("from-env", "env")
    set_secret(VAR, "from-session")
    assert (secret(VAR).reveal(), secret(VAR).source) == ("from-session", "session")
    assert (secret(VAR, "explicit").reveal(), secret(VAR, "explicit").source) == ("explicit", "explicit")
    forget_secret(VAR)
    assert secret(VAR).source == "env"


def test_dotenv_parser_handles_export_quotes_and_comments(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("# comment\nexport A=1\nB='single # kept'\nC=\"dq\"\nD=plain # dropped\nnot a line\nE=\n")
    assert read_dotenv(path) == {"A": "1", "B": "single # kept", "C": "dq", "D": "plain", "E": ""}
    assert read_dotenv(tmp_path / "missing.env") == {}


def test_dotenv_parsing(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "# comment\nexport OPENAI_API_KEY='sk-quoted'\nANTHROPIC_API_KEY=sk-ant # trailing comment\n"
        'AIKIT_API_KEY="with # hash"\nnot a pair\n=novalue\n'
    )
    assert read_dotenv(env) == {
        "OPENAI_API_KEY": "sk-quoted",
        "ANTHROPIC_API_KEY": "sk-ant",
        "AIKIT_API_KEY": "with # hash",
    }
    assert read_dotenv(tmp_path / "missing") == {}


def test_key_resolution_order(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("OPENAI_API_KEY=from-file\nAIKIT_API_KEY=aikit-file\n")
    names = ["OPENAI_API_KEY", "AIKIT_API_KEY"]

    def key(explicit: str | None = None, environ: dict[str, str] | None = None) -> str | None:
        found = resolve_key(names, explicit, environ=environ or {}, dotenv=dotenv)
        return found.reveal() if found else None

    assert key("explicit", {"OPENAI_API_KEY": "env"}) == "explicit"
    assert key(None, {"AIKIT_API_KEY": "env-fallback"}) == "env-fallback"  # env beats .env
    assert key(None, {}) == "from-file"
    set_secret("AIKIT_API_KEY", "from-session")  # the session beats env and .env, for every name
    assert key(None, {"OPENAI_API_KEY": "env"}) == "from-session"
    assert key("explicit", {}) == "explicit"
    forget_secret("AIKIT_API_KEY")
    with pytest.raises(MissingCredentialError, match="Set the environment variable OPENAI_API_KEY") as info:
        resolve_key(names, environ={}, dotenv=tmp_path / "none", provider="openai:gpt-4o-mini")
    message = str(info.value)
    assert "AIKIT_API_KEY" in message and "api_key=" in message and ".env" in message
    assert "login panel" in message and "aikit.auth.set_secret('OPENAI_API_KEY', ...)" in message
    assert info.value.variable == "OPENAI_API_KEY"
    assert resolve_key(["AIKIT_API_KEY"], environ={}, dotenv=tmp_path / "none", required=False) is None


def test_resolve_key_says_where_the_key_came_from(tmp_path: Path, fake_keyring: FakeKeyring) -> None:
    store = fake_keyring(usable=True)
    store[("aikit", "AIKIT_API_KEY")] = "from-keyring"
    names = ["OPENAI_API_KEY", "AIKIT_API_KEY"]
    found = resolve_key(names, environ={}, dotenv=tmp_path / "none")
    assert found is not None and (found.reveal(), found.source, found.name) == (
        "from-keyring",
        "keyring",
        "AIKIT_API_KEY",
    )
    assert (
        resolve_key(names, environ={}, dotenv=tmp_path / "none", keyring_service=None, required=False) is None
    )
    given = Secret("sk-given")
    assert resolve_key(names, given) is given


def test_empty_env_value_does_not_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VAR, "")
    assert lookup_secret(VAR) is None


def test_headless_raises_naming_the_variable_and_never_calls_getpass(monkeypatch: pytest.MonkeyPatch) -> None:
    import getpass

    def boom(*args: object, **kwargs: object) -> str:
        raise AssertionError("getpass must not be called headless")

    monkeypatch.setattr(getpass, "getpass", boom)
    monkeypatch.setenv("AIKIT_HEADLESS", "1")
    with pytest.raises(MissingCredentialError) as info:
        secret(VAR)
    assert info.value.variable == VAR
    assert VAR in str(info.value)
    assert "environment variable" in str(info.value)


def test_pytest_session_is_headless(monkeypatch: pytest.MonkeyPatch) -> None:
    # Under pytest stdin is captured (not a tty) and no kernel runs: headless.
    assert interaction_mode() is None
    assert is_interactive() is False
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    with pytest.raises(MissingCredentialError):
        secret(VAR)


def test_terminal_mode_uses_getpass_only_with_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    import getpass

    class TTY(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", TTY())
    monkeypatch.setattr(sys, "stdout", TTY())
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": "typed-value")
    assert interaction_mode() == "terminal"
    got = secret(VAR)
    assert (got.reveal(), got.source) == ("typed-value", "prompt")
    assert secret(VAR).source == "session"  # kept for the rest of the session
    monkeypatch.setenv("CI", "true")
    assert interaction_mode() is None


def test_secret_masks_itself_everywhere_but_reveal() -> None:
    s = Secret("sk-canary-abc")
    shown = [repr(s), str(s), f"{s}", f"{s!r}", "%s" % s, str([s]), str({"k": s})]  # noqa: UP031
    assert all("sk-canary-abc" not in text for text in shown)
    assert s.reveal() == "sk-canary-abc" and Secret(s) == s and len({s, Secret("sk-canary-abc")}) == 1
    assert not Secret("") and copy.deepcopy(s) is s and copy.copy(s) is s
    with pytest.raises(TypeError, match="refuses to be pickled"):  # one Secret: never pickled silently
        pickle.dumps(s)
    with pytest.raises(TypeError):
        Secret(123)  # type: ignore[arg-type]


def test_secret_masks_itself_everywhere() -> None:
    s = Secret(CANARY, name=VAR, source="env")
    for text in (repr(s), str(s), f"{s}", f"{s!r}", format(s, ">20"), repr([s]), repr({"k": s})):
        assert CANARY not in text
    assert s.reveal() == CANARY
    assert s.get_secret_value() == CANARY
    with pytest.raises(TypeError):
        pickle.dumps(s)


def test_pending_secret_resolves_after_session_value_arrives() -> None:
    pending = Secret(None, name=VAR, source="pending")
    assert not pending
    with pytest.raises(MissingCredentialError) as info:
        pending.reveal()
    assert "password box" in str(info.value)
    set_secret(VAR, CANARY)
    assert pending and pending.reveal() == CANARY
    assert CANARY not in repr(pending)


def test_set_secret_rejects_empty_values() -> None:
    with pytest.raises(MissingCredentialError):
        set_secret(VAR, "")


def test_missing_credential_traceback_holds_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTHER_KEY", CANARY)
    monkeypatch.setenv("AIKIT_HEADLESS", "1")
    try:
        secret(VAR)
    except MissingCredentialError:
        text = traceback.format_exc()
    assert CANARY not in text
    assert issubclass(MissingCredentialError, ConfigError)


def test_keyring_is_skipped_when_not_installed_or_without_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    # keyring is optional: with no importable package the lookup just moves on.
    monkeypatch.setitem(sys.modules, "keyring", None)
    assert lookup_secret(VAR) is None


def test_keyring_is_the_last_source_when_a_backend_exists(
    monkeypatch: pytest.MonkeyPatch, fake_keyring: FakeKeyring
) -> None:
    store = fake_keyring(usable=True)
    store[("aikit", VAR)] = "from-keyring"
    assert (secret(VAR).reveal(), secret(VAR).source) == ("from-keyring", "keyring")
    monkeypatch.setenv(VAR, "from-env")
    assert secret(VAR).source == "env"
    assert lookup_secret("OTHER", keyring_service=None) is None


def test_keyring_without_a_real_backend_is_ignored(fake_keyring: FakeKeyring) -> None:
    store = fake_keyring(usable=False)
    store[("aikit", VAR)] = "unreachable"
    assert lookup_secret(VAR) is None


def test_keyring_token_store_round_trip(fake_keyring: FakeKeyring) -> None:
    from aikit.auth import KeyringTokenStore, Token

    fake_keyring(usable=True)
    tokens = KeyringTokenStore()
    tokens.save("crm", Token("at", refresh_token="rt", expires_at=123.0))
    assert tokens.load("crm") == Token("at", refresh_token="rt", expires_at=123.0)
    tokens.delete("crm")
    assert tokens.load("crm") is None
    fake_keyring(usable=False)
    with pytest.raises(ConfigError, match="No keyring backend"):
        KeyringTokenStore()


def test_a_live_kernel_asks_through_the_registered_prompter(monkeypatch: pytest.MonkeyPatch) -> None:
    from aikit.auth import prompt

    asked: list[tuple[str, object]] = []

    def check(value: str) -> None:
        return None

    monkeypatch.setattr("aikit.auth.secrets.interaction_mode", lambda: "widget")  # a live kernel
    monkeypatch.setattr(prompt, "_prompter", lambda name, chk: asked.append((name, chk)))
    pending = secret(VAR, check=check)
    assert asked == [(VAR, check)] and pending.source == "pending" and not pending
    set_secret(VAR, CANARY)  # what the password box does on Save
    assert pending.reveal() == CANARY
    forget_secret(VAR)
    with pytest.raises(MissingCredentialError):
        secret(VAR, prompt=False)
    assert len(asked) == 1
    monkeypatch.setattr(prompt, "_prompter", None)  # no widget side plugged in: no box, a clear error
    with pytest.raises(MissingCredentialError, match=VAR):
        secret(VAR)


def test_register_prompter_replaces_or_keeps(monkeypatch: pytest.MonkeyPatch) -> None:
    from aikit.auth.prompt import current_prompter, register_prompter

    def first(name: str, check: object) -> None:
        return None

    def second(name: str, check: object) -> None:
        return None

    monkeypatch.setattr("aikit.auth.prompt._prompter", None)
    assert register_prompter(first, replace=False) is None and current_prompter() is first
    assert register_prompter(second, replace=False) is first and current_prompter() is first
    assert register_prompter(second) is first and current_prompter() is second


def test_aikit_registers_the_password_box_lazily_and_auth_stays_light() -> None:
    import subprocess

    code = (
        "import sys, aikit.auth.secrets\n"
        "from aikit.auth.prompt import current_prompter\n"
        "light = [m for m in ('httpx', 'authlib', 'ipywidgets', 'aikit.widgets') if m in sys.modules]\n"
        "default = current_prompter()\n"
        "import aikit.widgets.auth\n"
        "print(light, default.__module__, current_prompter() is aikit.widgets.auth.show_secret_prompt)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["[]", "aikit", "True"]
