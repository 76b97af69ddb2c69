"""The client for Procore's API and the storage POST, and the request budget they share."""
