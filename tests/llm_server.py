"""A local fake LLM server speaking the OpenAI Chat Completions and Anthropic Messages wire formats.

Tests and bench/bench_llm.py point the real `openai` / `anthropic` SDKs at it (127.0.0.1 only).
It answers from a script of behaviours consumed in arrival order, then `default`:

  valid      a correct edit: SEARCH/REPLACE changing one numeric constant inside the EVOLVE-BLOCK when the
             prompt asks for blocks, else the whole program in a ```python block with that change
  multi      two SEARCH/REPLACE blocks changing two different lines
  unmatched  a SEARCH text that is not in the program
  outside    a SEARCH/REPLACE on a line outside the EVOLVE-BLOCK (the first import / first line)
  syntax     an edit that breaks the syntax
  truncated  half an answer with finish_reason length / stop_reason max_tokens
  refusal    a refusal (OpenAI: message.refusal; Anthropic: stop_reason refusal)
  429        HTTP 429 with Retry-After: 1
  500, 401…  that HTTP error status
  slow       waits `slow_s` seconds (longer than the client's timeout), then a valid answer
  disconnect closes the connection without answering

With `max_concurrent=N` it also behaves like a rate-limited provider: a request arriving while N
others are being answered gets HTTP 429 with Retry-After: 1 at once (logged as behaviour "429").
With `slots=N` it behaves like a local inference server: N requests are worked on at a time (each
for `latency`), the others wait their turn, so latency grows with the requests in flight.

Every request is appended to `log` (behaviour, status, response id, tokens, the Authorization header).
Tokens are deterministic: input = characters of the messages // 4, output = characters of the answer // 4 + 1.
"""
from __future__ import annotations

import http.server
import itertools
import json
import re
import threading
import time
import uuid

NUMBER = re.compile(r"(?<![\w.])(\d+\.\d+)(?![\w.])")
FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _parent_code(prompt: str) -> str:
    """The program the prompt asks to edit: the fence after the 'program to improve' / 'Parent A' header."""
    for header in ("# The program to improve", "# Parent A"):
        at = prompt.find(header)
        if at != -1:
            match = FENCE.search(prompt, at)
            if match:
                return match.group(1)
    fences = FENCE.findall(prompt)
    return fences[-1] if fences else ""


def _block_lines(code: str) -> list[int]:
    """Indices of lines inside the EVOLVE-BLOCK that hold a decimal constant."""
    lines, inside, found = code.splitlines(), False, []
    for i, line in enumerate(lines):
        if "EVOLVE-BLOCK-START" in line:
            inside = True
        elif "EVOLVE-BLOCK-END" in line:
            inside = False
        elif inside and NUMBER.search(line) and not line.strip().startswith("#"):
            found.append(i)
    return found


def _outside_lines(code: str) -> list[str]:
    lines, inside, found = code.splitlines(), False, []
    for line in lines:
        if "EVOLVE-BLOCK-START" in line:
            inside = True
        elif "EVOLVE-BLOCK-END" in line:
            inside = False
        elif not inside:
            found.append(line)
    return found


