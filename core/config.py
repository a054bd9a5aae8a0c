"""Config is data: plain mappings (from YAML or JSON) into typed, frozen dataclasses.

:func:`from_dict` builds a dataclass from a mapping, recursively, checking every value against the
field's annotation.  An unknown key, a missing required key or a value of the wrong type raises
:class:`ConfigError` naming the full dotted key (``train.lr``).  :func:`apply_overrides` applies
``key=value`` strings from a command line to a mapping before it is built.  No YAML library is needed
here; :func:`load_yaml` imports PyYAML only when called.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import re
import sys
import typing
from typing import Any, Dict, Mapping, Sequence, Type, TypeVar, Union

from .errors import ConfigError

T = TypeVar("T")
_FLOAT_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_NONE = type(None)


def _type_name(tp) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin is Union:
        if value is None and _NONE in args:
            return None
        errors = []
        for a in args:
            if a is _NONE:
                continue
            try:
                return _convert(value, a, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{key}: {value!r} is not a valid {_type_name(tp)}")
    if origin is typing.Literal:
        if isinstance(value, bool) and not any(isinstance(a, bool) for a in args):
            # YAML 1.1 (PyYAML) reads a bare off / on / no / yes as a boolean: take the choice of that word
            words = ("on", "yes", "true") if value else ("off", "no", "false")
            value = next((a for a in args if a in words), value)
        if value not in args:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(repr(a) for a in args)}")
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping of {tp.__name__} fields, got {value!r}")
        return from_dict(tp, value, key)
    if origin in (tuple, list, collections.abc.Sequence) or tp in (tuple, list):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(args) != len(value):
                raise ConfigError(f"{key}: expected {len(args)} items, got {len(value)}")
            return tuple(_convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        return tuple(_convert(v, item, f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (dict, collections.abc.Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        kt, vt = args if args else (Any, Any)
        return {_convert(k, kt, f"{key}.<key>"): _convert(v, vt, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _FLOAT_RE.match(value.strip()):
            return float(value)  # PyYAML (YAML 1.1) reads 3e-4 as a string
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")


def from_dict(cls: Type[T], data: Mapping[str, Any], prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, checking keys and types; errors name the dotted key."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix or cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls, globalns=vars(sys.modules[cls.__module__]))
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f" in {prefix}" if prefix else ""
        raise ConfigError(f"unknown config key{'s' if len(unknown) > 1 else ''} "
                          f"{', '.join(_join(prefix, k) for k in unknown)}; known keys{where}: {', '.join(fields)}")
    kwargs: Dict[str, Any] = {}
    for name, f in fields.items():
        key = _join(prefix, name)
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], key)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:  # type: ignore[misc]
            raise ConfigError(f"missing required config key {key}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{prefix or cls.__name__}: {exc}") from None


def to_dict(obj: Any) -> Any:
    """A dataclass (recursively) as plain dicts/lists, ready for YAML/JSON."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else str(key)


def parse_value(text: str) -> Any:
    """A command-line value: YAML scalar/list syntax (``3``, ``1e-4``, ``true``, ``[a, b]``, ``null``)."""
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML comes with the train extra
        import json

        try:
            return json.loads(text)
        except ValueError:
            return text
    try:
        return _safe_yaml(text, "override value")
    except yaml.YAMLError:
        return text


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> Dict[str, Any]:
    """Return a copy of ``data`` with ``dotted.key=value`` overrides applied (values parsed as YAML)."""
    out: Dict[str, Any] = _deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        key, text = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"override {item!r} has an empty key")
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            nxt = node.get(p)
            if nxt is None:
                nxt = node[p] = {}
            elif not isinstance(nxt, dict):
                raise ConfigError(f"override {key}: {p} is not a section")
            node = nxt
        node[parts[-1]] = parse_value(text)
    check_config_size(out, "config with overrides")
    return out


def _deepcopy(d: Any) -> Any:
    if isinstance(d, Mapping):
        return {k: _deepcopy(v) for k, v in d.items()}
    if isinstance(d, (list, tuple)):
        return [_deepcopy(v) for v in d]
    return d


#: Bounds on a config after YAML aliases are expanded: values in all, and nesting depth.  A real config
#: has a few hundred values and a depth under ten; an "alias bomb" (a few hundred bytes of nested
#: anchors) expands to billions, which every later walk over the config would follow.
MAX_CONFIG_VALUES = 100_000
MAX_CONFIG_DEPTH = 64


def check_config_size(data: Any, where: str) -> None:
    """Refuse ``data`` if, with shared (aliased) parts counted every time they appear, it holds more than
    :data:`MAX_CONFIG_VALUES` values or nests deeper than :data:`MAX_CONFIG_DEPTH`."""
    count = 0
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_CONFIG_VALUES:
            raise ConfigError(f"{where}: more than {MAX_CONFIG_VALUES:,} values once YAML aliases are expanded; "
                              "a training config has a few hundred (nested anchors/aliases?)")
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"{where}: nested more than {MAX_CONFIG_DEPTH} levels deep")
        if isinstance(node, Mapping):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend((v, depth + 1) for v in node)


def _safe_yaml(text_or_file: Any, where: str) -> Any:
    import yaml

    try:
        data = yaml.safe_load(text_or_file)
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply to read") from None
    check_config_size(data, where)
    return data


def load_yaml(path: str) -> Dict[str, Any]:
    """Read a YAML mapping from ``path`` (empty file: empty mapping); bounded in size and depth."""
    import yaml

    try:
        with open(path, "r", encoding="utf-8") as f:
            data = _safe_yaml(f, path)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a folder; give the path of a YAML file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); a config is a YAML text file") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(data).__name__}")
    return dict(data)


def load_config(cls: Type[T], path: str, overrides: Sequence[str] = ()) -> T:
    """YAML file + ``key=value`` overrides -> frozen dataclass ``cls``."""
    return from_dict(cls, apply_overrides(load_yaml(path), overrides))


__all__ = ["from_dict", "to_dict", "apply_overrides", "parse_value", "load_yaml", "load_config", "check_config_size",
           "MAX_CONFIG_VALUES", "MAX_CONFIG_DEPTH"]
