"""Clerk: session-token verification (`sessions`) and the Backend API (`backend_api`)."""
