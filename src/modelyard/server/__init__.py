"""HTTP adapters: thin FastAPI routes over the capabilities (FastAPI is in the ``serve`` extra
and imported only when a server is built)."""
