"""Device ids in signed cookies and the console token, no I/O."""

from __future__ import annotations

import hashlib
import hmac
import secrets

COOKIE_NAME = "stage_device"
DEVICE_ID_BYTES = 12


def new_secret() -> bytes:
    return secrets.token_bytes(32)


def new_token() -> str:
    """A console/admin token for the performer (printed at start unless configured)."""
    return secrets.token_urlsafe(18)


class DeviceSigner:
    """Issues random device ids and checks the signed form ``id.signature``.

    The signature is an HMAC-SHA256 over the show id and the device id, so a cookie from
    another show or a made-up id is refused (a phone can't mint votes).
    """

    def __init__(self, secret: bytes, show_id: str) -> None:
        self._secret = secret
        self._show = show_id.encode()

    def _sign(self, device: str) -> str:
        mac = hmac.new(self._secret, self._show + b"|" + device.encode(), hashlib.sha256)
        return mac.hexdigest()[:32]

    def issue(self) -> tuple[str, str]:
        """A new (device id, signed cookie value)."""
        device = secrets.token_hex(DEVICE_ID_BYTES)
        return device, f"{device}.{self._sign(device)}"

    def verify(self, cookie: str | None) -> str | None:
        """The device id in a valid signed cookie, else None."""
        if not cookie or len(cookie) > 100 or "." not in cookie:
            return None
        device, _, signature = cookie.partition(".")
        if len(device) != 2 * DEVICE_ID_BYTES:
            return None
        if hmac.compare_digest(signature, self._sign(device)):
            return device
        return None


def token_ok(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())
