"""predict layer."""
