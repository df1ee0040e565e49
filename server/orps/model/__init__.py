"""The model layer: the chat protocol and its errors, the OpenAI-compatible backend, the
embedded local model, its OpenAI-compatible HTTP server, the response cache and the budgeted
client. It knows nothing of searches, projects or editors."""
