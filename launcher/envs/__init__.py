"""Project environments: what a source declares it needs (declared.py, read from MLproject's python_env
or conda_env file, requirements.txt or pyproject.toml) and virtual environments built for it with uv
(uv_env.py), cached by interpreter version and dependency list, built once under a lock, never left
half-made."""
