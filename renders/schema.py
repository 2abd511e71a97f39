"""The render input contract in the OpenAPI document, for whoever builds the Remotion composition.

`RemotionInputProps` is what a Remotion render receives as `inputProps`: the stored layout spec
(the `LayoutSpec` component, generated from its serializer) plus what only the server adds.
"""

REMOTION_SERVER_PROPS = {
    "type": "object",
    "properties": {
        "source_url": {"type": "string", "format": "uri", "description": "A signed, expiring link to the video."},
        "output_width": {"type": "integer"},
        "output_height": {"type": "integer"},
        "fps": {"type": "integer"},
        "clip_duration": {"type": "number", "description": "Seconds."},
        "captions": {
            "type": "array",
            "nullable": True,
            "description": "@remotion/captions' Caption per word of the trimmed window; null without captions.",
            "items": {
                "type": "object",
                "properties": {
                    "text": {"type": "string"},
                    "startMs": {"type": "number"},
                    "endMs": {"type": "number"},
                    "timestampMs": {"type": "number", "nullable": True},
                    "confidence": {"type": "number", "nullable": True},
                },
                "required": ["text", "startMs", "endMs", "timestampMs", "confidence"],
            },
        },
        "caption_style": {
            "type": "object",
            "nullable": True,
            "description": "The captions' style, position, max_words, uppercase and highlight_color.",
        },
    },
    "required": ["source_url", "output_width", "output_height", "fps", "clip_duration", "captions", "caption_style"],
}


def add_remotion_input_props(result: dict, generator, request, public) -> dict:
    """drf-spectacular post-processing hook: publish the Remotion input contract as a component."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["RemotionInputProps"] = {
        "description": "What a Remotion render receives as inputProps: the stored spec plus what the server adds.",
        "allOf": [{"$ref": "#/components/schemas/LayoutSpec"}, REMOTION_SERVER_PROPS],
    }
    return result
