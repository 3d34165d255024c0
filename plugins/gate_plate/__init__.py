"""gate_plate: Vietnamese and Chinese plates and ISO 6346 container codes for gatecore cargo lanes (the format
rules, the matching against lists and the fusion of reads; the hooks come next)."""
