"""Where a remote scorer's key, base URL and headers come from, checked before any I/O.

Keys and base URLs are read as each provider's own client reads them (see ``_providers``).
Every value that goes into a request header is checked here, at construction: a key with a
stray newline (a key file's last line) would otherwise reach the HTTP library, whose error
quotes the whole header, key included. Surrounding whitespace is stripped; a control or
non-ASCII character inside is refused with an error that names where the key came from and
the position, never the key.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

from ..._exceptions import InvalidInputError, RemoteAuthError
from ._providers import Provider

__all__ = ["base_url_of", "check_headers", "check_path", "key_of", "safe_url"]

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}
# RFC 9110 token characters: what a header name may hold.
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def key_of(provider: Provider, api_key: str | SecretStr | None) -> tuple[SecretStr | None, str]:
    """The key and where it came from (``api_key=``, a variable, a key file)."""
    given = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
    key, source = (given, "api_key=") if given else _key_from_environment(provider)
    key = key.strip() if key else None
    if key:
        _check_header_value(key, f"{provider.name}: the API key (from {source})")
        return SecretStr(key), source
    if provider.key_required:
        names = " or ".join(name for _, name in provider.key_sources)
        raise RemoteAuthError(
            f"{provider.name}: no API key; pass api_key= or set {names}", provider=provider.name
        )
    return None, ""


def _key_from_environment(provider: Provider) -> tuple[str | None, str]:
    for kind, name in provider.key_sources:
        value = os.environ.get(name)
        if not value or not value.strip():
            continue
        if kind == "env":
            return value, name
        try:  # a key file, as the SDK reads it: its whole text, stripped
            return Path(value).read_text(encoding="utf-8"), f"the file {name} names"
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8"
            raise InvalidInputError(
                f"{provider.name}: cannot read the key file {name}={value!r} ({reason})"
            ) from None
    return None, ""


def check_headers(headers: Mapping[str, str], provider: str) -> dict[str, str]:
    """Extra headers, checked: a bad one is named, its value never shown."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not name or not set(name) <= _TOKEN:
            raise InvalidInputError(f"{provider}: headers= has a name that is not valid HTTP")
        if not isinstance(value, str):
            raise InvalidInputError(f"{provider}: header {name!r} must be a string")
        value = value.strip()
        _check_header_value(value, f"{provider}: header {name!r}")
        out[name] = value
    return out


def _check_header_value(value: str, what: str) -> None:
    for position, char in enumerate(value):
        if ord(char) < 0x20 or ord(char) == 0x7F:
            raise InvalidInputError(f"{what} has a control character at position {position}")
        if ord(char) > 0x7E:
            raise InvalidInputError(f"{what} has a non-ASCII character at position {position}")


def base_url_of(
    provider: Provider, base_url: str | None, key: str | None, allow_insecure: bool
) -> str:
    """The base URL: ``base_url=``, the provider's variables in order, its public default."""
    url = (
        base_url
        or next((os.environ[e] for e in provider.base_url_envs if os.environ.get(e)), None)
        or provider.default_base_url_for(key)
    )
    if not url:
        names = " or ".join(provider.base_url_envs)
        raise InvalidInputError(f"{provider.name}: give base_url= or set {names}")
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise InvalidInputError(
            f"{provider.name}: base URL must be http(s)://host[:port][/prefix], got "
            f"{safe_url(url)!r}"
        )
    if parts.scheme == "http" and not allow_insecure and not _is_loopback(parts.hostname):
        raise InvalidInputError(
            f"{provider.name}: refusing plain HTTP to {parts.hostname}; use https, a loopback "
            "address, or allow_insecure=True"
        )
    return url.rstrip("/")


def check_path(path: str | None, provider: str) -> str | None:
    """``path=``: an absolute path, no query, nothing a request line cannot carry."""
    if path is None:
        return None
    bad = not path.startswith("/") or any(c in path for c in "?# ") or not path.isprintable()
    if bad or not path.isascii():
        raise InvalidInputError(
            f"{provider}: path must be an absolute URL path such as /v1/rerank, got {path!r}"
        )
    return path


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def safe_url(url: str) -> str:
    """The URL without user:password, for reprs and messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
