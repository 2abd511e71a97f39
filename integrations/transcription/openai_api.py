"""OpenAI's transcription endpoint (`whisper-1`), or any server speaking its API (faster-whisper servers,
whisper.cpp's server, LocalAI) at TRANSCRIPTION_API_URL.

Called with plain `requests` through `integrations.http.request_with_retries`, not the openai SDK: one
HTTP stack for every vendor, our own timeout and retry policy (the SDK brings its own), and tests
that fake the provider at the HTTP edge with `responses`, as they do for every other vendor.
"""

from pathlib import PurePath

from django.conf import settings

from integrations.transcription.recognition import (
    Recognition,
    invalid_response,
    iso_code,
    json_answer,
    make_words,
    optional_seconds,
    send,
)

SERVICE = "OpenAI transcription API"

# The file name tells OpenAI the audio's format: it must match the bytes sent.
FILE_SUFFIXES = {
    "audio/ogg": ".ogg",
    "audio/opus": ".ogg",
    "audio/mpeg": ".mp3",
    "audio/mp3": ".mp3",
    "audio/mp4": ".m4a",
    "audio/m4a": ".m4a",
    "audio/x-m4a": ".m4a",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/wave": ".wav",
    "audio/webm": ".webm",
    "audio/flac": ".flac",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
}

# Whisper names the language it detected ("english"); captions want ISO 639-1. Whisper's own table
# (its tokenizer's LANGUAGES and their aliases), for the languages that have a two-letter code.
WHISPER_LANGUAGES = {
    "english": "en",
    "chinese": "zh",
    "mandarin": "zh",
    "german": "de",
    "spanish": "es",
    "castilian": "es",
    "russian": "ru",
    "korean": "ko",
    "french": "fr",
    "japanese": "ja",
    "portuguese": "pt",
    "turkish": "tr",
    "polish": "pl",
    "catalan": "ca",
    "valencian": "ca",
    "dutch": "nl",
    "flemish": "nl",
    "arabic": "ar",
    "swedish": "sv",
    "italian": "it",
    "indonesian": "id",
    "hindi": "hi",
    "finnish": "fi",
    "vietnamese": "vi",
    "hebrew": "he",
    "ukrainian": "uk",
    "greek": "el",
    "malay": "ms",
    "czech": "cs",
    "romanian": "ro",
    "moldavian": "ro",
    "moldovan": "ro",
    "danish": "da",
    "hungarian": "hu",
    "tamil": "ta",
    "norwegian": "no",
    "thai": "th",
    "urdu": "ur",
    "croatian": "hr",
    "bulgarian": "bg",
    "lithuanian": "lt",
    "latin": "la",
    "maori": "mi",
    "malayalam": "ml",
    "welsh": "cy",
    "slovak": "sk",
    "telugu": "te",
    "persian": "fa",
    "latvian": "lv",
    "bengali": "bn",
    "serbian": "sr",
    "azerbaijani": "az",
    "slovenian": "sl",
    "kannada": "kn",
    "estonian": "et",
    "macedonian": "mk",
    "breton": "br",
    "basque": "eu",
    "icelandic": "is",
    "armenian": "hy",
    "nepali": "ne",
    "mongolian": "mn",
    "bosnian": "bs",
    "kazakh": "kk",
    "albanian": "sq",
    "swahili": "sw",
    "galician": "gl",
    "marathi": "mr",
    "punjabi": "pa",
    "panjabi": "pa",
    "sinhala": "si",
    "sinhalese": "si",
    "khmer": "km",
    "shona": "sn",
    "yoruba": "yo",
    "somali": "so",
    "afrikaans": "af",
    "occitan": "oc",
    "georgian": "ka",
    "belarusian": "be",
    "tajik": "tg",
    "sindhi": "sd",
    "gujarati": "gu",
    "amharic": "am",
    "yiddish": "yi",
    "lao": "lo",
    "uzbek": "uz",
    "faroese": "fo",
    "haitian creole": "ht",
    "haitian": "ht",
    "pashto": "ps",
    "pushto": "ps",
    "turkmen": "tk",
    "nynorsk": "nn",
    "maltese": "mt",
    "sanskrit": "sa",
    "luxembourgish": "lb",
    "letzeburgesch": "lb",
    "myanmar": "my",
    "burmese": "my",
    "tibetan": "bo",
    "tagalog": "tl",
    "malagasy": "mg",
    "assamese": "as",
    "tatar": "tt",
    "lingala": "ln",
    "hausa": "ha",
    "bashkir": "ba",
    "javanese": "jv",
    "sundanese": "su",
}


def transcribe(audio: bytes, *, filename: str, content_type: str, language: str | None) -> Recognition:
    fields = [
        ("model", settings.TRANSCRIPTION_MODEL),
        ("response_format", "verbose_json"),
        # Word times for the captions; segment times come at no extra latency.
        ("timestamp_granularities[]", "word"),
        ("timestamp_granularities[]", "segment"),
    ]
    if language:
        fields.append(("language", language))
    response = send(
        SERVICE,
        f"{settings.TRANSCRIPTION_API_URL}/audio/transcriptions",
        headers={"Authorization": f"Bearer {settings.TRANSCRIPTION_API_KEY}"},
        data=fields,
        files={"file": (upload_name(filename, content_type), audio, content_type)},
    )
    body = json_answer(SERVICE, response)
    text = body.get("text")
    if body.get("words") is None and isinstance(text, str) and not text.strip():
        words = ()  # silence: servers may leave the word list out
    elif body.get("words") is None:
        raise invalid_response(SERVICE, f"no word timestamps (does {settings.TRANSCRIPTION_MODEL} give them?)")
    else:
        words = make_words(SERVICE, body["words"], text_key="word")
    return Recognition(
        language=language_code(body.get("language")) or iso_code(language),
        words=words,
        duration=optional_seconds(body.get("duration")),
    )


def language_code(name) -> str:
    """ISO 639-1 for Whisper's language name ("english" -> "en"); servers that answer a code keep it."""
    if not isinstance(name, str):
        return ""
    name = name.strip().lower()
    return WHISPER_LANGUAGES.get(name) or iso_code(name)


def upload_name(filename: str, content_type: str) -> str:
    """ "audio" with the suffix of `content_type` (else the file's own suffix, else .ogg)."""
    media_type = content_type.split(";")[0].strip().lower()
    suffix = FILE_SUFFIXES.get(media_type) or PurePath(filename).suffix.lower() or ".ogg"
    return f"audio{suffix}"
