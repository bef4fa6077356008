"""The decision-support page (``radscore serve MODEL``): upload a patient's scans, see the Radscore."""

from radscore.errors import require_extra

# The page's packages are the ``web`` extra: say so before app.py's imports fail.
for _module in ("fastapi", "uvicorn", "python_multipart"):
    require_extra(_module, "web", "radscore serve")

from radscore.web.app import ServerSettings, create_app, serve

__all__ = ["ServerSettings", "create_app", "serve"]
