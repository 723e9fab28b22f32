"""A small registry with lazy `"module:object"` targets and did-you-mean errors (lm-eval's idea, one class).

Nothing heavy is imported until a target is resolved, so listing generators or building the portfolio never
imports torch.
"""

from __future__ import annotations

import difflib
import importlib
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar

from prover.errors import UsageError

T = TypeVar("T")


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ` (did you mean 'x'?)` suffix for the closest choice, or an empty string when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown_name_error(kind: str, name: str, choices: Iterable[str]) -> UsageError:
    """The UsageError for an unknown name: the name, a did-you-mean hint, and the known names."""
    names = sorted(choices)
    return UsageError(f"unknown {kind} '{name}'{did_you_mean(name, names)}; known: {', '.join(names)}")


@dataclass(frozen=True)
class Entry:
    """One registered name: a lazy target (`"module:object"`) or the object itself, and a one-line description."""

    name: str
    target: str | object
    description: str


class Registry(Generic[T]):
    """Name → object, where the object may be given as a `"module:object"` string resolved on first use.

    Args:
        kind: what the names are ("generator", "prompt format"); used in error messages.

    Examples:
        >>> reg: Registry[type] = Registry("generator")
        >>> reg.register("dict", "builtins:dict", "a mapping")
        >>> reg.get("dict") is dict
        True
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        self._resolved: dict[str, T] = {}
        self._lock = threading.Lock()

    def register(self, name: str, target: str | T, description: str) -> None:
        """Add a name; registering a name twice is a programming error."""
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is already registered")
        self._entries[name] = Entry(name, target, description)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return list(self._entries)

    def items(self) -> list[tuple[str, str]]:
        """(name, one-line description) pairs, in registration order."""
        return [(e.name, e.description) for e in self._entries.values()]

    def entry(self, name: str) -> Entry:
        """The entry for `name`; an unknown name raises UsageError with a did-you-mean hint."""
        try:
            return self._entries[name]
        except KeyError:
            raise unknown_name_error(self.kind, name, self._entries) from None

    def get(self, name: str) -> T:
        """The object for `name`, importing its module the first time."""
        entry = self.entry(name)
        with self._lock:
            if name not in self._resolved:
                target = entry.target
                self._resolved[name] = _import_target(target) if isinstance(target, str) else target  # type: ignore[assignment]  # a resolved target is a T by registration
            return self._resolved[name]


def _import_target(target: str) -> Any:
    module_name, sep, attr = target.partition(":")
    if not sep:
        raise ValueError(f"registry target {target!r} is not of the form 'module:object'")
    module = importlib.import_module(module_name)
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


# ---- typed options (`--model-args k=v`) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One backend option: how to parse its string value, its default, and a help line."""

    parse: Callable[[str], Any]
    default: Any
    help: str


def parse_bool(value: str) -> bool:
    low = value.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def choice(*allowed: str) -> Callable[[str], str]:
    """A parser accepting one of `allowed`."""

    def parse(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
        return value

    return parse


def optional(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """A parser that maps "" and "none" to None."""

    def wrapped(value: str) -> Any:
        return None if value.strip().lower() in ("", "none") else parse(value)

    return wrapped


def parse_options(backend: str, spec: Mapping[str, Option], options: Mapping[str, str] | None) -> dict[str, Any]:
    """Parse `options` (strings) against `spec`; unknown keys and bad values raise UsageError.

    Returns every key of `spec`, defaults filled in.
    """
    values = {key: opt.default for key, opt in spec.items()}
    for key, raw in (options or {}).items():
        if key not in spec:
            raise UsageError(
                f"unknown option '{key}' for generator '{backend}'{did_you_mean(key, spec)}; "
                f"known: {', '.join(sorted(spec)) or '(none)'}"
            )
        try:
            values[key] = spec[key].parse(str(raw))
        except (ValueError, TypeError) as exc:
            raise UsageError(f"bad value for option '{key}' of generator '{backend}': {exc}") from None
    return values
