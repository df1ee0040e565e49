"""The user's project: the function to refine (``target``) and the tests that exercise it
(``discovery``). Plain values in, plain values out; no model, no search."""
