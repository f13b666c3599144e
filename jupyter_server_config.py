"""Jupyter server configuration of `make lab`: JupyterLab on this repository for working through a chapter.

* ``notebooks/NN_*.py`` open as notebooks and saving writes the ``.py`` back: Jupytext's contents manager (its
  JupyterLab extension adds "Open With > Jupytext Notebook", and ``jupyterlab_overrides.json`` makes it the default
  viewer of ``.py`` files); ``jupytext.toml`` says how the files are written.
* Every kernel starts in ``_build/lab/`` with the book's pool cache (``MIA_CACHE_DIR`` = ``.cache/mia_lib``, unless
  it is set already): a chapter run there reuses the pools that ``make book`` trained, and trains new ones into the
  same cache, but writes its ``results/`` under ``_build/lab/``, so nothing done in the lab changes the book.
* The server listens on 127.0.0.1 only and asks for the token it prints; it does not check for updates.

``make lab`` passes this file with ``--config``; options on the command line (``make lab LAB_ARGS=...``) win.
"""

import os
from pathlib import Path

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager

ROOT = Path(__file__).resolve().parent
LAB_ROOT = ROOT / "_build" / "lab"
os.environ.setdefault("MIA_CACHE_DIR", str(ROOT / ".cache" / "mia_lib"))


class LabKernelManager(AsyncMappingKernelManager):
    """Kernels start in ``_build/lab/`` (created when needed), whichever folder the notebook is in."""

    def cwd_for_path(self, path, **kwargs):
        LAB_ROOT.mkdir(parents=True, exist_ok=True)
        return str(LAB_ROOT)


c = get_config()  # noqa: F821 (defined by the config loader)
c.ServerApp.ip = "127.0.0.1"
c.ServerApp.root_dir = str(ROOT)
c.ServerApp.contents_manager_class = "jupytext.AsyncTextFileContentsManager"
c.ServerApp.kernel_manager_class = LabKernelManager
# No calls home: no update check, and the extension manager only lists what is installed (requirements.txt pins it).
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
c.LabApp.extension_manager = "readonly"
