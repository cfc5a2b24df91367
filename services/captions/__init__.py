"""The captions stage: offline Whisper speech-to-text beside encoding (issue 12)."""
