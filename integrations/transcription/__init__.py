"""Speech recognition for captions: OpenAI's transcription API (or a server speaking it) or Deepgram.

`recognise(path)` returns the words with their times; `provider_name()` says which provider is set up.
"""

from integrations.transcription.client import provider_name, recognise
from integrations.transcription.recognition import Recognition, TranscriptionError, Word

__all__ = ["Recognition", "TranscriptionError", "Word", "provider_name", "recognise"]
