"""The data plane: HTTP server, routing, upstream pool, streaming relay, problem responses."""
