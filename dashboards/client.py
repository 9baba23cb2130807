"""A client of the app's own HTTP endpoints that acts as a browser tab would: it loads the
layout (which opens a session), then calls callbacks through `/_dash-update-component`
with the page's current values. Used by the tests and by benchmarks/bench_soak.py; a
hostile client is the same thing with other values.

    tab = TabClient.over_http("http://127.0.0.1:8050")
    tab.open()
    tab.call(I.MESSAGE, I.START)                    # press Start
    tab.call(I.GRAPH.format("p_data"), I.TICK)      # one poll
    tab.close()                                     # the goodbye beacon
"""

from __future__ import annotations

import http.client
import json
import urllib.parse

from . import ids as I
from .pages.train_layout import TICK_MS


class TabClient:
    def __init__(self, request):
        """`request(method, path, body: bytes | None, content_type) -> (status, bytes)`."""
        self.request = request
        self.values: dict[str, object] = {}          # "id.prop" -> the page's value
        self.deps: list[dict] | None = None
        self.sid: str | None = None

    @classmethod
    def over_http(cls, base: str, timeout: float = 60.0, source: str | None = None) -> "TabClient":
        """A tab talking to the server at `base` ("http://host:port"); `source`: the local address
        its connections leave from (e.g. "127.0.0.7": a class of clients on one machine, each
        its own address to the server, as students' computers are)."""
        url = urllib.parse.urlsplit(base)
        if url.scheme != "http" or not url.hostname:
            raise ValueError(f"base: must be an http://host:port address (got {base!r:.80})")
        prefix = url.path.rstrip("/")

        def request(method, path, body=None, content_type="application/json"):
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout,
                                              source_address=(source, 0) if source else None)
            try:
                conn.request(method, prefix + path, body=body, headers={"Content-Type": content_type})
                r = conn.getresponse()
                return r.status, r.read()
            finally:
                conn.close()
        return cls(request)

    @classmethod
    def over_flask(cls, server, address: str = "127.0.0.1") -> "TabClient":
        test = server.test_client()

        def request(method, path, body=None, content_type="application/json"):
            r = test.open(path, method=method, data=body, content_type=content_type,
                          environ_base={"REMOTE_ADDR": address})
            return r.status_code, r.data
        return cls(request)

    # -- the page -----------------------------------------------------------------
    def open(self) -> str | None:
        """Load the page (a new session); returns its id, or None when the lab refused the tab."""
        status, body = self.request("GET", "/_dash-layout")
        assert status == 200, status
        self.layout = json.loads(body)
        self.values = {}
        self._walk(self.layout)
        self.sid = self.values.get(f"{I.SESSION}.data")
        if self.deps is None:
            status, body = self.request("GET", "/_dash-dependencies")
            self.deps = json.loads(body)
        return self.sid

    def _walk(self, node):
        if isinstance(node, list):
            for n in node:
                self._walk(n)
        elif isinstance(node, dict):
            props = node.get("props", {})
            if isinstance(props, dict) and isinstance(props.get("id"), str):
                for k, v in props.items():
                    if k != "children":
                        self.values[f"{props['id']}.{k}"] = v
            for v in props.values() if isinstance(props, dict) else []:
                self._walk(v)

    def text(self, id_: str) -> str:
        """The text of a component in the loaded layout (e.g. the busy message)."""
        def find(node):
            if isinstance(node, list):
                return next((t for t in map(find, node) if t is not None), None)
            if isinstance(node, dict):
                props = node.get("props", {})
                if props.get("id") == id_:
                    return str(props.get("children", ""))
                return next((t for t in map(find, props.values()) if t is not None), None)
            return None
        return find(self.layout) or ""

    # -- callbacks ----------------------------------------------------------------
    def callback(self, output_id: str, trigger: str | None = None) -> dict:
        """The callback whose outputs include component `output_id` (and, where several write to it,
        whose inputs include `trigger`, a component id)."""
        found = []
        for d in self.deps:
            outs = d["output"].strip(".").split("...")
            if any(o.split("@")[0].rsplit(".", 1)[0] == output_id for o in outs):
                found.append(d)
        for d in found:
            if trigger is None or any(i["id"] == trigger for i in d["inputs"]):
                return d
        if found:
            return found[0]
        raise KeyError(output_id)

    def call(self, output_id: str, trigger: str, **changes) -> tuple[int, dict]:
        """Call the callback of `output_id` as if `trigger` ("id" or "id.prop") changed.

        `changes` (keys "id.prop" with dots written as '__') override the page's values,
        e.g. `**{"session-id__data": "../x"}`. Returns (HTTP status, {id: {prop: value}})."""
        d = self.callback(output_id, trigger.split(".")[0])
        for k, v in changes.items():
            self.values[k.replace("__", ".")] = v
        if "." not in trigger:
            prop = next(i["property"] for i in d["inputs"] if i["id"] == trigger)
            trigger = f"{trigger}.{prop}"
            if prop in ("n_clicks", "n_intervals"):
                self.values[trigger] = (self.values.get(trigger) or 0) + 1

        def item(x):
            return {"id": x["id"], "property": x["property"], "value": self.values.get(f"{x['id']}.{x['property']}")}
        outs = [dict(zip(("id", "property"), o.split("@")[0].rsplit(".", 1)))
                for o in d["output"].strip(".").split("...")]
        payload = {"output": d["output"], "outputs": outs if d["output"].startswith("..") else outs[0],
                   "inputs": [item(x) for x in d["inputs"]], "state": [item(x) for x in d["state"]],
                   "changedPropIds": [trigger]}
        status, body = self.request("POST", "/_dash-update-component", json.dumps(payload).encode())
        result = json.loads(body).get("response", {}) if status == 200 and body else {}
        for id_, props in result.items():
            for k, v in props.items():
                self.values[f"{id_}.{k}"] = v
        return status, result

    def poll_wait_ms(self) -> int:
        """How long the page waits before its next poll: the last `update` reply's pace (PACE's
        `ms`, as the clientside pacing reads it); TICK_MS before any reply."""
        pace = self.values.get(f"{I.PACE}.data")
        ms = pace.get("ms") if isinstance(pace, dict) else None
        return ms if isinstance(ms, int) else TICK_MS

    def close(self) -> None:
        """The tab's goodbye (what assets/session.js sends on pagehide)."""
        self.request("POST", "/toylab/close", (self.sid or "").encode(), "text/plain")
