"""Secrets: hashing of keys we hand out, encryption of upstream secrets we keep."""

import base64
import hashlib
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def _fernet() -> MultiFernet:
    keys = list(settings.FIELD_ENCRYPTION_KEYS)
    if not keys:
        # Embedded default: derive a key from SECRET_KEY so a fresh checkout runs.
        digest = hashlib.sha256(
            ("field-encryption:" + settings.SECRET_KEY).encode()
        ).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
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
    return (
        settings.GATEWAY_KEY_SIGNING_SECRET
        or hashlib.sha256(("gateway-keys:" + settings.SECRET_KEY).encode()).hexdigest()
    )
