"""helper.conf: HCL1 / JSON / TOML decoding and validation with the Go helper's rules."""
