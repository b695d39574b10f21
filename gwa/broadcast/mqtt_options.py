"""Where an MQTT broker is and how to log in, parsed from a URL (credentials never shown)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from gwa.errors import ConfigError


@dataclass(frozen=True, slots=True)
class MqttOptions:
    """Where the broker is and how to log in; parsed from
    ``mqtt[s]://[user[:pass]@]host:port[?coalesce=off]``."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure: bool = False
    """Skip certificate host-name checks (self-signed test brokers only)."""
    coalesce: bool = True
    """Send what is published to a topic while a send to it is in flight as one batch frame
    (``?coalesce=off``: one message each, for receivers older than batch frames)."""

    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> MqttOptions:
        """Parse a broker URL; keyword arguments override what the URL says."""
        u = urlparse(url)
        if u.scheme not in ("mqtt", "mqtts") or not u.hostname:
            raise ConfigError(
                f"bus URL {redact(url)!r} must look like mqtt://HOST:PORT or mqtts://HOST:PORT"
            )
        try:
            port = u.port
        except ValueError:  # out of 0..65535, or not a number
            raise ConfigError(
                f"bus URL {redact(url)!r} has an invalid port; use a number from 1 to 65535"
            ) from None
        values: dict[str, Any] = {
            "host": u.hostname,
            "port": port or (8883 if u.scheme == "mqtts" else 1883),
            "username": unquote(u.username) if u.username else None,
            "password": unquote(u.password) if u.password else None,
            "tls": u.scheme == "mqtts",
            "coalesce": _coalesce(url, u.query),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def tls_context(self) -> ssl.SSLContext | None:
        """An SSL context for the broker, or None for plain TCP."""
        if not self.tls:
            return None
        ctx = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.cert_file is not None:
            ctx.load_cert_chain(str(self.cert_file), str(self.key_file) if self.key_file else None)
        if self.insecure:
            ctx.check_hostname = False
        return ctx


def redact(url: str) -> str:
    """The URL without its password (safe for logs, errors and traces)."""
    u = urlparse(url)
    if not u.password:
        return url
    netloc = f"{u.username}:***@{u.hostname}" + (f":{u.port}" if u.port else "")
    return u._replace(netloc=netloc).geturl()


_SWITCH = {"on": True, "true": True, "1": True, "off": False, "false": False, "0": False}


def _coalesce(url: str, query: str) -> bool:
    """The ``coalesce`` switch of a bus URL's query (the only option a query may hold)."""
    options = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(options) - {"coalesce"})
    if unknown:
        raise ConfigError(
            f"bus URL {redact(url)!r} has an unknown option {unknown[0]!r}; the only one is "
            "coalesce=on|off"
        )
    value = options.get("coalesce", ["on"])[-1].lower()
    if value not in _SWITCH:
        raise ConfigError(f"bus URL {redact(url)!r}: coalesce must be on or off, not {value!r}")
    return _SWITCH[value]
