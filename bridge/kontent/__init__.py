"""Kontent.ai APIs the bridge reads: the Delivery API, for fresh content."""
