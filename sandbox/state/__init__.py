"""In-memory state of the simulated upstreams. `store.SandboxState` holds it and applies
the rules; `plans`, `members`, `faults` and `live_settings` are the records it keeps,
`errors` the refusal it raises and `formats` how money and time are written."""
