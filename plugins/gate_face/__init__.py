"""gate_face: face verification and watchlist search for gatecore lanes."""
