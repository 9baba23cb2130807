"""The one reader of user values and files in YAML, JSON and TOML (issue #28): what a person
typed (a command-line option, a dashboard field) and what a file holds (a config, a spec, a
run folder's JSON), read so that no input can cost more than its own size.

- **YAML** (`load_value`): aliases and anchors (``&a``, ``*a``) are refused — `yaml.safe_load`
  expands them, and a 331-byte value of nested aliases became a 254 MB error message, 13 s and
  1.8 GB (issue #28 measured 38 s and 4.3 GB with 356 bytes) —; explicit tags (``!!python/...``,
  ``!!set``, any ``!tag``) are refused; duplicate keys in a mapping are refused (YAML let the
  last one win); the text is capped (`MAX_VALUE_CHARS` for a typed value, the caller's cap for a
  file) and so is the nesting (`MAX_DEPTH`), checked while the document is composed, before
  anything deeper is built.
- **JSON** (`load_json`): bytes or text, capped in size, duplicate keys refused, nesting at most
  `max_depth` (json.loads raised RecursionError on 100k-deep nesting).
- **TOML** (`load_toml`): capped, nesting at most `max_depth`.
- **Messages**: every error is an `InputError` (a ValueError) that starts with `what` (the field
  or file) and never holds more than `SHORT` characters of the input: `short(value)` is the one
  formatter of a user's value in a message (reprlib's bounded walk, then cut with '…'), so even a
  value a Python caller built from shared references costs microseconds to name.

Other modules import these names (`load_value`, `load_json`, `load_toml`, `read_text`, `short`,
`InputError`, `MalformedInput`); keep them stable. YAML is imported on first use (an optional
dependency); the module itself imports only the standard library.
"""

from __future__ import annotations

import json
import math
import os
import reprlib
import stat
from pathlib import Path

#: the longest value typed as text (a command-line option; the dashboard's fields are shorter)
MAX_VALUE_CHARS = 10_000
#: the largest config, spec or JSON file read whole (a config is a short table of fields)
MAX_FILE_BYTES = 2**20
#: the deepest nesting of lists and mappings (a config needs 3)
MAX_DEPTH = 32
#: the most characters of a user's value that a message quotes
SHORT = 200


class InputError(ValueError):
    """A value or file was refused: an alias, a tag, too large, too deep, a duplicate key, or malformed.
    The message names the field or file and quotes at most SHORT characters of the input."""


class MalformedInput(InputError):
    """Not valid YAML/JSON/TOML at all (a syntax error), as opposed to valid input that is refused."""


# ---- naming a value in a message ---------------------------------------------------------
_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxfrozenset = _REPR.maxdeque = _REPR.maxarray = 12
_REPR.maxdict = 12
_REPR.maxstring = 160
_REPR.maxlong = 60
_REPR.maxother = 80


