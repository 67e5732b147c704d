"""Analysing a recording over time: ``xmer analyze`` and ``Recognizer.analyze``.

- :mod:`xmer.analysis.timeline`: :class:`~xmer.analysis.timeline.Timeline`, its segments and face
  tracks, and where segments fall (utterances, and window cells where nobody speaks);
- :mod:`xmer.analysis.run`: :func:`~xmer.analysis.run.analyze_media` (the audio pass with the
  transcription beside the video pass with the face tracks) and ``analyze_file`` (one file to its
  timeline files);
- :mod:`xmer.analysis.report`: ``timeline.json``, ``.csv``, ``.png`` and ``summary.md``;
- :mod:`xmer.analysis.video`: the annotated copy of a video (``--video-out``).
"""
