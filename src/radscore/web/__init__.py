"""The decision-support page (``radscore serve MODEL``): upload a patient's scans, see the Radscore."""

from radscore.web.app import ServerSettings, create_app, serve

__all__ = ["ServerSettings", "create_app", "serve"]
