"""Recording and normalizing Slipway's API answers (shared by scripts/record-api and scripts/compare-api).

Standard library only. A recording is a directory of one JSON file per step (`0001-create-dataset.json` ...)
plus `index.txt` (one line per step). Bodies are parsed with their key order, int vs float and the float's
literal text kept; only volatile *values* are replaced by placeholders that still show their format.
"""

import json
import os
import re
import urllib.error
import urllib.request

# --------------------------------------------------------------------------------------------------
# JSON that keeps what json.loads normally loses


class Obj(list):
    """A JSON object as its (key, value) pairs, in the order they came (duplicates kept)."""


class FloatLit(str):
    """A JSON number with a fraction or exponent (or NaN/Infinity), kept as its literal text."""


def parse_json(text):
    return json.loads(text, object_pairs_hook=Obj, parse_float=FloatLit, parse_constant=FloatLit)


def dump(value, indent=0):
    """Pretty JSON: objects and non-empty arrays one item a line; float literals as they came."""
    pad = "  " * indent
    inner = "  " * (indent + 1)
    if isinstance(value, Obj):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {dump(v, indent + 1)}" for k, v in value]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, dict):
        return dump(Obj(value.items()), indent)
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        if all(isinstance(x, (int, float, FloatLit)) and not isinstance(x, bool) for x in value) or \
           all(isinstance(x, str) and len(x) <= 24 for x in value) and len(value) <= 12:
            return "[" + ", ".join(dump(x) for x in value) + "]"
        return "[\n" + ",\n".join(inner + dump(x, indent + 1) for x in value) + "\n" + pad + "]"
    if isinstance(value, FloatLit):
        return str(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def get(obj, *path, default=None):
    """Look up a path of keys / indexes in parsed JSON (Obj or plain)."""
    cur = obj
    for part in path:
        if isinstance(cur, Obj):
            for k, v in cur:
                if k == part:
                    cur = v
                    break
            else:
                return default
        elif isinstance(cur, dict):
            if part not in cur:
                return default
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int):
            if part >= len(cur):
                return default
            cur = cur[part]
        else:
            return default
    return cur


# --------------------------------------------------------------------------------------------------
# Normalization

UUID_RE = re.compile(r"\b([0-9a-fA-F]{8})-([0-9a-fA-F]{4})-([0-9a-fA-F]{4})-([0-9a-fA-F]{4})-([0-9a-fA-F]{12})\b")
TS_RE = re.compile(r"\b\d{4}-\d{2}-\d{2}([T ])\d{2}:\d{2}:\d{2}(?:([.,])(\d+))?(Z|[+-]\d{2}:?\d{2})?")
ADDR_RE = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}:\d{1,5}\b|\blocalhost:\d{1,5}\b|\[::1?\]:\d{1,5}")
SHA256_RE = re.compile(r"\b[0-9a-f]{64}\b")
PID_RE = re.compile(r"\b(pid[ =:]+)\d+")

# Keys whose values are secrets: replaced whatever they hold.
SECRET_KEYS = {"key", "token", "key_prefix", "key_sha256", "token_sha256"}
# Keys whose numbers are measured (time, speed): replaced by "<number>". These are Doubles, and Swift's
# encoders write an integral Double without a fraction (a stage that took 0 ms is `0`, one that took 7 ms
# `0.007`), so whether the literal is an int or a float depends on the measurement, not on the code.
MEASURED_KEYS = {
    "duration_seconds", "seconds", "train_seconds", "examples_per_s", "elapsed_seconds", "uptime_seconds",
    "latency_ms", "p50_ms", "p99_ms", "error_rate",
}
# Keys whose integers vary from run to run (a process, a port, a startup time): "<int>" (or "<float>" if one
# ever arrives with a fraction, which would be a change of type).
VOLATILE_INT_KEYS = {"startup_ms", "duration_ms", "pid", "port", "latency_us", "upstream_latency_us", "request_count"}
# Keys of free-text fields that may quote measured values (the trainer's JSON log lines): `"seconds":0.12`
# inside the text becomes `"seconds":<number>`.
TEXT_KEYS = {"lines", "log_tail"}
TEXT_MEASURED_RE = re.compile(r'("(?:' + "|".join(sorted(MEASURED_KEYS | VOLATILE_INT_KEYS)) +
                              r')"\s*:\s*)-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?')


