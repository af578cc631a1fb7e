"""The two chain backends behind one AsyncWeb3: embedded (eth-tester + py-evm, in process) and JSON-RPC.

The embedded chain is not thread-safe and its calls block, so every request runs on one dedicated worker
thread: the event loop stays free and requests are serialised. Its genesis funds the same well-known dev
accounts as anvil (mnemonic "test ... junk"), so both backends use the same keys.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.providers.eth_tester.main import AsyncEthereumTesterProvider, _make_request
from web3.types import RPCEndpoint, RPCResponse

DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_HD_PATH = "m/44'/60'/0'/0"
# anvil's first dev accounts (derived from DEV_MNEMONIC); public test keys, never use them on a real chain
DEV_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
)


@dataclass(frozen=True)
class LedgerKeys:
    """Private keys (hex) of the three roles: admin deploys and grants, operator and oracle write."""

    admin: str
    operator: str
    oracle: str

    @classmethod
    def dev(cls) -> LedgerKeys:
        """anvil's dev accounts 0 (admin), 1 (operator) and 2 (oracle)."""
        return cls(DEV_KEYS[0], DEV_KEYS[1], DEV_KEYS[2])

    def address(self, role: str) -> str:
        addr: str = Account.from_key(getattr(self, role)).address
        return addr


class ThreadedEthereumTesterProvider(AsyncEthereumTesterProvider):
    """AsyncEthereumTesterProvider whose requests run on one worker thread (never on the event loop)."""

    def __init__(self, num_accounts: int = len(DEV_KEYS)) -> None:
        from eth_tester import EthereumTester, PyEVMBackend
        from web3.providers.eth_tester.defaults import API_ENDPOINTS

        super(AsyncEthereumTesterProvider, self).__init__()
        backend = PyEVMBackend.from_mnemonic(DEV_MNEMONIC, num_accounts=num_accounts, hd_path=DEV_HD_PATH)
        self.ethereum_tester = EthereumTester(backend=backend)
        self.api_endpoints = API_ENDPOINTS
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eth-tester")

    async def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        self._current_request_id += 1
        request_id = repr(self._current_request_id)
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, _make_request, method, params, self.api_endpoints, self.ethereum_tester, request_id)

    async def run(self, fn: Any, *args: Any) -> Any:
        """Run another call on the tester (e.g. time travel) on the same worker thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def disconnect(self) -> None:
        self._executor.shutdown(wait=True)


# every transaction is built, signed and given its gas here: web3's validation (an eth_chainId per
# request), gas estimation, gas price and ENS middleware would only add round trips
UNUSED_MIDDLEWARE = ("validation", "gas_estimate", "gas_price_strategy", "ens_name_to_address")


def _lean(w3: AsyncWeb3[Any]) -> AsyncWeb3[Any]:
    for name in UNUSED_MIDDLEWARE:
        if name in w3.middleware_onion:
            w3.middleware_onion.remove(name)
    return w3


def embedded_web3() -> AsyncWeb3[Any]:
    """A fresh in-process chain."""
    return _lean(AsyncWeb3(ThreadedEthereumTesterProvider()))


def rpc_web3(url: str) -> AsyncWeb3[Any]:
    """A JSON-RPC node (anvil)."""
    return _lean(AsyncWeb3(AsyncHTTPProvider(url, request_kwargs={"timeout": 30})))
