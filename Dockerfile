# imap-gate as a GitHub Docker container action (see docs/action.md).
# Slim Python, dependencies installed from wheels only and checked against hashes, so no
# compiler ever enters the image and a tampered package fails the build.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

COPY requirements.lock /tmp/requirements.lock
# pip, setuptools and wheel are not needed at run time: removing them makes the image smaller.
RUN python -m pip install --no-cache-dir --require-hashes --only-binary=:all: \
        -r /tmp/requirements.lock \
    && python -m pip uninstall --yes pip setuptools wheel \
    && rm -f /tmp/requirements.lock

WORKDIR /opt/imap-gate
COPY entrypoint.py ./
COPY schemas/ ./schemas/
COPY checks/ ./checks/
COPY imap_gate/ ./imap_gate/
RUN python -m compileall -q /opt/imap-gate

# No USER line: GitHub runs Docker actions as root and mounts the workspace owned by the runner;
# a non-root user could not write the SARIF or the summary/output files there. The container is
# throwaway and sees only the workspace and the runner's files. Isolated mode (-I) keeps
# PYTHONPATH and friends from the job's environment out of the interpreter.
ENTRYPOINT ["python", "-I", "/opt/imap-gate/entrypoint.py"]
