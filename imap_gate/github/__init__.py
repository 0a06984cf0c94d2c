"""GitHub Actions glue: annotations, job summary, step outputs, SARIF upload.

Everything here is a view over one ``RunResult``; none of it decides the gate.
The CLI calls ``action.run`` only when it runs inside Actions.
"""
