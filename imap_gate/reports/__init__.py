"""Reports: views over one sorted findings list."""
