"""Roteadores: each ``router_status_urls`` instance, read from a real router's metrics exposition:
alive or not, calls/s between two visits, fallbacks by reason, errors by kind with the last one's time,
active calls, rules cache age."""
from __future__ import annotations

import re
import socket
import time

from prometheus_client import generate_latest

from esl_router.server import RouterMetrics
from painel.router_status import StatusBoard

URLS = "http://r1.example:9184/metrics, http://r2.example:9184/metrics"


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


def section(html: str, n: int) -> str:
    return html.split(f'id="roteador-{n}"')[1].split("</section>")[0]


def test_status_of_each_router(web, admin_db, app_with):  # type: ignore[no-untyped-def]
    metrics = RouterMetrics()
    for _ in range(7):
        metrics.calls.labels("circuit", "ok").inc()
    metrics.calls.labels("fallback", "timeout").inc(2)
    metrics.fallbacks.labels("overload").inc(3)
    metrics.fallbacks.labels("no_rules").inc()
    metrics.error("timeout")
    metrics.active.set(4)
    metrics.cache_age.set(1.5)
    clock = [1000.0]

    def fetch(url: str) -> str:
        if "r2" in url:
            raise OSError("[Errno 111] Connection refused")
        return generate_latest(metrics.registry).decode()

    app = app_with(router_status_urls=URLS)
    app.extensions["painel_router_status"] = StatusBoard(fetcher=fetch, clock=lambda: clock[0])
    web.app = app
    client = web.client("support")
    html = text(client.get("/admin/roteadores"))
    assert "1 de 2 instâncias respondendo." in html
    first = section(html, 1)
    assert "<code>http://r1.example:9184/metrics</code>" in first and "Respondendo" in first
    assert re.search(r'<dd class="taxa">—\s*<span class="dica">\(aparece a partir da segunda leitura\)', first)
    assert '<dd class="ativas">4</dd>' in first and '<dd class="cache">1,5 s</dd>' in first
    assert "9 (decididas: 7; sem resposta do FreeSWITCH: 2)" in first
    assert "Fallbacks (4)" in first
    assert '<td>sobrecarga (chamadas simultâneas demais) <span class="dica">(overload)</span></td><td class="num">3</td>' \
        in first
    assert '<td>regras ainda não carregadas <span class="dica">(no_rules)</span></td><td class="num">1</td>' in first
    assert "Erros (1)" in first
    last = re.search(r'\(timeout\)</span></td><td class="num">1</td><td>(\d\d/\d\d/\d{4} \d\d:\d\d:\d\d)</td>', first)
    assert last is not None  # when the last one happened, on the operator's clock
    second = section(html, 2)
    assert "Não respondeu" in second and "Não respondeu: [Errno 111] Connection refused." in second
    # a second visit: the rate between the two readings
    for _ in range(50):
        metrics.calls.labels("circuit", "ok").inc()
    clock[0] += 10
    html = text(client.get("/admin/roteadores"))
    assert '<dd class="taxa">5,00</dd>' in section(html, 1)


def test_one_board_per_app_reading_real_urls(web, admin_db, app_with):  # type: ignore[no-untyped-def]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    app = app_with(router_status_urls=f"http://127.0.0.1:{port}/metrics")
    web.app = app
    client = web.client("admin")
    assert "painel_router_status" not in app.extensions
    started = time.monotonic()
    html = text(client.get("/admin/roteadores"))
    assert time.monotonic() - started < 5
    assert "0 de 1 instância respondendo." in html and "Não respondeu" in section(html, 1)
    board = app.extensions["painel_router_status"]
    client.get("/admin/roteadores")
    assert app.extensions["painel_router_status"] is board  # kept: calls/s is a rate between visits


def test_no_router_configured(web, admin_db, app_with):  # type: ignore[no-untyped-def]
    web.app = app_with(router_status_urls=" , ")
    html = text(web.client("admin").get("/admin/roteadores"))
    assert "Nenhum endereço configurado" in html
