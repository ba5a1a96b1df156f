"""Local servers speaking the wire protocols of the bridge's targets, for tests on 127.0.0.1.

Each fake is an aiohttp.web app behind `serve()`: `async with FakeX() as fake:` gives
`fake.url` (the base URL) and `fake.requests` (what it received), plus knobs to script answers.
"""
