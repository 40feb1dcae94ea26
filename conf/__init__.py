"""The commands' Hydra config (``conf/`` in the repository), shipped in the wheel as the package ``pql_conf``.

``app.command.CONF_DIR`` reads the repository's folder in a checkout or an editable install, and this
package's folder in an installed wheel; ``PQL_CONF_DIR`` overrides both.
"""
