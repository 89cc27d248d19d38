"""Real servers on 127.0.0.1 for tests and benchmarks: redis-server and an RTSP file server, managed by PID.

They need Debian's ``redis-server`` and the ``aio-rtsp-toolkit[server]`` package (dev extras).
"""
