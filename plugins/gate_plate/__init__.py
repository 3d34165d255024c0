"""gate_plate: plate and container-code reading for gatecore cargo lanes."""
