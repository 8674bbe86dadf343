"""Attack detection over every part of an HTTP request: the classic injection families.

`model` holds the vocabulary (samples, parts, reports, categories), `parts` splits a request,
`../normalize` undoes encodings, and each engine (`builtin`, `crs`) scores the parts.
"""