class FakeLLM:
    def __init__(self, script=(), default: str = "valid", latency: float = 0.0, slow_s: float = 5.0,
                 by_model: dict[str, str] | None = None, max_concurrent: int | None = None,
                 slots: int | None = None):
        self.script = list(script)
        self.by_model = dict(by_model or {})  # model name -> behaviour, ahead of the script
        self.default = default
        self.latency = latency
        self.slow_s = slow_s
        self.max_concurrent = max_concurrent
        self._slots = threading.Semaphore(slots) if slots else None
        self._in_flight = 0
        self.log: list[dict] = []
        self.lock = threading.Lock()
        self._counter = itertools.count(1)
        self._server: http.server.ThreadingHTTPServer | None = None

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "FakeLLM":
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                fake._handle(self)

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 256  # like a real server's backlog: a burst of 64 connects is not dropped

            def handle_error(self, request, client_address):  # clients that hang up (timeouts) are expected
                pass

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def served(self, behaviour: str | None = None) -> list[dict]:
        with self.lock:
            return [e for e in self.log if behaviour is None or e["behaviour"] == behaviour]

    # ---- one request -------------------------------------------------------------------------
    def _next_behaviour(self) -> str:
        with self.lock:
            return self.script.pop(0) if self.script else self.default

    def _handle(self, handler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        body = json.loads(handler.rfile.read(length) or b"{}")
        wire = "anthropic" if handler.path.rstrip("/").endswith("/messages") else "openai"
        behaviour = self.by_model.get(body.get("model")) or self._next_behaviour()
        with self.lock:
            over = self.max_concurrent is not None and self._in_flight >= self.max_concurrent
            if over:
                behaviour = "429"
            else:
                self._in_flight += 1
        try:
            self._answer_request(handler, body, wire, behaviour, delay=not over)
        finally:
            if not over:
                with self.lock:
                    self._in_flight -= 1

    def _answer_request(self, handler, body: dict, wire: str, behaviour: str, delay: bool) -> None:
        entry = {"behaviour": behaviour, "wire": wire, "path": handler.path, "model": body.get("model"),
                 "authorization": handler.headers.get("authorization") or handler.headers.get("x-api-key"),
                 "status": None, "response_id": None, "tokens_in": 0, "tokens_out": 0, "at": time.time()}
        with self.lock:
            self.log.append(entry)
        if self.latency and delay:
            if self._slots is not None:
                with self._slots:
                    time.sleep(self.latency)
            else:
                time.sleep(self.latency)
        if behaviour == "disconnect":
            entry["status"] = "disconnect"
            handler.close_connection = True
            try:
                handler.connection.shutdown(2)
            except OSError:
                pass
            return
        if behaviour.isdigit():
            status = int(behaviour)
            payload = {"error": {"type": "rate_limit_error" if status == 429 else "api_error",
                                 "message": "slow down" if status == 429 else "internal error"}}
            if wire == "anthropic":
                payload = {"type": "error", **payload}
            entry["status"] = status
            self._send(handler, status, payload, {"retry-after": "1"} if status == 429 else {})
            return
        if behaviour == "slow":
            time.sleep(self.slow_s)
        turns = [("system", body["system"])] if isinstance(body.get("system"), str) else []
        for message in body.get("messages", []):
            content = message.get("content")
            turns.append((message.get("role"), content if isinstance(content, str) else
                          "".join(part.get("text", "") for part in content or [])))
        users = [text for role, text in turns if role == "user"]
        texts = [text for _, text in turns]
        prompt_user, last_user = (users[0], users[-1]) if users else ("", "")
        text, stop = self._answer(behaviour, prompt_user, last_user)
        tokens_in = sum(len(t) for t in texts) // 4
        tokens_out = len(text) // 4 + 1
        response_id = f"fake-{uuid.uuid4().hex[:16]}"
        entry.update(status=200, response_id=response_id, tokens_in=tokens_in, tokens_out=tokens_out)
        if wire == "openai":
            message = {"role": "assistant", "content": None if stop == "refusal" else text,
                       "refusal": text if stop == "refusal" else None}
            finish = {"stop": "stop", "length": "length", "refusal": "stop"}[stop]
            payload = {"id": response_id, "object": "chat.completion", "created": int(time.time()),
                       "model": body.get("model"), "choices": [{"index": 0, "message": message,
                                                                "finish_reason": finish, "logprobs": None}],
                       "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out,
                                 "total_tokens": tokens_in + tokens_out}}
        else:
            reason = {"stop": "end_turn", "length": "max_tokens", "refusal": "refusal"}[stop]
            payload = {"id": response_id, "type": "message", "role": "assistant", "model": body.get("model"),
                       "content": [{"type": "text", "text": text}], "stop_reason": reason, "stop_sequence": None,
                       "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out}}
        self._send(handler, 200, payload)

    @staticmethod
    def _send(handler, status: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("content-type", "application/json")
            handler.send_header("content-length", str(len(data)))
            for key, value in (headers or {}).items():
                handler.send_header(key, value)
            handler.end_headers()
            handler.wfile.write(data)
            handler.wfile.flush()
        except OSError:  # the client gave up (timeout): nothing to answer
            pass

    # ---- scripted answers --------------------------------------------------------------------
    def _answer(self, behaviour: str, prompt: str, last_user: str) -> tuple[str, str]:
        code = _parent_code(prompt)
        wants_diff = "SEARCH/REPLACE" in last_user
        n = next(self._counter)
        lines = code.splitlines()
        numeric = _block_lines(code)
        if behaviour in ("valid", "slow", "multi", "truncated") and not numeric:
            return "I cannot find a constant to tune.", "stop"
        if behaviour == "refusal":
            return "I can't help with that.", "refusal"
        if behaviour == "unmatched":
            return _diff([("    this_line = 'is not in the program'", "    this_line = 'either'")]), "stop"
        if behaviour == "outside":
            first = next(line for line in _outside_lines(code) if line.strip())
            return _diff([(first, first + "  # changed")]), "stop"
        if behaviour == "syntax":
            line = lines[numeric[0]] if numeric else lines[-1]
            return _diff([(line, line.rstrip() + " +* (")]), "stop"
        picks = [numeric[n % len(numeric)]]
        if behaviour == "multi" and len(numeric) > 1:
            picks.append(numeric[(n + 1) % len(numeric)])
        changes = []
        for k, index in enumerate(picks):
            old = lines[index]
            new = NUMBER.sub(lambda m: f"{float(m.group(1)) * (1 + 0.01 * ((n + k) % 37 + 1)):.6f}", old, count=1)
            changes.append((old, new))
        if wants_diff or behaviour == "multi":
            text = "Tune a constant.\n" + _diff(changes)
        else:
            new_lines = list(lines)
            for (old, new), index in zip(changes, picks):
                new_lines[index] = new
            text = "A rewrite with a retuned constant.\n```python\n" + "\n".join(new_lines) + "\n```\n"
        if behaviour == "truncated":
            return text[: len(text) // 2], "length"
        return text, "stop"


def _diff(changes: list[tuple[str, str]]) -> str:
    return "".join(f"<<<<<<< SEARCH\n{old}\n=======\n{new}\n>>>>>>> REPLACE\n" for old, new in changes)
