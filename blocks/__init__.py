"""Tandem blocks."""
from blocks.erp import ErpCredentials as ErpCredentials
