"""Fixtures for auth tests (shared with the other auth-facing suite)."""

from oauth_fixtures import CANARY, _clean_credentials, auto_server, oauth_server

__all__ = ["CANARY", "_clean_credentials", "auto_server", "oauth_server"]
