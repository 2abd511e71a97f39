"""Signals of clips, for the apps above it to act on without clips knowing them."""

import django.dispatch

# An import ended (succeeded or failed: either way it may have brought clips in). Sent with `clip_import`.
clip_import_finished = django.dispatch.Signal()
