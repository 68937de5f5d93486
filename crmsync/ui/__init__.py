"""The configuration page on the web: ``crmsync ui`` serves it (FastAPI, Jinja templates, plain forms).

Every item and rule comes from ``crmsync.page`` and ``crmsync.settings``; this package only
shows them, checks each form's CSRF token and runs "Pull now" in a background thread.
"""
