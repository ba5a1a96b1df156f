"""kontent-bridge: verify Kontent.ai webhooks, route them with rules, deliver them reliably."""

__version__ = "0.1.0"
