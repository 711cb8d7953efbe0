"""The domain core of Sipingtai: models, persistence, the responsibility list and routing."""
