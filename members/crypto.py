"""Secrets: hashing of keys we hand out, encryption of upstream secrets we keep.

The keys come from the settings, which refuse to load without them (orgportal/keys.py);
nothing here derives a key from anything else."""

import hashlib
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def _fernet() -> MultiFernet:
    keys = list(settings.FIELD_ENCRYPTION_KEYS)
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty")
    # The first key encrypts; every one of them decrypts, so keys rotate without loss.
    return MultiFernet([Fernet(k) for k in keys])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError(
            "stored secret cannot be decrypted with the configured keys"
        ) from None


def signing_secret() -> str:
    if not settings.GATEWAY_KEY_SIGNING_SECRET:
        raise ImproperlyConfigured("GATEWAY_KEY_SIGNING_SECRET is empty")
    return settings.GATEWAY_KEY_SIGNING_SECRET
