"""FFmpeg in Reelflow, one job per module (named `media` so that `import ffmpeg` stays the
ffmpeg-python library, which builds filter graphs and runs nothing):

* `process`: the one runner of every ffmpeg/ffprobe child process;
* `toolcheck`: the binary's version, encoders and filters, checked at service start;
* `probe_parser`: ffprobe's JSON turned into a `SourceProbe` (pure);
* `probing`: probing and decode-checking a source through the runner;
* `rules`: the content rules every source must pass, whichever way it came in (pure);
* `errors`: what these raise, with messages that name no server path.
"""
