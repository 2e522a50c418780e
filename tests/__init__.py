"""The test suite, one package per app, mirroring the code.

Module names: `test_<area>.py` for an area's services and pure code (exports, modelfiles, collection…),
`test_<area>_api.py`, `test_<area>_admin.py`, `test_<area>_commands.py` for its interfaces (or
`test_<area>_interfaces.py` where one file covers all three), `test_<area>_postgres.py` and
`test_<area>_browser.py` for what needs PostgreSQL or a headless browser. The evaluation app has a single area,
grading, so its interface modules drop it (`test_api.py`, `test_commands.py`). Data comes from each app's
`factories.py`; shared fixtures (API clients, loopback LLM servers, MEDIA_ROOT, real services) live in
`conftest.py`, the fake LLM servers in `llm_servers/`.
"""
