"""Contenders from plugins: the ``harness.contenders`` entry points and HARNESS_PLUGINS."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import ROOT

PLUGIN = textwrap.dedent('''
    """A plugin's contenders."""
    from harness.contenders import Contender, register

    @register("plugged-in")
    class PluggedIn(Contender):
        family = "plugin"
''')


def _list(tmp_path, setup: str) -> subprocess.CompletedProcess:
    code = setup + textwrap.dedent("""
        from harness.contenders import list_contenders
        print(",".join(list_contenders("plugged-*,sklearn-logreg")))
    """)
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120,
                          env={"PYTHONPATH": f"{ROOT}:{tmp_path}", "PATH": "/usr/bin:/bin"})


def test_an_entry_point_registers_a_plugin_s_contenders(tmp_path):
    (tmp_path / "my_plugin.py").write_text(PLUGIN)
    setup = textwrap.dedent("""
        from importlib import metadata
        real = metadata.entry_points
        def entry_points(group=None, **kw):
            if group == "harness.contenders":
                return [metadata.EntryPoint("mine", "my_plugin", group)]
            return real(group=group, **kw)
        metadata.entry_points = entry_points
    """)
    done = _list(tmp_path, setup)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "plugged-in,sklearn-logreg"


def test_a_plugin_that_cannot_be_imported_is_one_clear_error(tmp_path):
    setup = "import os; os.environ['HARNESS_PLUGINS'] = 'no_such_plugin'\n"
    done = _list(tmp_path, setup)
    assert done.returncode != 0
    assert "cannot import contender plugin 'no_such_plugin'" in done.stderr
