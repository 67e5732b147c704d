"""The version of the JSON that xmer writes for predictions and timelines.

Every prediction (``xmer predict --json``, each line of ``--batch``, the server's answers) and every
timeline (``timeline.json`` of ``xmer analyze``, the server's ``/analyze``) starts with
``"schema_version"`` and names the model that made it (``"model": {"id", "extractors"}``). The fields
and an example of each are in docs/output.md; a change that renames or removes a field, or changes
its meaning, raises the version.
"""

SCHEMA_VERSION = 1
