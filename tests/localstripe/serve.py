"""Serves localstripe on 127.0.0.1 only (its own CLI binds every interface).

localstripe (GPL-3.0-or-later) is installed from PyPI at test time by run.sh and used as a
separate process; none of its code is part of this project.

usage: python serve.py PORT
"""
import sys

from aiohttp import web
import localstripe.server as server

web.run_app(server.app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
