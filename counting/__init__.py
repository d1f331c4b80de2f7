"""Pure counting core: bytes → events → counter deltas. No I/O imports here."""
