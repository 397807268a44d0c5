"""Small real servers started by tests (uvicorn subprocesses on loopback)."""
