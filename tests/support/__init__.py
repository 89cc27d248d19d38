"""Test support: real servers (Redis, RTSP) run on 127.0.0.1 by fixtures, and generated media."""
