"""Tandem blocks: ``prefect block register -m blocks`` registers every one of them."""

from blocks.connection import ConnectionOptions as ConnectionOptions
from blocks.connection import SyncConnection as SyncConnection
from blocks.erp import ErpCredentials as ErpCredentials
from blocks.salesforce import SalesforceCredentials as SalesforceCredentials
from blocks.store import StateStore as StateStore
