"""``python -m painel`` is the ``painel`` command."""
from painel.cli import run

run()
