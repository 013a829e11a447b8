"""Where a subscriber lands, and which invoices count as the customer's."""
from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from painel.models import Circuit, Invoice

FLAGS = ("faturas", "grafico", "blacklist", "sigame", "acb", "perfil", "tabela", "mensagem", "resposta")


def _set_flags(engine, number: str, **flags: bool) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        s.execute(update(Circuit).where(Circuit.number == number).values(**{f"flag_{k}": v for k, v in flags.items()}))
        s.commit()


def test_login_lands_on_the_first_page_the_flags_allow(client, portal_db, login) -> None:  # type: ignore[no-untyped-def]
    _set_flags(portal_db, "8011441", faturas=False, grafico=False, blacklist=False)
    response = login(client)
    assert response.status_code == 302 and response.headers["Location"] == "/numeros"
    page = client.get("/numeros").get_data(as_text=True)
    assert 'href="/numeros"' in page and 'href="/"' not in page.split("<main>")[0].replace('href="/numeros"', "")


def test_a_circuit_with_every_page_off_gets_a_clear_message(client, portal_db, login) -> None:  # type: ignore[no-untyped-def]
    _set_flags(portal_db, "8011441", **{f: False for f in FLAGS})
    response = login(client)
    assert response.status_code == 302 and response.headers["Location"] == "/sem-funcoes"
    page = client.get("/sem-funcoes")
    assert page.status_code == 403
    assert "Nenhuma função do painel está habilitada" in page.get_data(as_text=True)
    assert client.get("/").status_code == 404


def test_invoices_of_a_deactivated_circuit_stay_downloadable(signed_in, portal_db) -> None:  # type: ignore[no-untyped-def]
    with Session(portal_db) as s:
        mine = s.scalar(select(Invoice.id).join(Circuit).where(Circuit.number == "8010348",
                                                               Invoice.state.in_(("closed", "paid"))))
        theirs = s.scalar(select(Invoice.id).join(Circuit).where(Circuit.number == "8011880"))
        s.execute(update(Circuit).where(Circuit.number == "8010348").values(active=False))
        s.commit()
    response = signed_in.get(f"/faturas/{mine}.pdf")
    assert response.status_code == 200 and response.data.startswith(b"%PDF")
    assert signed_in.get(f"/faturas/{theirs}.pdf").status_code == 404


def test_a_dead_database_answers_503_in_portuguese(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from painel.db import create_engine
    from painel.settings import load_settings
    from webui import create_app

    url = "postgresql+psycopg://nobody@127.0.0.1:1/painel?connect_timeout=2"
    settings = load_settings(environ={}, overrides={"database_url": url, "var_dir": str(tmp_path),
                                                    "secret_key": "k"})
    app = create_app(settings, create_engine(url), testing=True)
    client = app.test_client()
    page = client.get("/entrar")
    assert page.status_code == 200
    import re

    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True)).group(1)
    response = client.post("/entrar", data={"usuario": "8011441", "senha": "x", "csrf_token": token})
    assert response.status_code == 503
    assert "O banco de dados não respondeu" in response.get_data(as_text=True)


def test_the_menu_marks_the_section_of_every_page(signed_in) -> None:  # type: ignore[no-untyped-def]
    """A call list belongs to Faturas, a message to Mensagens: the menu says where you are."""
    import re

    from webui.portal import section_of

    home = signed_in.get("/").get_data(as_text=True)
    link = re.search(r'href="(/circuitos/\d+/ligacoes/efetuadas[^"]*)"', home)
    assert link is not None
    pages = {"/": "Faturas", link.group(1).replace("&amp;", "&"): "Faturas", "/blacklist": "Blacklist",
             "/numeros": "Números", "/tabela": "Tabela", "/mensagens": "Mensagens", "/perfil": "Perfil"}
    for path, label in pages.items():
        html = signed_in.get(path).get_data(as_text=True)
        assert re.findall(r'aria-current="page">([^<]+)</a>', html) == [label], path
    assert section_of("portal.mensagem") == "portal.mensagens"
    assert section_of("portal.numeros_sigame") == "portal.numeros"
    assert section_of("auth.login") is None and section_of(None) is None
