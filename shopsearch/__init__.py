"""shopsearch: semantic search, recommendations and review sentiment for a Django shop."""
