"""Actions: the contract (base), the registry of types (entry points), one module per built-in."""
