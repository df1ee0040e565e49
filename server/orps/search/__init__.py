"""The search: the ORPS beam search, its prompts, reply extraction, scoring and the typed
records it emits. It talks to a model through ``orps.model`` and runs code through
``orps_sandbox``; it knows nothing of terminals or editors."""
