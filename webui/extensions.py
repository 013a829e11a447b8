"""The Flask extensions, created unbound and attached by ``create_app``."""
from __future__ import annotations

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf import CSRFProtect

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Entre com o número do circuito e a senha para continuar."
login_manager.login_message_category = "info"
login_manager.session_protection = "basic"

csrf = CSRFProtect()

#: limits are declared on the views (login); nothing is limited by default
limiter = Limiter(key_func=get_remote_address, default_limits=[], strategy="moving-window")
