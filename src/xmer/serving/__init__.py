"""``xmer serve``: the recogniser as a web service (FastAPI on uvicorn) and a web page.

- :mod:`xmer.serving.app`: the endpoints, error answers and worker pools (:func:`create_app`);
- :mod:`xmer.serving.limits`: what a deployer can cap (:class:`ServeLimits`), flags and config;
- :mod:`xmer.serving.middleware`: body size and request time, enforced before any endpoint runs;
- :mod:`xmer.serving.uploads`: an upload from bytes to a checked media file (type from content);
- ``static/``: the web page at ``/`` (plain HTML and JavaScript, nothing fetched from elsewhere).

Needs the ``serve`` extra (``pip install 'xmer[serve]'``); importing :mod:`xmer.serving.limits`
alone does not.
"""

INSTALL_HINT = "pip install 'xmer[serve]'"
