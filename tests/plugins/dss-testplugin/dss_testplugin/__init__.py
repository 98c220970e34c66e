"""A small sync the end-to-end tests install: a JSON export as the source, a JSON file as the destination."""
