"""The simulated bank (`python main.py bank-sim`): plays the city's bank for demos and tests, over HTTP."""

from banksim.app import create_banksim_app, serve_bank_sim
from banksim.config import BankSimConfig

__all__ = ["BankSimConfig", "create_banksim_app", "serve_bank_sim"]
