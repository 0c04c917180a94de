"""Pure functions that turn API results into ECS documents with deterministic ids."""
