"""The account stream gateway: `/v1/accounts/ws` on the Aries protocol."""
