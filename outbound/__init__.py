"""Where URLs an operator names may send to: `addresses` holds the rules (no network),
`http` resolves, checks and sends through the vetted address. Nothing here imports from
the apps that use it."""