def ts_placeholder(m):
    sep, dot, frac, zone = m.group(1), m.group(2), m.group(3), m.group(4)
    text = "<ts:YYYY-MM-DD" + sep + "HH:MM:SS"
    if frac is not None:
        text += dot + "f" * len(frac)
    if zone:
        text += "Z" if zone == "Z" else ("+HH:MM" if ":" in zone else "+HHMM")
    return text + ">"


def uuid_placeholder(m):
    text = m.group(0)
    version = m.group(3)[0]
    case = "UUID" if any(c.isupper() for c in text) else "uuid"
    return f"<{case}:v{version}>"


class Normalizer:
    def __init__(self):
        self.paths = []    # (absolute prefix, placeholder), longest first
        self.secrets = {}  # plain value -> placeholder

    def add_path(self, path, placeholder):
        if not path:
            return
        for variant in {path, os.path.realpath(path), os.path.abspath(path)}:
            self.paths.append((variant.rstrip("/"), placeholder))
        self.paths.sort(key=lambda p: -len(p[0]))

    def add_secret(self, value, kind="secret"):
        if value and len(value) >= 6:
            self.secrets[value] = f"<{kind}:len={len(value)}>"

    def string(self, s, key=None):
        if key in SECRET_KEYS:
            return f"<secret:len={len(s)}>"
        for plain, placeholder in self.secrets.items():
            if plain in s:
                s = s.replace(plain, placeholder)
        for prefix, placeholder in self.paths:
            if prefix and prefix in s:
                s = s.replace(prefix, placeholder)
        s = TS_RE.sub(ts_placeholder, s)
        s = UUID_RE.sub(uuid_placeholder, s)
        s = ADDR_RE.sub("<addr>", s)
        s = SHA256_RE.sub("<sha256>", s)
        s = PID_RE.sub(lambda m: m.group(1) + "<pid>", s)
        if key in TEXT_KEYS:
            s = TEXT_MEASURED_RE.sub(lambda m: m.group(1) + "<number>", s)
        return s

    def value(self, v, key=None, volatile=frozenset(), racy=frozenset()):
        """Normalize parsed JSON. Per step, `volatile` names more keys whose numbers vary, `racy` keys whose
        whole value depends on a race the scenario cannot avoid (replaced by "<racy>")."""
        if isinstance(v, Obj):
            out = Obj()
            for k, x in v:
                out.append((self.string(k), "<racy>" if k in racy else self.value(x, k, volatile, racy)))
            return out
        if isinstance(v, list):
            return [self.value(x, key, volatile, racy) for x in v]
        if isinstance(v, bool) or v is None:
            return v
        if isinstance(v, (FloatLit, int)):
            if key in MEASURED_KEYS or key in volatile:
                return "<number>"
            if key in VOLATILE_INT_KEYS:
                return "<float>" if isinstance(v, FloatLit) else "<int>"
            return v
        if isinstance(v, str):
            return self.string(v, key)
        return v


def body_format(raw):
    """How the body was serialized, apart from its values: whitespace, escaped slashes, escapes, final newline."""
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', raw)
    ws = "none"
    if "\n" in without_strings.strip():
        ws = "newlines"
    elif re.search(r"[ \t]", without_strings.strip()):
        ws = "spaces"
    strings = "".join(re.findall(r'"(?:[^"\\]|\\.)*"', raw))
    slashes = "none"
    escaped, plain = "\\/" in strings, bool(re.search(r"(?<!\\)/", strings))
    if escaped and plain:
        slashes = "mixed"
    elif escaped:
        slashes = "escaped"
    elif plain:
        slashes = "plain"
    return Obj([
        ("whitespace", ws),
        ("slashes", slashes),
        ("unicode_escapes", "\\u" in strings),
        ("trailing_newline", raw.endswith("\n")),
    ])


# --------------------------------------------------------------------------------------------------
# HTTP


class Answer:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        self.text = raw.decode("utf-8", errors="replace")
        self.json = None
        try:
            if self.text.strip():
                self.json = parse_json(self.text)
        except ValueError:
            self.json = None

    def __getitem__(self, path):
        if not isinstance(path, tuple):
            path = (path,)
        return get(self.json, *path)


def http(method, url, body=None, raw=None, headers=None, timeout=60):
    """One request; never raises on an HTTP status. `body` is JSON-encoded, `raw` sent as is."""
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    elif raw is not None:
        data = raw.encode() if isinstance(raw, str) else raw
        hdrs.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.headers, error.read())


# --------------------------------------------------------------------------------------------------
# Reading recordings


def load_recording(directory):
    files = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                files[name] = f.read()
    return files
