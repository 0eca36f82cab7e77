"""pydantic models for every boundary: request bodies, query strings and responses."""