def short(value, limit: int = SHORT) -> str:
    """repr(value), at most `limit` characters ('…' marks a cut), computed without walking more
    than a few thousand elements of it (reprlib: 3 levels, 12 items a level)."""
    try:
        text = _REPR.repr(value)
    except Exception:                 # a broken __repr__: say what it is, not what it holds
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short_text(text: str, limit: int = SHORT) -> str:
    """A message (an error's own words, which may quote the input) cut to `limit` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _depth_over(value, max_depth: int) -> bool:
    """Whether lists/dicts nest deeper than max_depth (a loop, not recursion)."""
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            items = v.values()
        elif isinstance(v, (list, tuple)):
            items = v
        else:
            continue
        if d > max_depth:
            return True
        stack.extend((x, d + 1) for x in items if isinstance(x, (dict, list, tuple)))
    return False


def _check_size(text, what: str, max_chars: int, unit: str = "characters") -> None:
    if len(text) > max_chars:
        raise InputError(f"{what}: {len(text):,} {unit}; at most {max_chars:,} are read")


# ---- YAML ---------------------------------------------------------------------------------------
_LOADER = None


def _loader():
    """A yaml.SafeLoader that refuses anchors, aliases, explicit tags, duplicate keys and deep
    nesting while it composes (made once, on first use: PyYAML is an optional import)."""
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    import yaml
    from yaml.events import AliasEvent, CollectionStartEvent

    class Loader(yaml.SafeLoader):
        max_depth = MAX_DEPTH
        depth = 0

        def compose_node(self, parent, index):
            event = self.peek_event()
            if isinstance(event, AliasEvent):
                raise _Refused("aliases (*name) are not allowed", event.start_mark)
            if getattr(event, "anchor", None) is not None:
                raise _Refused("anchors (&name) are not allowed", event.start_mark)
            if getattr(event, "tag", None) is not None:        # only an explicit tag sets it
                raise _Refused(f"tags ({short(event.tag, 40)}) are not allowed", event.start_mark)
            if isinstance(event, CollectionStartEvent):
                if self.depth >= self.max_depth:
                    raise _Refused(f"nested more than {self.max_depth} deep", event.start_mark)
                self.depth += 1
                try:
                    return super().compose_node(parent, index)
                finally:
                    self.depth -= 1
            return super().compose_node(parent, index)

        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    key = self.construct_object(key_node)
                    try:
                        if key in seen:
                            raise _Refused(f"the key {short(key, 60)} is given twice", key_node.start_mark)
                        seen.add(key)
                    except TypeError:
                        pass                  # an unhashable key: SafeConstructor says so below
            return super().construct_mapping(node, deep)

    class _Refused(yaml.YAMLError):
        def __init__(self, problem, mark):
            super().__init__(problem)
            self.problem, self.mark = problem, mark

    Loader._Refused = _Refused
    _LOADER = Loader
    return Loader


def _flow_depth_at(text: str, max_depth: int):
    """(line, column) where '[' / '{' first nest deeper than max_depth outside quotes and
    comments, or None: one linear pass. PyYAML's scanner looks ~1,000 flow levels ahead before
    the composer can refuse the 33rd (0.15 s idle, 2 s on a loaded machine), so deep text is
    refused here first. A quote mark inside a plain word only makes this pass see less depth;
    the composer's own check stays behind it."""
    if text.count("[") + text.count("{") <= max_depth:      # the usual config: nothing to walk
        return None
    depth, line, col, quote, comment = 0, 0, 0, None, False
    prev = "\n"
    for ch in text:
        if ch == "\n":
            line, col, comment = line + 1, -1, False
        elif comment:
            pass
        elif quote is not None:
            if ch == quote and not (quote == '"' and prev == "\\"):
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and prev in " \t\n":
            comment = True
        elif ch in "[{":
            depth += 1
            if depth > max_depth:
                return line, col
        elif ch in "]}":
            depth = max(depth - 1, 0)
        prev, col = ch, col + 1
    return None


