"""The simulator's shared objects, each under one typed key."""

from __future__ import annotations

from aiohttp import web

from banksim.config import BankSimConfig
from banksim.deliveries import Deliverer

CONFIG = web.AppKey("banksim_config", BankSimConfig)
DELIVERER = web.AppKey("banksim_deliverer", Deliverer)
