"""Deterministic noise: hashes of (seed, index) that are the same on every platform
and in every process, so synthetic data needs no shared random state."""

import hashlib

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_TO_UNIT = 2.0**-53


def seed_of(*parts: object) -> int:
    text = "|".join(str(part) for part in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def mix(seed: int, i: int) -> int:
    """splitmix64 of (seed, i): fast, well mixed, the same on every platform."""
    z = (seed + i * _GOLDEN) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def unit(seed: int, i: int) -> float:
    """Uniform in [0, 1)."""
    return (mix(seed, i) >> 11) * _TO_UNIT
