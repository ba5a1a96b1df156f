"""The dashboard behind a real nginx (Debian `nginx-light`) that does not keep `Host`, and Caddy.

nginx's plain `proxy_pass http://127.0.0.1:PORT;` sends `Host: 127.0.0.1:PORT` (the upstream's
address) while the browser's `Origin` is nginx's own address: before BRIDGE_PUBLIC_URL every
dashboard POST, the sign-in first, was refused. The first test shows the refusal now says how
to fix it; the others sign in, disable and enable an action and read the notices through
nginx with BRIDGE_PUBLIC_URL, through Caddy configured as docs/operations.md shows (Caddy keeps
Host), and through Caddy told to drop Host, with BRIDGE_PUBLIC_URL. Skipped with a printed
reason when nginx, Caddy or Chromium is missing, except under CI=true.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import pytest

from tests.admin.browsing import DESKTOP, PHONE, chromium, overflowing, shot, sign_in
from tests.admin.harness import Bridge, eventually, running_bridge

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

TOKEN = "proxy-test-admin-token-0123"
NGINX = os.environ.get("BRIDGE_TEST_NGINX", "/usr/sbin/nginx")
CADDY = os.environ.get("BRIDGE_TEST_CADDY", "/usr/bin/caddy")

# docs/operations.md's Caddy example as is (Caddy passes the browser's Host on), and one that
# does not keep Host (`header_up Host {upstream_hostport}`), which needs BRIDGE_PUBLIC_URL.
CADDYFILE = """\
{{
  admin off
  auto_https off
}}
http://127.0.0.1:{port} {{
  reverse_proxy 127.0.0.1:{upstream}{extra}
}}
"""
DROP_HOST = " {\n    header_up Host {upstream_hostport}\n  }"

CONFIG = """\
daemon off;
master_process off;
worker_processes 1;
pid {run}/nginx.pid;
error_log {run}/error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {run}/body;
  proxy_temp_path {run}/proxy;
  fastcgi_temp_path {run}/fastcgi;
  uwsgi_temp_path {run}/uwsgi;
  scgi_temp_path {run}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location / {{
      # No `proxy_set_header Host $host;`: nginx sends the upstream's address as Host.
      proxy_pass http://127.0.0.1:{upstream};
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }}
  }}
}}
"""


def need(binary: str, name: str, package: str) -> str:
    found = binary if Path(binary).exists() else shutil.which(name)
    if found:
        return found
    reason = f"{name} not found at {binary} (Debian package `{package}`)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the reverse proxy test")
    print(f"skipping: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def nginx(run: Path, port: int, upstream: int) -> Iterator[subprocess.Popen[bytes]]:
    binary = need(NGINX, "nginx", "nginx-light")
    run.mkdir(parents=True, exist_ok=True)
    conf = run / "nginx.conf"
    conf.write_text(CONFIG.format(run=run, port=port, upstream=upstream))
    process = subprocess.Popen(
        [binary, "-p", str(run), "-c", str(conf), "-e", str(run / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def caddy(
    run: Path, port: int, upstream: int, *, keep_host: bool
) -> Iterator[subprocess.Popen[bytes]]:
    binary = need(CADDY, "caddy", "caddy")
    run.mkdir(parents=True, exist_ok=True)
    conf = run / "Caddyfile"
    extra = "" if keep_host else DROP_HOST
    conf.write_text(CADDYFILE.format(port=port, upstream=upstream, extra=extra))
    env = {**os.environ, "XDG_DATA_HOME": str(run / "data"), "XDG_CONFIG_HOME": str(run / "config")}
    process = subprocess.Popen(
        [binary, "run", "--config", str(conf), "--adapter", "caddyfile"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


@asynccontextmanager
async def behind_nginx(
    tmp_path: Path, *, public: bool, proxy: str = "nginx"
) -> AsyncIterator[tuple[Bridge, str]]:
    port = free_port()
    proxy_url = f"http://127.0.0.1:{port}"
    public_url = proxy_url if public else None
    async with running_bridge(tmp_path, admin_token=TOKEN, retry="1h", public_url=public_url) as b:
        upstream = int(b.url.rsplit(":", 1)[1])
        if proxy == "nginx":
            started = nginx(tmp_path / "nginx", port, upstream)
        else:
            started = caddy(tmp_path / "caddy", port, upstream, keep_host=proxy == "caddy")
        with started as process:

            async def answers() -> bool:
                if process.poll() is not None:
                    raise AssertionError(f"nginx exited: {process.stderr.read()!r}")  # type: ignore[union-attr]
                try:
                    async with httpx.AsyncClient() as http:
                        return (await http.get(f"{proxy_url}/healthz")).status_code == 200
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
                    return False

            await eventually(answers)
            yield b, proxy_url


async def test_nginx_keeps_the_upstream_host_and_the_sign_in_says_what_to_set(
    tmp_path: Path,
) -> None:
    from playwright.async_api import expect

    async with behind_nginx(tmp_path, public=False) as (bridge, proxy_url), chromium() as browser:
        async with httpx.AsyncClient() as http:
            seen = await http.get(f"{proxy_url}/admin")
        assert seen.status_code == 401  # the proxy works; only the origin differs
        page = await (await browser.new_context(viewport=DESKTOP)).new_page()
        await sign_in(page, proxy_url, TOKEN)
        upstream = bridge.url.removeprefix("http://")
        await expect(page.locator(".signin .error")).to_have_text(
            f"This form was sent from {proxy_url}, but this bridge was reached as {upstream}. "
            "Behind a reverse proxy that does not keep the Host header, set "
            f"BRIDGE_PUBLIC_URL={proxy_url} (docs/operations.md, “Behind a reverse proxy”)."
        )
        assert not [c for c in await page.context.cookies() if c["name"] == "bridge_admin"]
        await shot(page, "proxy-refused")


@pytest.mark.parametrize(
    ("proxy", "public"),
    [("nginx", True), ("caddy", False), ("caddy-dropping-host", True)],
)
async def test_every_button_works_through_the_proxy(
    tmp_path: Path, proxy: str, public: bool
) -> None:
    """nginx without Host and BRIDGE_PUBLIC_URL; Caddy as documented (it keeps Host, no
    setting needed); Caddy told not to keep Host, with BRIDGE_PUBLIC_URL."""
    from playwright.async_api import expect

    async with (
        behind_nginx(tmp_path, public=public, proxy=proxy) as (_, proxy_url),
        chromium() as browser,
    ):
        context = await browser.new_context(viewport=DESKTOP)
        page = await context.new_page()
        await sign_in(page, proxy_url, TOKEN)
        card = page.locator('.action[data-action="rebuild-site"]')
        await expect(card).to_have_attribute("data-health", "ready")
        await card.get_by_role("button", name="Disable").click()
        await expect(page.locator("h1")).to_have_text("Disable rebuild-site?")
        await page.get_by_role("button", name="Disable rebuild-site").click()
        await expect(page.locator("#flash")).to_have_text(
            "Disabled rebuild-site: its jobs are parked until you enable it; nothing is lost."
        )
        await expect(card.locator(".pill-disabled")).to_have_text("disabled")
        await card.get_by_role("button", name="Enable").click()
        await expect(page.locator("#flash")).to_have_text(
            "Enabled rebuild-site: its parked jobs are delivered again, oldest first."
        )
        await shot(page, f"proxy-{proxy}-desktop")
        await page.set_viewport_size(PHONE)
        await page.reload()
        assert await overflowing(page) == []
        await shot(page, f"proxy-{proxy}-phone")
        await context.close()
