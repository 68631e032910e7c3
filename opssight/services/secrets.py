"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from
``OPSSIGHT_SECRET_KEY``.

Keys listed in ``OPSSIGHT_SECRET_KEY_PREVIOUS`` still decrypt, so the key can be rotated: set the
new key, move the old one to ``_PREVIOUS``, run ``opssight rotate-secrets`` (re-encrypts every
stored secret under the new key), then drop ``_PREVIOUS``.
"""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from opssight.config import Settings, get_settings

CONTEXT = b"opssight.secrets.v1\x00"


class SecretKeyError(Exception):
    """Stored secrets cannot be read with the configured keys."""


def _fernet(key: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(CONTEXT + key.encode()).digest()))


def _cipher(settings: Settings | None = None) -> MultiFernet:
    settings = settings or get_settings()
    return MultiFernet(
        [_fernet(settings.resolved_secret_key()), *map(_fernet, settings.previous_secret_keys)]
    )


def encrypt(values: dict[str, str], settings: Settings | None = None) -> str:
    """Ciphertext of a dict of secret values (empty values are dropped)."""
    kept = {name: value for name, value in values.items() if value}
    return _cipher(settings).encrypt(json.dumps(kept, sort_keys=True).encode()).decode()


def decrypt(token: str, settings: Settings | None = None) -> dict[str, str]:
    """The secret values; ``SecretKeyError`` naming the variable when no key fits."""
    if not token:
        return {}
    try:
        return json.loads(_cipher(settings).decrypt(token.encode()))
    except InvalidToken:
        raise SecretKeyError(
            "stored secrets cannot be decrypted with OPSSIGHT_SECRET_KEY: it changed since they "
            "were saved; put the old key in OPSSIGHT_SECRET_KEY_PREVIOUS and run "
            "`opssight rotate-secrets`"
        ) from None


def rotate(token: str, settings: Settings | None = None) -> str:
    """The same secrets encrypted under the current key."""
    if not token:
        return token
    try:
        return _cipher(settings).rotate(token.encode()).decode()
    except InvalidToken:
        decrypt(token, settings)  # raises the explanatory error
        raise
