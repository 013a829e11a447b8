"""webui: the subscriber portal and the operator's admin pages (Flask)."""
