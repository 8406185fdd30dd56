"""rentree: the school-year rollover of a regional primary-school ENT."""
