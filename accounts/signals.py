"""Signals of accounts, for the apps above it to act on without accounts knowing them."""

import django.dispatch

# A user's Twitch link changed: linked, re-linked to another account, unlinked, or the user deleted.
# Sent inside the transaction that made the change, with `user_id`.
twitch_link_changed = django.dispatch.Signal()
