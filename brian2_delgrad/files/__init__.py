"""Files as data: strict TOML, quantities, model and study files, the shipped files by name."""
