"""sessionstack policy pack: rules (one module per area), the pack assembly and the offline runner."""
