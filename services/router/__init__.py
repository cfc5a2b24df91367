"""The lane router: `video-uploaded` -> the transcode lanes, in priority and fair-share
order (see `services/router/router.py`)."""