def load_value(text, *, what: str, max_chars: int = MAX_VALUE_CHARS, max_depth: int = MAX_DEPTH):
    """YAML text -> a Python value (numbers, booleans, strings, lists, mappings; None for empty
    text), refusing aliases/anchors, explicit tags, duplicate keys, more than `max_chars`
    characters and nesting deeper than `max_depth`. InputError names `what`; MalformedInput
    (a subclass) when the text is not YAML at all."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise MalformedInput(f"{what}: not UTF-8 text (byte {err.start:,})") from None
    if not isinstance(text, str):
        raise InputError(f"{what}: must be text, got a {type(text).__name__}")
    _check_size(text, what, max_chars)
    deep = _flow_depth_at(text, max_depth)
    if deep is not None:
        raise InputError(f"{what}: nested more than {max_depth} deep (line {deep[0] + 1}, column {deep[1] + 1})")
    import yaml
    Loader = _loader()
    loader = Loader(text)
    loader.max_depth = max_depth
    try:
        return loader.get_single_data()
    except Loader._Refused as err:
        where = f" (line {err.mark.line + 1}, column {err.mark.column + 1})" if err.mark is not None else ""
        raise InputError(f"{what}: {err.problem}{where}") from None
    except (yaml.YAMLError, RecursionError, ValueError, TypeError, OverflowError) as err:
        # a syntax error; a constructor's own (an unhashable key, a bad date); ValueError from
        # int() on a huge literal. The message is YAML's, cut: it may quote the text.
        raise MalformedInput(f"{what}: not valid YAML ({type(err).__name__}: {short_text(err, 160)})") from None
    finally:
        loader.dispose()


# ---- JSON ---------------------------------------------------------------------------------------
def _no_duplicates(what):
    def pairs(items):
        out = {}
        for k, v in items:
            if k in out:
                raise InputError(f"{what}: the key {short(k, 60)} is given twice")
            out[k] = v
        return out
    return pairs


def load_json(data, *, what: str, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_FILE_BYTES,
              allow_nan: bool = False):
    """JSON text or bytes -> a Python value, refusing more than `max_bytes`, nesting deeper than
    `max_depth`, duplicate keys, NaN/Infinity literals (unless `allow_nan`: the lab's own result
    rows, written by json.dump, hold NaN for what was not measured), and anything not UTF-8.
    InputError names `what` (MalformedInput when it is not JSON)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        _check_size(data, what, max_bytes, "bytes")
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as err:
            raise MalformedInput(f"{what}: not UTF-8 text (byte {err.start:,})") from None
    elif isinstance(data, str):
        _check_size(data, what, max_bytes)
    else:
        raise InputError(f"{what}: must be text or bytes, got a {type(data).__name__}")

    def constant(name):
        if allow_nan:          # one object per constant, as json's own (so equal rows compare equal)
            return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[name]
        raise InputError(f"{what}: {name} is not a JSON number")
    try:
        value = json.loads(data, object_pairs_hook=_no_duplicates(what), parse_constant=constant)
    except InputError:
        raise
    except RecursionError:
        raise InputError(f"{what}: nested more than {max_depth} deep") from None
    except (ValueError, TypeError, OverflowError) as err:   # json.JSONDecodeError is a ValueError
        raise MalformedInput(f"{what}: not valid JSON ({type(err).__name__}: {short_text(err, 160)})") from None
    if _depth_over(value, max_depth):
        raise InputError(f"{what}: nested more than {max_depth} deep")
    return value


# ---- TOML ---------------------------------------------------------------------------------------
def load_toml(text, *, what: str, max_depth: int = MAX_DEPTH, max_chars: int = MAX_FILE_BYTES) -> dict:
    """TOML text -> a dict, capped in size and depth like load_value (TOML has no aliases or tags)."""
    if not isinstance(text, str):
        raise InputError(f"{what}: must be text, got a {type(text).__name__}")
    _check_size(text, what, max_chars)
    try:
        import tomllib
    except ModuleNotFoundError:           # Python 3.10: the tomli backport (a dependency there)
        import tomli as tomllib
    try:
        value = tomllib.loads(text)
    except RecursionError:
        raise InputError(f"{what}: nested more than {max_depth} deep") from None
    except (ValueError, TypeError) as err:                   # tomllib.TOMLDecodeError is a ValueError
        raise MalformedInput(f"{what}: not valid TOML ({type(err).__name__}: {short_text(err, 160)})") from None
    if _depth_over(value, max_depth):
        raise InputError(f"{what}: nested more than {max_depth} deep")
    return value


# ---- files ---------------------------------------------------------------------------------------
def read_text(path, *, what: str, max_bytes: int = MAX_FILE_BYTES) -> str:
    """A regular file's text (UTF-8), at most `max_bytes`: a FIFO, a device (a symlink to /dev/zero
    included) or a folder is refused without being opened for reading (a FIFO would block), and a
    file that grows past the cap while read is refused too. OSError for a missing or unreadable
    file; InputError for the rest."""
    path = Path(path)
    st = os.stat(path)                               # follows symlinks: judges what would be read
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{what}: {path} is not a regular file")
    if st.st_size > max_bytes:
        raise InputError(f"{what}: {path} is {st.st_size:,} bytes; at most {max_bytes:,} are read")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):   # swapped for a FIFO or device since the stat
            raise InputError(f"{what}: {path} is not a regular file")
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > max_bytes:
        raise InputError(f"{what}: {path} is over {max_bytes:,} bytes; at most {max_bytes:,} are read")
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as err:
        raise MalformedInput(f"{what}: {path} is not UTF-8 text (byte {err.start:,})") from None
